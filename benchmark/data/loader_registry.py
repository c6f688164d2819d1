"""The dataset-loader registry: what a loader returns (:class:`Loaded`) and :data:`LOADERS`,
one function per card ``loader`` kind. Loaders live in :mod:`benchmark.data.loaders` (files
PyG and OGB read) and :mod:`benchmark.data.molecule_loaders` (SMILES), which both register
here."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from torch_geometric.data import Data

from benchmark.data.card import DatasetCard
from benchmark.errors import KdbenchError
from benchmark.registry import Registry


@dataclass
class Loaded:
    """What a loader returns: one graph (node task) or a list (graph task), plus extras;
    ``categorical``, ``edge_categorical`` and ``featurization`` as in :class:`GraphData`."""

    data: Data | None = None
    graphs: list[Data] | None = None
    categorical: list[int] | None = None
    edge_categorical: list[int] | None = None
    featurization: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)


Loader = Callable[[DatasetCard, Path], Loaded]

LOADERS: Registry[Loader] = Registry(
    "dataset loader", hint="Set a card's `loader:` to one of these, or register a new one."
)


def loader_arg(card: DatasetCard, key: str, default: Any = None) -> Any:
    """``card.loader_args[key]``; a missing key without a default is a one-line error."""
    if key not in card.loader_args and default is None:
        raise KdbenchError(f"dataset card '{card.name}': loader_args needs '{key}'")
    return card.loader_args.get(key, default)
