r"""Context prediction (Hu et al. 2020, §3.1.1), vectorised over a mini-batch of molecules.

For every molecule a centre atom :math:`v` is drawn uniformly. Hop distances :math:`d(v, u)`
come from a breadth-first search run on the whole batch at once (:func:`hop_distances`).

* **Neighbourhood**: the atoms with :math:`d \le K` (``K`` = the encoder's layers) and the
  bonds between them; the encoder embeds this subgraph and :math:`h_v` is the centre's
  embedding.
* **Context**: the atoms with :math:`r_1 < d \le r_2` (``r1`` = 4, ``r2`` = 7; the official
  code takes the set difference of the :math:`r_2`- and :math:`r_1`-hop neighbourhoods, so the
  inner radius is excluded) and the bonds between them, embedded by a separate
  ``context_layers``-layer GNN of the same width.
* **Anchors**: the context atoms that are also in the neighbourhood (:math:`r_1 < d \le K`);
  the context vector :math:`c_v` is the mean of their context embeddings (``cbow``).
  Molecules without anchor atoms (too small) are left out of the loss.

With :math:`c'` the context of another molecule of the batch (the batch's contexts shifted by
``k = 1 .. n`` places, ``n`` = ``neg_samples``), :math:`L = \overline{\mathrm{BCE}}(\langle
h_v, c_v\rangle, 1) + n\,\overline{\mathrm{BCE}}(\langle h_v, c'_v\rangle, 0)`, the bars
averaging over the molecules that have a context (and, for negatives, over every shift) — the
official code's weighting.
"""

from __future__ import annotations

from typing import Any, ClassVar

import torch
import torch.nn.functional as F
from torch import Tensor
from torch_geometric.nn import global_mean_pool
from torch_geometric.utils import subgraph

from benchmark.errors import KdbenchError
from benchmark.models.backbones import Backbone, build_backbone
from benchmark.pretrain.strategies import STRATEGIES, Strategy, embed
from benchmark.train.feeders import Batch

UNREACHED = torch.iinfo(torch.long).max


def hop_distances(edge_index: Tensor, num_nodes: int, sources: Tensor, max_hops: int) -> Tensor:
    """Shortest-path hop count from the nearest of ``sources`` [S] (node ids) to every node,
    up to ``max_hops``; farther or unreachable nodes get ``UNREACHED``. ``edge_index`` [2, E]
    holds both directions of every bond. One scatter per hop, no host sync. → [N] long."""
    dist = torch.full((num_nodes,), UNREACHED, dtype=torch.long, device=edge_index.device)
    dist[sources] = 0
    frontier = torch.zeros(num_nodes, dtype=torch.bool, device=edge_index.device)
    frontier[sources] = True
    src, dst = edge_index
    for hop in range(1, max_hops + 1):
        reached = torch.zeros_like(frontier).index_fill_(0, dst[frontier[src]], True)
        new = reached & (dist == UNREACHED)
        dist = torch.where(new, hop, dist)
        frontier = new
    return dist


def sample_centres(batch: Tensor, num_graphs: int, generator: torch.Generator) -> Tensor:
    """One uniformly drawn atom per molecule: [B] node ids (``batch`` [N], sorted)."""
    sizes = torch.bincount(batch, minlength=num_graphs)
    start = torch.cumsum(sizes, 0) - sizes
    u = torch.rand(num_graphs, generator=generator, device=batch.device, dtype=torch.float64)
    return start + torch.minimum((u * sizes).long(), sizes - 1)


def ring_masks(dist: Tensor, k: int, r1: int, r2: int) -> tuple[Tensor, Tensor, Tensor]:
    """(neighbourhood, context, anchors) node masks [N] from hop distances (module docstring):
    ``d <= k``, ``r1 < d <= r2``, ``r1 < d <= k``."""
    neighbourhood = dist <= k
    context = (dist > r1) & (dist <= r2)
    return neighbourhood, context, context & neighbourhood


@STRATEGIES.register("contextpred")
class ContextPrediction(Strategy):
    """Context prediction (module docstring). Holds the context GNN: the encoder's backbone
    with ``context_layers`` layers, its own atom and bond embeddings."""

    name = "contextpred"
    defaults: ClassVar[dict[str, Any]] = {"r1": 4, "r2": 7, "context_layers": 3, "neg_samples": 1}

    def __init__(
        self, encoder: Backbone, vocab: dict[str, Any], params: dict[str, Any], arch: dict[str, Any]
    ) -> None:
        super().__init__(encoder, vocab, params, arch)
        p = self.params
        self.k = encoder.num_layers
        if not 0 <= int(p["r1"]) < self.k <= int(p["r2"]):
            raise KdbenchError(
                f"context prediction needs r1 < layers <= r2 (anchors shared by "
                f"neighbourhood and context); got r1={p['r1']}, layers={self.k}, "
                f"r2={p['r2']}"
            )
        arch = dict(arch, layers=int(p["context_layers"]), dropout=0.0)  # as the encoder's
        self.context_gnn = build_backbone(
            "GIN",
            0,
            1,
            "graph",
            arch,
            categorical=vocab["atom_vocab"],
            edge_categorical=vocab.get("bond_vocab") if arch.get("edge_features") else None,
        )

    def loss(self, encoder: Backbone, batch: Batch, generator: torch.Generator) -> Tensor:
        p, b, n = self.params, batch.batch, batch.x.shape[0]
        num_graphs = int(batch.num_graphs)
        centres = sample_centres(b, num_graphs, generator)
        dist = hop_distances(batch.edge_index, n, centres, int(p["r2"]))
        inner, ring, anchors = ring_masks(dist, self.k, int(p["r1"]), int(p["r2"]))

        ei, ea = subgraph(inner, batch.edge_index, batch.edge_attr, relabel_nodes=True, num_nodes=n)
        h = embed(encoder, batch.x[inner], ei, ea, b[inner], num_graphs)
        position = torch.cumsum(inner.long(), 0) - 1  # node id → row of h
        centre_rep = h[position[centres]]  # [B, d]

        ei, ea = subgraph(ring, batch.edge_index, batch.edge_attr, relabel_nodes=True, num_nodes=n)
        hc = embed(self.context_gnn, batch.x[ring], ei, ea, b[ring], num_graphs)
        on_anchor = anchors[ring]
        context_rep = global_mean_pool(hc[on_anchor], b[ring][on_anchor], num_graphs)  # [B, d]
        has = torch.bincount(b[anchors], minlength=num_graphs) > 0
        w = has.to(h.dtype)
        count = w.sum().clamp(min=1)

        def bce(logits: Tensor, target: float) -> Tensor:
            per = F.binary_cross_entropy_with_logits(
                logits, torch.full_like(logits, target), reduction="none"
            )
            return (per * w).sum() / count

        loss = bce((centre_rep * context_rep).sum(-1), 1.0)
        neg = int(p["neg_samples"])
        total, pairs = loss.new_zeros(()), loss.new_zeros(())
        for shift in range(1, neg + 1):
            # another molecule's context; a shift onto a molecule without one is not a pair
            other = torch.roll(context_rep, shifts=shift, dims=0)
            w_neg = w * torch.roll(w, shifts=shift, dims=0)
            per = F.binary_cross_entropy_with_logits(
                (centre_rep * other).sum(-1), torch.zeros_like(w), reduction="none"
            )
            total, pairs = total + (per * w_neg).sum(), pairs + w_neg.sum()
        return loss + neg * total / pairs.clamp(min=1)  # the official weighting
