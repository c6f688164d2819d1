r"""Pre-training strategies: a registry, the :class:`Strategy` contract and attribute masking.

A strategy owns the modules pre-training adds around the encoder (prediction heads, a context
GNN) and computes one mini-batch's self-supervised loss from the encoder's node embeddings.

**Attribute masking** (Hu et al. 2020, §3.1.2): in every molecule of the batch a random
``mask_rate`` share of the atoms — :math:`\max(1, \mathrm{round}(r\,n_G))` of its
:math:`n_G` atoms — is masked: their atom type becomes the featurisation's mask token and
their other atom features (chirality) 0 (``mask_rule="official"``: :math:`\lfloor r\,n_G +
1\rfloor` atoms, as the official code). The encoder embeds the masked molecule,
:math:`H = f(\tilde X, A, E)` [N, d], and a linear head predicts the original type of each
masked atom: :math:`L = \frac1{|M|}\sum_{v\in M}\mathrm{CE}(W h_v, t_v)`. With
``mask_edges`` the bonds touching a masked atom are masked too (bond type → the mask token,
other bond features 0) and a second linear head predicts their type from
:math:`h_u + h_v`, added to the loss (the official code's option; off by default).
"""

from __future__ import annotations

from typing import Any, ClassVar

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from benchmark.errors import KdbenchError
from benchmark.models.backbones import Backbone
from benchmark.registry import Registry
from benchmark.train.feeders import Batch

STRATEGIES: Registry[type[Strategy]] = Registry(
    "pre-training strategy", hint="Pick one with `kdbench pretrain --strategy NAME`."
)


class Strategy(nn.Module):
    """Base of every pre-training strategy.

    Args:
        encoder: the GNN being pre-trained (its heads are unused).
        vocab: the featurisation's atom and bond vocabularies and mask tokens
            (``atom_vocab``, ``bond_vocab``, ``mask_atom``, ``mask_bond``).
        params: the strategy's hyper-parameters (``defaults`` filled in).
        arch: the encoder's architecture hyper-parameters (for sibling GNNs).
    """

    name: ClassVar[str] = ""
    #: hyper-parameters of the strategy, with the paper's defaults.
    defaults: ClassVar[dict[str, Any]] = {}

    def __init__(
        self, encoder: Backbone, vocab: dict[str, Any], params: dict[str, Any], arch: dict[str, Any]
    ) -> None:
        super().__init__()
        self.params = {**self.defaults, **{k: params[k] for k in self.defaults if k in params}}

    def loss(self, encoder: Backbone, batch: Batch, generator: torch.Generator) -> Tensor:
        """The self-supervised loss of one mini-batch (a 0-d device tensor). Random choices
        draw from ``generator`` (a generator on the batch's device)."""
        raise NotImplementedError


def embed(
    encoder: Backbone,
    x: Tensor,
    edge_index: Tensor,
    edge_attr: Tensor | None,
    batch: Tensor,
    num_graphs: int,
) -> Tensor:
    """The encoder's node embeddings [N, d] (its readout and head are not used)."""
    return encoder(x, edge_index, batch, num_graphs, edge_attr=edge_attr).h


def mask_counts(sizes: Tensor, rate: float, rule: str = "rounded") -> Tensor:
    """Atoms to mask per molecule, at most ``n``: ``rounded`` :math:`\\max(1,
    \\mathrm{round}(r\\,n))`; ``official`` :math:`\\lfloor r\\,n + 1\\rfloor` (the official
    code's ``int(num_atoms * mask_rate + 1)``, one more atom for most molecules).
    ``sizes`` [B] long → [B] long."""
    scaled = sizes.to(torch.float64) * rate
    if rule == "rounded":
        k = torch.round(scaled).long().clamp(min=1)
    elif rule == "official":
        k = torch.floor(scaled + 1).long()
    else:
        raise KdbenchError(f"mask_rule must be 'rounded' or 'official', not {rule!r}")
    return torch.minimum(k, sizes)


def sample_masked_atoms(
    batch: Tensor, num_graphs: int, rate: float, generator: torch.Generator, rule: str = "rounded"
) -> Tensor:
    """A uniformly random :func:`mask_counts` share of each molecule's atoms, drawn without
    replacement in one vectorised pass: every atom gets a random key, atoms are ranked by key
    within their molecule and the lowest ``k_G`` ranks are masked. ``batch`` [N] (sorted graph
    ids) → [N] bool."""
    n = batch.numel()
    sizes = torch.bincount(batch, minlength=num_graphs)
    keys = torch.rand(n, generator=generator, device=batch.device, dtype=torch.float64)
    order = torch.argsort(batch.to(torch.float64) * 2.0 + keys)  # graph first, then key
    start = torch.cumsum(sizes, 0) - sizes
    rank = torch.empty(n, dtype=torch.long, device=batch.device)
    rank[order] = torch.arange(n, device=batch.device) - start[batch[order]]
    return rank < mask_counts(sizes, rate, rule)[batch]


@STRATEGIES.register("attrmask")
class AttributeMasking(Strategy):
    """Attribute masking (module docstring)."""

    name = "attrmask"
    defaults: ClassVar[dict[str, Any]] = {
        "mask_rate": 0.15,
        "mask_rule": "rounded",
        "mask_edges": False,
    }

    def __init__(
        self, encoder: Backbone, vocab: dict[str, Any], params: dict[str, Any], arch: dict[str, Any]
    ) -> None:
        super().__init__(encoder, vocab, params, arch)
        if vocab.get("mask_atom") is None:
            raise KdbenchError(
                "attribute masking needs a featurisation with a mask token; use the `hu` "
                "featurisation (the corpus card's loader_args.featurizer)"
            )
        self.mask_atom = int(vocab["mask_atom"])
        self.mask_bond = vocab.get("mask_bond")
        d = encoder.embedding_dim
        self.atom_head = nn.Linear(d, self.mask_atom)  # classes: every real atom type
        self.bond_head: nn.Module | None = None
        if self.params["mask_edges"]:
            if self.mask_bond is None:
                raise KdbenchError("mask_edges needs a featurisation with a bond mask token")
            self.bond_head = nn.Linear(d, int(self.mask_bond))

    def loss(self, encoder: Backbone, batch: Batch, generator: torch.Generator) -> Tensor:
        masked = sample_masked_atoms(
            batch.batch,
            int(batch.num_graphs),
            float(self.params["mask_rate"]),
            generator,
            str(self.params["mask_rule"]),
        )
        target = batch.x[masked, 0]
        x = batch.x.clone()
        x[masked] = 0
        x[masked, 0] = self.mask_atom
        edge_attr = batch.edge_attr
        hit = None
        if self.bond_head is not None:
            src, dst = batch.edge_index
            hit = masked[src] | masked[dst]
            edge_attr = edge_attr.clone()
            edge_attr[hit] = 0
            edge_attr[hit, 0] = int(self.mask_bond)
        h = embed(encoder, x, batch.edge_index, edge_attr, batch.batch, int(batch.num_graphs))
        loss = F.cross_entropy(self.atom_head(h[masked]), target)
        if self.bond_head is not None and hit is not None:
            src, dst = batch.edge_index[:, hit]
            bond_target = batch.edge_attr[hit, 0]
            per = F.cross_entropy(self.bond_head(h[src] + h[dst]), bond_target, reduction="sum")
            loss = loss + per / hit.sum().clamp(min=1)  # no masked bond: adds 0, no host sync
        return loss
