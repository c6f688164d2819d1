"""LAD-GNN runs unchanged on any TU set with a card and files: here a written 6-class set with
continuous node attributes (ENZYMES-like), read by the real TU loader with ``use_node_attr``,
under both protocols."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from benchmark.data.loaders import load_dataset
from benchmark.fitting import fit_seeds
from tests.conftest_data import toy_card_fields

pytest_plugins = ["tests.conftest_data"]

CLASSES, ATTRS, NODE_LABELS, PER_CLASS = 6, 4, 3, 10


def write_tu(folder: Path, name: str, seed: int = 0) -> list[str]:
    """TU raw files (1-based ids, as the official zips) of ``PER_CLASS`` rings per class whose
    class shifts one continuous attribute; returns the file names."""
    g = torch.Generator().manual_seed(seed)
    edges, indicator, graph_labels, node_labels, attrs = [], [], [], [], []
    first = 1
    for i in range(CLASSES * PER_CLASS):
        c, n = i % CLASSES, int(torch.randint(4, 9, (1,), generator=g))
        for v in range(n):
            w = (v + 1) % n
            edges += [(first + v, first + w), (first + w, first + v)]
            node_labels.append(int(torch.randint(0, NODE_LABELS, (1,), generator=g)))
            a = torch.randn(ATTRS, generator=g)
            a[0] += c
            attrs.append(", ".join(f"{x:.6f}" for x in a.tolist()))
        indicator += [i + 1] * n
        graph_labels.append(c + 1)
        first += n
    files = {
        "A": [f"{a}, {b}" for a, b in edges],
        "graph_indicator": indicator,
        "graph_labels": graph_labels,
        "node_labels": node_labels,
        "node_attributes": attrs,
    }
    raw = folder / name / "raw"
    raw.mkdir(parents=True)
    for kind, lines in files.items():
        (raw / f"{name}_{kind}.txt").write_text("".join(f"{x}\n" for x in lines))
    return [f"{name}_{kind}.txt" for kind in files]


@pytest.fixture
def six_class(tmp_path: Path, card_dir, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("KDBENCH_RUNS", str(tmp_path / "runs"))
    files = write_tu(tmp_path / "mirror", "SIXCLASS")
    card_dir(
        **toy_card_fields(
            name="SIXCLASS",
            path="SIXCLASS",
            loader_args={"use_node_attr": True},
            files=[{"path": f"raw/{f}", "sha256": None} for f in files],
            stats={
                "num_graphs": CLASSES * PER_CLASS,
                "num_classes": CLASSES,
                "num_features": ATTRS + NODE_LABELS,
            },
        )
    )
    return load_dataset("SIXCLASS", data_root=tmp_path / "data", mirror=str(tmp_path / "mirror"))


def test_the_tu_loader_keeps_six_classes_and_the_continuous_attributes(six_class) -> None:
    assert six_class.num_outputs == CLASSES and six_class.num_features == ATTRS + NODE_LABELS
    x = torch.cat([gr.x for gr in six_class.graphs])
    assert not torch.equal(x[:, :ATTRS], x[:, :ATTRS].round())  # continuous, not one-hot
    assert torch.equal(x[:, ATTRS:].sum(1), torch.ones(len(x)))  # node labels one-hot


@pytest.mark.parametrize("protocol", [None, "paper"])
def test_lad_gnn_runs_unchanged_on_a_six_class_set(six_class, protocol) -> None:
    summary = fit_seeds(
        "lad_gnn", six_class, "GIN", [0, 1], torch.device("cpu"), {"epochs": 2}, protocol=protocol
    )
    assert len(summary.tests) == 2 and all(0.0 <= t <= 1.0 for t in summary.tests)
