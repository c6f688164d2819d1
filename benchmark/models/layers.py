"""Small building blocks shared by the backbones."""

from __future__ import annotations

import torch
from torch import Tensor, nn


class CategoricalEncoder(nn.Module):
    r"""Sums one embedding per categorical column (OGB's ``AtomEncoder`` for any vocabulary):
    :math:`h_v = \sum_j E_j[x_{vj}]`. Shapes: ``x`` [N, J] long → [N, dim]."""

    def __init__(self, vocab_sizes: list[int], dim: int) -> None:
        super().__init__()
        self.embeddings = nn.ModuleList(nn.Embedding(v, dim) for v in vocab_sizes)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        for emb in self.embeddings:
            nn.init.xavier_uniform_(emb.weight)

    def forward(self, x: Tensor) -> Tensor:
        out = self.embeddings[0](x[:, 0])
        for j in range(1, len(self.embeddings)):
            out = out + self.embeddings[j](x[:, j])
        return out


def make_norm(kind: str, dim: int) -> nn.Module:
    """``batch`` | ``layer`` | ``none`` normalisation over the feature dimension."""
    if kind == "batch":
        return nn.BatchNorm1d(dim)
    if kind == "layer":
        return nn.LayerNorm(dim)
    if kind == "none":
        return nn.Identity()
    raise ValueError(f"unknown norm '{kind}' (expected batch, layer or none)")


#: dropout draws 15-bit uniform integers: ``p`` is rounded to a multiple of 2^-15
_DROP_LEVELS = 1 << 15


