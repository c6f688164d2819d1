"""Load a dataset by card name into a :class:`~benchmark.data.types.GraphData`.

Each loader kind (the card's ``loader``) is one function registered in :data:`LOADERS`; it
points PyG's or OGB's own dataset class at the dataset folder (the files are already there, so
nothing downloads) and returns the raw items plus what split protocols need. PyG/OGB cache
their processed form under ``<folder>/processed``. Molecules are featurised by a named
featurisation (:data:`benchmark.data.molecules.FEATURIZATIONS`: ``pyg``, ``hu``, ``ogb``; a
card's ``loader_args.featurizer``; their loaders are in :mod:`benchmark.data.molecule_loaders`).
:func:`load_dataset` then applies the card's transforms once, gathers the targets and checks
the result against the card's ``stats``.
"""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
import torch_geometric.transforms as T
from torch import Tensor
from torch_geometric.data import Data
from torch_geometric.data.data import DataEdgeAttr, DataTensorAttr
from torch_geometric.data.storage import GlobalStorage
from torch_geometric.utils import degree

from benchmark.data.card import DatasetCard, get_card
from benchmark.data.fetch import default_data_root, ensure_files
from benchmark.data.loader_registry import LOADERS, Loaded, loader_arg
from benchmark.data.types import GraphData
from benchmark.errors import DataError, KdbenchError
from benchmark.registry import Registry

# ogb 1.3.6 calls torch.load without weights_only=False (torch >= 2.6 refuses its pickles).
torch.serialization.add_safe_globals([DataEdgeAttr, DataTensorAttr, GlobalStorage])


TransformFactory = Callable[[list[Data], dict[str, Any]], Callable[[Data], Data]]

TRANSFORMS: Registry[TransformFactory] = Registry(
    "transform", hint="Use one of these in a card's `transforms:`."
)


def _split_off_masks(data: Data) -> dict[str, Tensor]:
    return {k: data[f"{k}_mask"] for k in ("train", "val", "test")}


# --- loaders -----------------------------------------------------------------------------


@LOADERS.register("tudataset")
def load_tudataset(card: DatasetCard, folder: Path) -> Loaded:
    """TU graph classification: ``TUDataset(root=<folder parent>, name=<folder name>)``."""
    from torch_geometric.datasets import TUDataset

    ds = TUDataset(
        str(folder.parent),
        name=card.loader_args.get("name", folder.name),
        use_node_attr=bool(card.loader_args.get("use_node_attr", False)),
    )
    return Loaded(graphs=[ds[i] for i in range(len(ds))])


@LOADERS.register("planetoid")
def load_planetoid(card: DatasetCard, folder: Path) -> Loaded:
    """Planetoid citation graphs with the public split (masks [N])."""
    from torch_geometric.datasets import Planetoid

    data = Planetoid(str(folder.parent), name=loader_arg(card, "name"))[0]
    return Loaded(data=data)


@LOADERS.register("webkb")
def load_webkb(card: DatasetCard, folder: Path) -> Loaded:
    """WebKB (Cornell/Texas/Wisconsin) with Geom-GCN's 10 splits (masks [N, 10])."""
    from torch_geometric.datasets import WebKB

    return Loaded(data=WebKB(str(folder.parent), name=loader_arg(card, "name"))[0])


@LOADERS.register("actor")
def load_actor(card: DatasetCard, folder: Path) -> Loaded:
    """Actor (Geom-GCN 'film') with its 10 splits (masks [N, 10])."""
    from torch_geometric.datasets import Actor

    return Loaded(data=Actor(str(folder))[0])


@LOADERS.register("amazon")
def load_amazon(card: DatasetCard, folder: Path) -> Loaded:
    """Amazon Computers/Photo co-purchase graphs (no fixed split)."""
    from torch_geometric.datasets import Amazon

    return Loaded(data=Amazon(str(folder.parent), name=loader_arg(card, "name"))[0])


