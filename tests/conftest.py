"""Shared fixtures: tiny synthetic graphs (node and graph tasks), temporary run stores."""

from __future__ import annotations

import os
from types import SimpleNamespace

import pytest
import torch
from torch_geometric.data import Data

from benchmark.data.types import GraphData, Split

pytest_plugins = ["tests.conftest_data", "tests.conftest_pg"]

os.environ.setdefault("MLFLOW_SUPPRESS_PRINTING_URL_TO_STDOUT", "true")
os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
os.environ.setdefault("DO_NOT_TRACK", "1")


def toy_card(task: str, target: str = "multiclass", metric: str = "accuracy", name: str = "toy"):
    return SimpleNamespace(
        name=name,
        task=task,
        target=target,
        metric=metric,
        ogb_name=None,
        family=task,
        protocol="random",
        protocol_args={},
    )


def make_node_data(n: int = 60, classes: int = 3, feats: int = 8, seed: int = 0) -> GraphData:
    """A homophilous random graph: features and edges both carry the class."""
    g = torch.Generator().manual_seed(seed)
    y = torch.arange(n) % classes
    x = torch.randn(n, feats, generator=g) + torch.nn.functional.one_hot(y, feats).float() * 2
    src = torch.randint(0, n, (4 * n,), generator=g)
    dst = torch.randint(0, n, (4 * n,), generator=g)
    keep = y[src] == y[dst]
    ei = torch.stack([src[keep], dst[keep]])
    ei = torch.cat([ei, ei.flip(0)], 1)
    return GraphData(
        card=toy_card("node"),
        y=y,
        num_features=feats,
        num_outputs=classes,
        data=Data(x=x, edge_index=ei, y=y),
    )


def make_graph_data(
    n: int = 40, classes: int = 2, feats: int = 5, seed: int = 0, target: str = "multiclass"
) -> GraphData:
    """Small graphs whose class is visible in their node features."""
    g = torch.Generator().manual_seed(seed)
    graphs, ys = [], []
    for i in range(n):
        c = i % classes
        k = int(torch.randint(4, 9, (1,), generator=g))
        x = torch.randn(k, feats, generator=g) * 0.5
        x[:, c % feats] += 1.0
        ring = torch.arange(k)
        ei = torch.stack([ring, (ring + 1) % k])
        ei = torch.cat([ei, ei.flip(0)], 1)
        yv = torch.tensor([c]) if target == "multiclass" else torch.tensor([[float(c), 1.0 - c]])
        graphs.append(Data(x=x, edge_index=ei, y=yv))
        ys.append(yv)
    y = torch.cat(ys)
    metric = "accuracy" if target == "multiclass" else "rocauc"
    out = classes if target == "multiclass" else 2
    return GraphData(
        card=toy_card("graph", target, metric),
        y=y,
        num_features=feats,
        num_outputs=out,
        graphs=graphs,
    )


#: small real molecules (rings, chains, branches) for the molecular fixtures.
MOLECULES = [
    "CC(=O)Oc1ccccc1C(=O)O",
    "CN1C=NC2=C1C(=O)N(C(=O)N2C)C",
    "CC(C)Cc1ccc(cc1)C(C)C(=O)O",
    "CCCCCCCCCCO",
    "c1ccc2ccccc2c1",
    "O=C(O)c1ccccc1",
    "CCN(CC)CCOC(=O)c1ccc(N)cc1",
    "C[C@H](N)C(=O)O",
    "C/C=C/C(=O)OCC",
    "OC1CCCCC1",
    "Clc1ccc(Cl)cc1",
    "CC(C)(C)OC(=O)N",
    "c1ccncc1",
    "CCOCCOCCOCCO",
    "NC(=O)c1cccnc1",
    "CC1=CC(=O)C=CC1=O",
]


def make_molecule_data(n: int = 24, target: str = "multilabel") -> GraphData:
    """Real molecules (cycled to ``n``) with Hu et al.'s featurisation; two binary tasks,
    the second with missing labels (``target="none"``: an unlabelled corpus)."""
    from benchmark.data.molecules import FEATURIZATIONS, featurize_all

    smiles = [MOLECULES[i % len(MOLECULES)] for i in range(n)]
    graphs, skipped = featurize_all(smiles, "hu")
    assert not skipped
    f = FEATURIZATIONS.get("hu")
    if target == "none":
        y = torch.empty(n, 0)
    else:
        ring = torch.tensor([float("1" in s) for s in smiles])
        y = torch.stack([ring, torch.where(torch.arange(n) % 3 == 0, torch.nan, 1 - ring)], 1)
    for g, row in zip(graphs, y):
        g.y = row.view(1, -1)
    card = toy_card("graph", target, "rocauc" if target != "none" else "accuracy", "toy-mol")
    card.family = "molecular"
    return GraphData(
        card=card,
        y=y,
        num_features=2,
        num_outputs=y.shape[1],
        graphs=graphs,
        categorical=list(f.atom_vocab),
        edge_categorical=list(f.bond_vocab),
        featurization="hu",
        extra={"smiles": smiles},
    )


def simple_split(n: int) -> Split:
    """60/20/20; a third of train is also named ``meta`` (as the ``ltd`` protocol does)."""
    idx = torch.arange(n)
    return Split(
        idx[idx % 5 < 3],
        idx[idx % 5 == 3],
        idx[idx % 5 == 4],
        name="toy",
        parts={"meta": idx[idx % 5 == 2]},
    )


@pytest.fixture(autouse=True)
def _no_record(monkeypatch):
    """Tests see only the stores they make: the committed record (``docs/results/record``)
    joins the leaderboard only where a test asks for it (``KDBENCH_RECORD``)."""
    monkeypatch.setenv("KDBENCH_RECORD", "none")


@pytest.fixture
def node_data() -> GraphData:
    return make_node_data()


@pytest.fixture
def graph_data() -> GraphData:
    return make_graph_data()


@pytest.fixture
def runs(real_mirror, session_data_root, tmp_path, monkeypatch):
    """Real data from the mirror (processed once per session), a fresh runs folder (the
    embedded MLflow and Optuna stores) and no tracking server: returns the runs folder."""
    monkeypatch.setenv("KDBENCH_MIRROR", str(real_mirror))
    monkeypatch.setenv("KDBENCH_DATA", str(session_data_root))
    monkeypatch.setenv("KDBENCH_RUNS", str(tmp_path / "runs"))
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    return tmp_path / "runs"


@pytest.fixture(scope="session")
def smoke_runs(real_mirror, session_data_root, tmp_path_factory):
    """A runs folder holding the real smoke sweep (``sweeps/smoke.yaml``), run once per
    session and shared by the runner and leaderboard tests: returns the folder."""
    from pathlib import Path

    from benchmark.runner.launch import run_sweep

    runs = tmp_path_factory.mktemp("smoke") / "runs"
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("KDBENCH_MIRROR", str(real_mirror))
        mp.setenv("KDBENCH_DATA", str(session_data_root))
        mp.setenv("KDBENCH_RUNS", str(runs))
        mp.delenv("MLFLOW_TRACKING_URI", raising=False)
        run_sweep(str(Path(__file__).parents[1] / "sweeps" / "smoke.yaml"), device="cpu")
    return runs


@pytest.fixture
def tracking_uri(tmp_path, monkeypatch) -> str:
    uri = f"sqlite:///{tmp_path}/mlflow.db"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    return uri