def keep_mask(like: Tensor, p: float) -> tuple[Tensor, float]:
    r"""A bool mask shaped as ``like``, each entry True (kept) with probability
    :math:`1 - p'`, and the inverted-dropout scale :math:`1/(1 - p')`, where
    :math:`p' = \mathrm{round}(p\cdot 2^{15})/2^{15}` (within 1.6e-5 of ``p``; exact for
    0.5, 0.25, ...). One 32-bit draw of the generator gives two entries' 15-bit integers,
    so a mask costs half the draws of ``rand_like`` and no float conversion (~3× faster on
    CPU, where PyTorch's Mersenne twister dominates small dropout steps)."""
    n = like.numel()
    bits = torch.empty((n + 1) // 2, dtype=torch.int32, device=like.device).random_()
    levels = bits.view(torch.int16)[:n].view(like.shape) & (_DROP_LEVELS - 1)
    threshold = round(p * _DROP_LEVELS)
    return levels >= threshold, _DROP_LEVELS / (_DROP_LEVELS - threshold)


def dropout(x: Tensor, p: float, training: bool) -> Tensor:
    """Inverted dropout. On CPU the mask comes from :func:`keep_mask` (``F.dropout``'s
    ``aten::bernoulli_`` is ~4× slower there, ``rand_like`` ~3×); on other devices the fused
    kernel is used."""
    if not training or p == 0.0:
        return x
    if x.device.type != "cpu":
        return nn.functional.dropout(x, p, True)
    keep, scale = keep_mask(x, p)
    return x * (keep * scale)


class Dropout(nn.Module):
    """:func:`dropout` as a module (``nn.Dropout``'s place in a ``Sequential``)."""

    def __init__(self, p: float) -> None:
        super().__init__()
        self.p = p

    def forward(self, x: Tensor) -> Tensor:
        return dropout(x, self.p, self.training)

    def extra_repr(self) -> str:
        return f"p={self.p}"


class GCNMeanConv(nn.Module):
    r"""GraphSAGE's ``gcn`` aggregator (DGL's ``SAGEConv(..., "gcn")``, used by the official
    CPF, GLNN and LTD code): :math:`h'_v = W\,\frac{h_v + \sum_{u\in N(v)} h_u}{\deg(v) + 1}
    + b`, one weight, no separate root term. Shapes: ``x`` [N, in] → [N, out]; the linear map
    is applied first when it narrows the features (the mean commutes with it)."""

    def __init__(self, in_dim: int, out_dim: int) -> None:
        super().__init__()
        from torch_geometric.nn import SimpleConv

        self.lin = nn.Linear(in_dim, out_dim)
        self.mean = SimpleConv(aggr="mean", combine_root="self_loop")
        self.first = in_dim > out_dim

    def forward(self, x: Tensor, edge_index: Tensor) -> Tensor:
        if self.first:
            return self.mean(self.lin(x), edge_index)
        return self.lin(self.mean(x, edge_index))


class PPRPropagation(nn.Module):
    r"""APPNP's propagation (Klicpera et al. 2019): :math:`Z^{(0)} = H`,
    :math:`Z^{(k+1)} = (1-\alpha)\,\tilde A^{(k)} Z^{(k)} + \alpha H` for ``K`` steps, with
    :math:`\hat A = \hat D^{-1/2}(A+I)\hat D^{-1/2}` and, while training, :math:`\tilde A^{(k)}`
    = :math:`\hat A` with each entry dropped independently *at every step* with probability
    ``edge_dropout`` (kept ones scaled by 1/(1-p)), as the paper and DGL's ``APPNPConv``. PyG's
    ``APPNP`` applies its dropout to the previous step's already dropped weights, so after
    ``K`` = 10 steps at p = 0.5 about 1/1024 of the edges carry weight ×1024 — which made the
    CPF/LTD setting (p = 0.5) collapse; hence this module. Shapes: ``x`` [N, C] → [N, C]."""

    def __init__(
        self, K: int, alpha: float, edge_dropout: float = 0.0, cached: bool = False
    ) -> None:
        super().__init__()
        self.K, self.alpha, self.p, self.cached = K, alpha, edge_dropout, cached
        self._cache: tuple[Tensor, Tensor] | None = None

    def forward(self, x: Tensor, edge_index: Tensor) -> Tensor:
        from torch_geometric.nn.conv.gcn_conv import gcn_norm

        if self._cache is not None:
            ei, w = self._cache
        else:
            ei, w = gcn_norm(edge_index, None, x.size(0), add_self_loops=True, dtype=x.dtype)
            if self.cached:
                self._cache = (ei, w)
        src, dst = ei
        h = x
        for _ in range(self.K):
            wk = torch.nn.functional.dropout(w, self.p, self.training) if self.p > 0 else w
            x = torch.zeros_like(h).index_add_(0, dst, x[src] * wk[:, None])
            x = (1 - self.alpha) * x + self.alpha * h
        return x


class GINEdgeConv(nn.Module):
    r"""GIN with categorical edge features, as Hu et al. 2020 ("Strategies for pre-training
    GNNs"): every edge's embedding is added to the message it carries and every node sends
    itself a message along a self-loop,

    .. math::
        h'_v = \mathrm{MLP}\Big(h_v + s + \sum_{u\in N(v)} \big(h_u + \textstyle\sum_j
        E_j[a_{uv,j}]\big)\Big),

    with one embedding table :math:`E_j` per edge-feature column and a learned self-loop
    embedding :math:`s`, both of this layer alone. (Hu et al. embed the self-loop as an extra
    bond type, :math:`E_0[\text{self}] + E_1[\text{none}]`: the same function class.)
    Shapes: ``x`` [N, d], ``edge_index`` [2, E], ``edge_attr`` [E, J] long → ``mlp``'s output.
    """

    def __init__(self, dim: int, mlp: nn.Module, edge_vocab: list[int]) -> None:
        super().__init__()
        self.mlp = mlp
        self.edge_encoder = CategoricalEncoder(edge_vocab, dim)
        self.self_loop = nn.Parameter(torch.empty(1, dim))
        nn.init.xavier_uniform_(self.self_loop)

    def forward(self, x: Tensor, edge_index: Tensor, edge_attr: Tensor) -> Tensor:
        src, dst = edge_index
        messages = x[src] + self.edge_encoder(edge_attr)
        out = (x + self.self_loop).index_add(0, dst, messages)
        return self.mlp(out)