@LOADERS.register("coauthor")
def load_coauthor(card: DatasetCard, folder: Path) -> Loaded:
    """Coauthor CS/Physics graphs (no fixed split)."""
    from torch_geometric.datasets import Coauthor

    return Loaded(data=Coauthor(str(folder.parent), name=loader_arg(card, "name"))[0])


@LOADERS.register("cpf_npz")
def load_cpf_npz(card: DatasetCard, folder: Path) -> Loaded:
    """The ``.npz`` graphs CPF/GLNN use (``raw/<name>.npz``, made undirected, binary x)."""
    from torch_geometric.io import read_npz

    return Loaded(data=read_npz(str(folder / "raw" / f"{loader_arg(card, 'name')}.npz")))


def _ogb_root(card: DatasetCard, folder: Path) -> tuple[str, str]:
    name = card.ogb_name
    if name is None or folder.name != name.replace("-", "_"):
        raise KdbenchError(
            f"dataset card '{card.name}': an OGB card needs ogb_name and a path ending in "
            f"the OGB folder name (e.g. ogb_name: ogbg-molhiv, path: OGB/ogbg_molhiv)"
        )
    return name, str(folder.parent)


def _ogb_split(split: dict[str, Tensor]) -> dict[str, Tensor]:
    return {k: torch.as_tensor(split[k], dtype=torch.long) for k in ("train", "valid", "test")}


@LOADERS.register("ogbg")
def load_ogbg(card: DatasetCard, folder: Path) -> Loaded:
    """OGB graph property prediction: official split, SMILES from ``mapping/mol.csv.gz``;
    the graphs are OGB's ``smiles2graph`` featurisation (``ogb``)."""
    import pandas as pd
    from ogb.graphproppred import PygGraphPropPredDataset

    from benchmark.data.molecule_loaders import vocabularies
    from benchmark.data.molecules import FEATURIZATIONS

    name, root = _ogb_root(card, folder)
    with contextlib.redirect_stdout(sys.stderr):  # ogb prints progress; keep stdout for results
        ds = PygGraphPropPredDataset(name=name, root=root)
    extra: dict[str, Any] = {"ogb_split": _ogb_split(ds.get_idx_split())}
    mol = folder / "mapping" / "mol.csv.gz"
    if mol.is_file():
        extra["smiles"] = pd.read_csv(mol)["smiles"].astype(str).tolist()
    graphs = [ds[i] for i in range(len(ds))]
    return Loaded(graphs=graphs, extra=extra, **vocabularies(FEATURIZATIONS.get("ogb")))


@LOADERS.register("ogbn")
def load_ogbn(card: DatasetCard, folder: Path) -> Loaded:
    """OGB node property prediction (one graph) with the official split."""
    from ogb.nodeproppred import PygNodePropPredDataset

    name, root = _ogb_root(card, folder)
    with contextlib.redirect_stdout(sys.stderr):
        ds = PygNodePropPredDataset(name=name, root=root)
    return Loaded(data=ds[0], extra={"ogb_split": _ogb_split(ds.get_idx_split())})


# --- transforms --------------------------------------------------------------------------


@TRANSFORMS.register("largest_connected_component")
def _lcc(items: list[Data], args: dict[str, Any]) -> Callable[[Data], Data]:
    return T.LargestConnectedComponents(**args)


@TRANSFORMS.register("one_hot_degree")
def _one_hot_degree(items: list[Data], args: dict[str, Any]) -> Callable[[Data], Data]:
    """``max_degree`` omitted or null: the largest in-degree over all items."""
    args = dict(args)
    if args.get("max_degree") is None:
        args["max_degree"] = max(
            int(degree(g.edge_index[1], g.num_nodes).max()) if g.num_edges else 0 for g in items
        )
    return T.OneHotDegree(**args)


@TRANSFORMS.register("minmax_degree")
def _minmax_degree(items: list[Data], args: dict[str, Any]) -> Callable[[Data], Data]:
    """One feature per node, its degree min-max normalised within its own graph:
    x_v = (d_v − min_u d_u) / (max_u d_u − min_u d_u + 1e-8), d = out-degree from
    ``edge_index[0]``, shape [n, 1] — the LAD-GNN official code's features for graphs without
    any (absolute size and degree are lost; isolated nodes count degree 0 here)."""

    def transform(g: Data) -> Data:
        d = degree(g.edge_index[0], g.num_nodes)
        g.x = ((d - d.min()) / (d.max() - d.min() + 1e-8)).view(-1, 1)
        return g

    return transform


