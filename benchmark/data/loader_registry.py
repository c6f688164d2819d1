"""The dataset-loader registry: :data:`LOADERS`, one function per card ``loader`` kind, each
returning a :class:`~benchmark.data.types.Loaded`. Loaders live in
:mod:`benchmark.data.loaders` (files PyG and OGB read) and
:mod:`benchmark.data.molecule_loaders` (SMILES), which both register here."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from benchmark.data.card import DatasetCard
from benchmark.data.types import Loaded
from benchmark.errors import KdbenchError
from benchmark.registry import Registry

Loader = Callable[[DatasetCard, Path], Loaded]

LOADERS: Registry[Loader] = Registry(
    "dataset loader", hint="Set a card's `loader:` to one of these, or register a new one."
)


def loader_arg(card: DatasetCard, key: str, default: Any = None) -> Any:
    """``card.loader_args[key]``; a missing key without a default is a one-line error."""
    if key not in card.loader_args and default is None:
        raise KdbenchError(f"dataset card '{card.name}': loader_args needs '{key}'")
    return card.loader_args.get(key, default)
