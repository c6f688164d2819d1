r"""GraphSAGE and GIN layers that apply their first linear map before aggregating, when it
narrows the features.

Both layers aggregate raw features and only then apply a linear map :math:`W`; on a wide
bag-of-words input (CiteSeer: 3,703 features, 64 hidden) the gathered messages are E×F
(≈ 50 ms per gather on CiteSeer) while :math:`XW^\top` is a sparse product
(:mod:`benchmark.models.sparse_input`). The linear map commutes with sums and means, so
projecting first computes the same function:

* GraphSAGE (mean): :math:`W_l\,\mathrm{mean}_{u\in N(v)} x_u + b + W_r x_v =
  \mathrm{mean}_{u\in N(v)} (W_l x_u) + b + W_r x_v` (both sides give :math:`b + W_r x_v` to
  a node without neighbours);
* GIN: :math:`\mathrm{MLP}((1+\epsilon)x_v + \sum_u x_u)` whose MLP starts with
  :math:`\mathrm{Linear}(W, b)`: :math:`(1+\epsilon)\,W x_v + \sum_u W x_u + b`, then the rest
  of the MLP.

Parameters, initialisation and ``state_dict`` keys are PyG's ``SAGEConv`` / ``GINConv``
(subclasses), so checkpoints and parameter counts do not change; only floating-point
rounding does. A layer that does not narrow (``in ≤ out``) runs PyG's own forward.
"""

from __future__ import annotations

import itertools

import torch
from torch import Tensor, nn
from torch_geometric.nn import GINConv, SAGEConv
from torch_geometric.utils import scatter

from benchmark.models.sparse_input import sparse_linear


def linear_map(x: Tensor, weight: Tensor) -> Tensor:
    """:math:`xW^\\top` for a dense or CSR ``x`` [N, F] and ``weight`` [O, F] → [N, O]."""
    if x.layout == torch.sparse_csr:
        return sparse_linear(x, weight)
    return nn.functional.linear(x, weight)


class ProjectedSAGEConv(SAGEConv):
    """PyG's ``SAGEConv(in_dim, out_dim, aggr="mean")``, projected first when
    ``in_dim > out_dim`` (module docstring). Shapes: ``x`` [N, in] (dense or CSR) → [N, out]."""

    def __init__(self, in_dim: int, out_dim: int) -> None:
        super().__init__(in_dim, out_dim, aggr="mean")
        self.first = in_dim > out_dim

    def forward(self, x: Tensor, edge_index: Tensor) -> Tensor:  # type: ignore[override]
        if not self.first:
            return super().forward(x, edge_index)
        both = linear_map(x, torch.cat([self.lin_l.weight, self.lin_r.weight]))  # [N, 2·out]
        neigh, root = both.split(self.out_channels, dim=-1)
        src, dst = edge_index
        agg = scatter(neigh[src], dst, 0, dim_size=both.shape[0], reduce="mean")
        return agg + self.lin_l.bias + root


class ProjectedGINConv(GINConv):
    """PyG's ``GINConv(mlp, train_eps=True)``, projected first when ``mlp`` starts with a
    ``Linear`` that narrows ``in_dim`` (module docstring). Shapes: ``x`` [N, in] (dense or
    CSR) → ``mlp``'s output."""

    def __init__(self, mlp: nn.Sequential, in_dim: int) -> None:
        super().__init__(mlp, train_eps=True)
        head = mlp[0]
        self.first = isinstance(head, nn.Linear) and in_dim > head.out_features

    def forward(self, x: Tensor, edge_index: Tensor) -> Tensor:  # type: ignore[override]
        if not self.first:
            return super().forward(x, edge_index)
        lin = self.nn[0]
        z = linear_map(x, lin.weight)  # [N, mid]
        src, dst = edge_index
        out = ((1 + self.eps) * z).index_add(0, dst, z[src]) + lin.bias
        for layer in itertools.islice(self.nn, 1, None):
            out = layer(out)
        return out