@TRANSFORMS.register("constant")
def _constant(items: list[Data], args: dict[str, Any]) -> Callable[[Data], Data]:
    return T.Constant(**args)


@TRANSFORMS.register("to_undirected")
def _to_undirected(items: list[Data], args: dict[str, Any]) -> Callable[[Data], Data]:
    return T.ToUndirected(**args)


@TRANSFORMS.register("normalize_features")
def _normalize_features(items: list[Data], args: dict[str, Any]) -> Callable[[Data], Data]:
    return T.NormalizeFeatures(**args)


# --- the entry point ---------------------------------------------------------------------


def _targets(card: DatasetCard, ys: list[Tensor], n: int) -> Tensor:
    """Gather targets: [n] long (multiclass), [n, T] float with NaN (multilabel/regression)."""
    if card.target == "none":
        return torch.empty(n, 0)
    y = torch.cat([t.reshape(t.shape[0] if t.dim() else 1, -1) for t in ys])
    if card.target == "multiclass":
        return y.reshape(-1).long()
    return y.float().reshape(n, -1)


def _stats(card: DatasetCard, items: list[Data], y: Tensor, num_features: int) -> dict[str, int]:
    got = {
        "num_nodes": sum(int(g.num_nodes) for g in items),
        "num_edges": sum(int(g.num_edges) for g in items),
        "num_features": num_features,
    }
    if card.task == "graph":
        got["num_graphs"] = len(items)
    if card.target == "multiclass":
        got["num_classes"] = int(y.max()) + 1 if y.numel() else 0
    elif card.target != "none":
        got["num_tasks"] = int(y.shape[1])
    return got


def _check_vocab(card: DatasetCard, what: str, rows: list[Tensor], sizes: list[int]) -> None:
    """Integer feature rows (each [n, K]) must have K = len(sizes) columns and values in
    ``0..sizes[k]-1``; else a one-line :class:`DataError`."""
    cat = torch.cat(rows) if rows else torch.empty(0, len(sizes), dtype=torch.long)
    if cat.is_floating_point() or cat.dim() != 2 or cat.shape[1] != len(sizes):
        raise DataError(
            f"{card.name}: {what} are {cat.dtype} of shape {list(cat.shape)}; expected integer "
            f"categories in {len(sizes)} columns (vocabulary sizes {sizes})"
        )
    if cat.shape[0] == 0:
        return
    top = cat.amax(dim=0)
    if bool((cat.amin(dim=0) < 0).any()) or bool((top >= torch.tensor(sizes)).any()):
        raise DataError(
            f"{card.name}: integer {what} {top.tolist()} (max per column) do not fit the "
            f"vocabulary sizes {sizes}"
        )


def _check_features(
    card: DatasetCard,
    items: list[Data],
    categorical: list[int] | None,
    edge_categorical: list[int] | None = None,
) -> None:
    """Dense features become float; integer categories (of ``x`` and, when
    ``edge_categorical`` is set, of ``edge_attr``) must fit their vocabularies."""
    for g in items:
        if g.x is None:
            raise DataError(
                f"{card.name}: the graphs have no node features; add a one_hot_degree or "
                "constant transform to the card"
            )
        if categorical is None:
            g.x = g.x.float()
    if categorical is not None:
        _check_vocab(card, "features", [g.x for g in items], categorical)
    if edge_categorical is not None:
        if any(g.edge_attr is None for g in items):
            raise DataError(
                f"{card.name}: the loader gives edge vocabulary sizes {edge_categorical} but "
                "some graphs have no edge_attr"
            )
        _check_vocab(card, "edge features", [g.edge_attr for g in items], edge_categorical)


