"""The two data structures every method sees: a loaded dataset and one split of it."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import torch
from torch import Tensor

if TYPE_CHECKING:
    from torch_geometric.data import Data

    from benchmark.data.card import DatasetCard


@dataclass(kw_only=True)
class Loaded:
    """What a dataset loader returns (:data:`benchmark.data.loader_registry.LOADERS`): one
    graph (node task) or a list (graph task), plus extras; the fields as in :class:`GraphData`,
    which adds the card and the targets."""

    data: Data | None = None
    graphs: list[Data] | None = None
    categorical: list[int] | None = None
    edge_categorical: list[int] | None = None
    featurization: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass(kw_only=True)
class GraphData(Loaded):
    """A loaded dataset, ready for training (keyword arguments only).

    Node tasks hold one graph in ``data`` (``x`` [N, F] float, ``edge_index`` [2, E]);
    graph tasks hold ``graphs``, a list of PyG ``Data`` (one per graph, transforms already
    applied). ``y`` gathers the targets of every node (node task) or graph (graph task):
    ``[n]`` long class ids for ``multiclass``; ``[n, T]`` float with NaN for a missing label
    for ``multilabel`` and ``regression``.

    ``categorical`` is ``None`` for dense float features, or the vocabulary size of each
    column when ``x`` holds integer categories (molecules: atom type, chirality, ...), which
    backbones then embed. ``edge_categorical`` is the same for the integer columns of each
    graph's ``edge_attr`` [E, K] (molecules' bond type, direction, ...), ``None`` when there
    are no categorical edge features. ``featurization`` names the molecule featurisation that
    made ``x`` and ``edge_attr`` (a key of :data:`benchmark.data.molecules.FEATURIZATIONS`:
    ``hu``, ``pyg``, ``ogb``), ``None`` for non-molecular data. ``extra`` carries what split
    protocols need and the card does not (official split indices, SMILES, ...).
    """

    card: DatasetCard
    y: Tensor
    num_features: int
    num_outputs: int

    @property
    def task(self) -> str:
        return self.card.task

    @property
    def name(self) -> str:
        return self.card.name

    @property
    def num_items(self) -> int:
        """Number of nodes (node task) or graphs (graph task) that splits index into."""
        return int(self.y.shape[0])


@dataclass
class Split:
    """Disjoint index sets into the nodes (node task) or graphs (graph task).

    ``train``/``val``/``test`` are 1-D long tensors. ``parts`` holds further named sets a
    protocol defines; each is either disjoint from the three or a subset of one of them:
    LTD's ``meta`` nodes ⊂ ``train`` (every method trains on them, LTD alone holds them out
    of its cross-entropy for its meta loss); the inductive protocol's ``hidden`` nodes =
    ``test`` (their edges are dropped from the graph the model trains on).
    ``name`` identifies the split for caching (protocol, its arguments and the seed/fold).
    ``selection`` is how the shared loop picks the epoch: ``val`` (the best validation score)
    or ``last`` (the last epoch, a paper protocol's reporting rule; validation is still
    scored for the curves, test never chooses).
    """

    train: Tensor
    val: Tensor
    test: Tensor
    name: str = ""
    parts: dict[str, Tensor] = field(default_factory=dict)
    selection: str = "val"

    def part(self, name: str) -> Tensor:
        """The index set ``name``: ``train``, ``val``, ``test`` or one of ``parts``."""
        return getattr(self, name) if name in ("train", "val", "test") else self.parts[name]

    def to(self, device: torch.device | str) -> Split:
        return Split(
            self.train.to(device),
            self.val.to(device),
            self.test.to(device),
            self.name,
            {k: v.to(device) for k, v in self.parts.items()},
            self.selection,
        )