def check_stats(card: DatasetCard, got: dict[str, int], folder: Path) -> None:
    """Raise a one-line :class:`DataError` when the loaded data differ from ``card.stats``."""
    want = card.stats.model_dump(exclude_none=True)
    bad = [f"{k} {got[k]} (card: {v})" for k, v in want.items() if k in got and got[k] != v]
    if bad:
        raise DataError(
            f"{card.name}: the loaded data do not match the card: {', '.join(bad)}. The files "
            f"under {folder} are partial or another version: delete {folder} and load again "
            "(or fix the card's stats if the data are right)."
        )


def dataset_lock(root: Path, path: str) -> Any:
    """An inter-process lock on one dataset folder (``<root>/<path>.lock``): only one process
    at a time fetches and processes it (PyG writes ``processed/`` non-atomically, and a
    second process reading it half-written fails), e.g. parallel workers on a cold cache."""
    from filelock import FileLock

    lock = root / f"{path}.lock"
    lock.parent.mkdir(parents=True, exist_ok=True)
    return FileLock(str(lock))


def load_dataset(name: str, data_root: Path | None = None, mirror: str | None = None) -> GraphData:
    """Load the dataset ``name`` (a card name) ready for training.

    Fetches and verifies its files (:func:`~benchmark.data.fetch.ensure_files`: data root,
    then ``mirror`` (default ``$KDBENCH_MIRROR``; ``""`` = none), then official sources),
    runs the card's loader, applies its transforms once and checks the statistics.
    ``extra`` holds ``masks`` (Planetoid [N]; Geom-GCN [N, 10]), ``ogb_split``
    (train/valid/test indices), ``smiles`` and ``skipped_smiles`` (how many rows of a SMILES
    file RDKit could not parse) where they apply.
    """
    card = get_card(name)
    root = Path(data_root) if data_root is not None else default_data_root()
    with dataset_lock(root, card.path):
        folder = ensure_files(card, root, mirror)
        loaded = LOADERS.get(card.loader)(card, folder)
    items = [loaded.data] if card.task == "node" else loaded.graphs
    if items is None or (card.task == "node" and loaded.data is None):
        raise KdbenchError(f"loader '{card.loader}' gives no {card.task}-task data")
    sizes = [g.num_nodes for g in items]
    for tname, targs in card.transform_specs:
        transform = TRANSFORMS.get(tname)(items, targs)
        items = [transform(g) for g in items]
    if "ogb_split" in loaded.extra and [g.num_nodes for g in items] != sizes:
        raise KdbenchError(
            f"dataset card '{card.name}': a transform drops nodes, so the "
            "official OGB split no longer matches; remove that transform"
        )

    extra = dict(loaded.extra)
    if card.task == "node":
        data = items[0]
        if "train_mask" in data:
            extra["masks"] = _split_off_masks(data)
            for k in ("train_mask", "val_mask", "test_mask"):
                del data[k]
    if "smiles" in extra and len(extra["smiles"]) != len(items) and card.task == "graph":
        raise DataError(f"{card.name}: {len(extra['smiles'])} SMILES for {len(items)} graphs")

    if card.task == "node":
        y = _targets(card, [items[0].y], items[0].num_nodes)
        items[0].y = y
    else:
        y = _targets(card, [g.y for g in items] if card.target != "none" else [], len(items))
        if card.target in ("multilabel", "regression"):
            for g, row in zip(items, y):
                g.y = row.view(1, -1)
    _check_features(card, items, loaded.categorical, loaded.edge_categorical)
    num_features = int(items[0].x.shape[1])
    got = _stats(card, items, y, num_features)
    check_stats(card, got, folder)
    num_outputs = got.get("num_classes" if card.target == "multiclass" else "num_tasks", 0)
    return GraphData(
        card=card,
        y=y,
        num_features=num_features,
        num_outputs=int(num_outputs),
        data=items[0] if card.task == "node" else None,
        graphs=items if card.task == "graph" else None,
        categorical=loaded.categorical,
        edge_categorical=loaded.edge_categorical,
        featurization=loaded.featurization,
        extra=extra,
    )


from benchmark.data import molecule_loaders  # noqa: E402, F401  (registers the SMILES loaders)
