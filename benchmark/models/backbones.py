r"""GNN backbones for node classification (full batch) and graph classification (mini-batches).

One base class, :class:`Backbone`, owns the loop over layers, normalisation, activation,
dropout, readout and head (as PyG's ``BasicGNN``); the subclasses only say which PyG layer
makes one hop. Every backbone returns a :class:`BackboneOutput` with node embeddings, graph
embeddings (graph task) and logits, because distillation methods match hidden representations.

Node task, :math:`L` layers: :math:`H^{(l)} = \mathrm{drop}(\sigma(\mathrm{norm}(
\mathrm{conv}_l(H^{(l-1)}, A))))` for :math:`l < L`, logits :math:`= \mathrm{conv}_L(H^{(L-1)}, A)`
[N, C]; the node embedding is :math:`H^{(L-1)}` [N, hidden] (before dropout), the input of the
classifier layer (Kipf & Welling's 2-layer GCN for ``layers=2``).

Graph task, :math:`L` layers all of width ``hidden``, then a readout
:math:`g = \mathrm{pool}(H^{(L)})` (``jk=last``) or :math:`g = \Vert_l \mathrm{pool}(H^{(l)})`
(``jk=cat``, as the GIN paper's readout over all depths) [B, d'], and a head
Linear–ReLU–Dropout–Linear to [B, C]; the node embedding is :math:`H^{(L)}` [N, hidden].
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

import torch
from torch import Tensor, nn
from torch_geometric.nn import (
    GATConv,
    GCNConv,
    SAGEConv,
    SGConv,
    global_add_pool,
    global_max_pool,
    global_mean_pool,
)
from torch_geometric.nn.conv.gcn_conv import gcn_norm

from benchmark.errors import KdbenchError
from benchmark.models.layers import (
    CategoricalEncoder,
    Dropout,
    GCNMeanConv,
    GINEdgeConv,
    PPRPropagation,
    dropout,
    make_norm,
)
from benchmark.models.projected import ProjectedGINConv, ProjectedSAGEConv
from benchmark.models.sparse_input import SparseInputCache, make_sparse_aware, wants_sparse
from benchmark.registry import Registry

BACKBONES: Registry[type[Backbone]] = Registry("backbone")
READOUTS = {"sum": global_add_pool, "mean": global_mean_pool, "max": global_max_pool}


@dataclass
class BackboneOutput:
    """``h`` node embeddings [N, d]; ``logits`` [N, C] or [B, C]; ``g`` graph embeddings
    [B, d'] (``None`` for node tasks)."""

    h: Tensor
    logits: Tensor
    g: Tensor | None = None


class Backbone(nn.Module):
    """Base of every backbone; subclasses implement :meth:`make_conv`.

    Args:
        in_channels: input feature width ``F`` (ignored when ``categorical`` is given).
        out_channels: classes ``C`` or tasks ``T``.
        task: ``node`` or ``graph``.
        hidden: width of hidden layers.
        layers: number of message-passing layers (node task: including the output layer).
        dropout: dropout in the graph head, and after every hidden layer unless
            ``layer_dropout`` says otherwise.
        layer_dropout: dropout after every hidden message-passing layer (``None``: as
            ``dropout``). The graph-task default is 0 (:data:`_GRAPH`): Xu et al.'s GIN and
            Errica et al.'s models drop out only in the head; between layers it feeds batch
            norm statistics that differ between training and evaluation (Li et al., CVPR
            2019). (GIN's collapse to the majority class on NCI1 and PROTEINS was its
            learning rate: see :class:`GIN`.)
        input_dropout: dropout on the input features (defaults to ``dropout`` for node tasks,
            as Kipf & Welling; 0 for graph tasks).
        norm: ``none`` | ``batch`` | ``layer`` after every hidden layer.
        readout: ``sum`` | ``mean`` | ``max`` pooling (graph task).
        jk: ``last`` | ``cat`` which layers the readout pools (graph task).
        graph_head: ``mlp`` (Linear–ReLU–Dropout–Linear) | ``linear`` (one Linear, Hu et al.)
            from the pooled embedding to the outputs (graph task).
        act_last: whether the last layer is followed by the activation too (graph task;
            Hu et al.'s GIN ends with batch norm and no ReLU).
        edge_features: embed the categorical ``edge_attr`` into every layer's messages
            (GIN only: :class:`~benchmark.models.layers.GINEdgeConv`); needs
            ``edge_categorical``.
        categorical: vocabulary size per input column when ``x`` holds integer categories
            (molecules); they are embedded into ``hidden`` by a :class:`CategoricalEncoder`.
        edge_categorical: vocabulary size per ``edge_attr`` column (molecules' bonds).
        static_graph: the graph never changes between calls (transductive node task), so
            layers may cache its normalisation.
    """

    #: hyper-parameter defaults per task; keys are constructor (or training) arguments.
    defaults: ClassVar[dict[str, dict[str, Any]]] = {}
    #: whether the backbone reads ``edge_index`` at all (False for the MLP).
    uses_graph: ClassVar[bool] = True

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        task: str,
        hidden: int = 64,
        layers: int = 2,
        dropout: float = 0.5,
        layer_dropout: float | None = None,
        input_dropout: float | None = None,
        norm: str = "none",
        readout: str = "mean",
        jk: str = "last",
        graph_head: str = "mlp",
        act_last: bool = True,
        edge_features: bool = False,
        categorical: list[int] | None = None,
        edge_categorical: list[int] | None = None,
        static_graph: bool = False,
        **conv_kwargs: Any,
    ) -> None:
        super().__init__()
        if task not in ("node", "graph"):
            raise KdbenchError(f"unknown task '{task}' (expected node or graph)")
        if layers < 1:
            raise KdbenchError(f"layers must be at least 1, got {layers}")
        if readout not in READOUTS:
            raise KdbenchError(f"unknown readout '{readout}' (expected {sorted(READOUTS)})")
        if jk not in ("last", "cat"):
            raise KdbenchError(f"unknown jk '{jk}' (expected last or cat)")
        if graph_head not in ("mlp", "linear"):
            raise KdbenchError(f"unknown graph_head '{graph_head}' (expected mlp or linear)")
        if edge_features and not edge_categorical:
            raise KdbenchError(
                "edge_features needs a dataset with categorical edge features (molecules); "
                "drop it with `--set edge_features=false`"
            )
        self.edge_vocab = list(edge_categorical) if edge_features and edge_categorical else None
        self.act_last = act_last
        self.task, self.hidden, self.num_layers = task, hidden, layers
        self.p = dropout if layer_dropout is None else layer_dropout
        self.p_in = (dropout if task == "node" else 0.0) if input_dropout is None else input_dropout
        self.readout, self.jk, self.static_graph = readout, jk, static_graph
        self.conv_kwargs = conv_kwargs
        self.encoder = CategoricalEncoder(categorical, hidden) if categorical else None
        dim = hidden if categorical else in_channels
        node_out = task == "node"
        self.convs = nn.ModuleList()
        self.norms = nn.ModuleList()
        for i in range(layers):
            last = node_out and i == layers - 1
            out = out_channels if last else hidden
            self.convs.append(self.make_conv(dim, out, last))
            if not last:
                self.norms.append(make_norm(norm, hidden))
            dim = out
        self.head: nn.Module | None = None
        if task == "graph":
            pooled = hidden * layers if jk == "cat" else hidden
            self.head = (
                nn.Sequential(
                    nn.Linear(pooled, hidden),
                    nn.ReLU(),
                    Dropout(dropout),
                    nn.Linear(hidden, out_channels),
                )
                if graph_head == "mlp"
                else nn.Linear(pooled, out_channels)
            )
        first = self.input_linear() if task == "node" and self.encoder is None else None
        if first is not None:
            make_sparse_aware(first)
        self._sparse = SparseInputCache() if first is not None else None

    @property
    def embedding_dim(self) -> int:
        """Width of ``BackboneOutput.h``."""
        return self.hidden

    def make_conv(self, in_dim: int, out_dim: int, last: bool) -> nn.Module:
        """One hop ``in_dim → out_dim``; ``last`` is the node task's output layer."""
        raise NotImplementedError

    def input_linear(self) -> nn.Module | None:
        """The linear module that reads the input features before anything else does (node
        task), or ``None`` if the first hop aggregates raw features first. Naming it lets
        sparse inputs skip the dense :math:`XW^\\top`
        (:mod:`benchmark.models.sparse_input`)."""
        return None

    def prepare_edges(self, edge_index: Tensor, num_nodes: int, dtype: torch.dtype) -> Any:
        """What every :meth:`hop` of one forward receives as its edges, computed once per
        forward (default: ``edge_index`` itself)."""
        return edge_index

    def hop(
        self, conv: nn.Module, x: Tensor, edges: Any, edge_attr: Tensor | None = None
    ) -> Tensor:
        """One layer: ``conv`` applied to ``x`` [N, d] and :meth:`prepare_edges`' ``edges``."""
        return conv(x, edges)

    def forward(
        self,
        x: Tensor,
        edge_index: Tensor,
        batch: Tensor | None = None,
        num_graphs: int | None = None,
        edge_attr: Tensor | None = None,
    ) -> BackboneOutput:
        """``x`` [N, F] (or [N, J] long if categorical), ``edge_index`` [2, E], ``batch`` [N]
        graph id of each node (graph task), ``edge_attr`` [E, K] long (read only with
        ``edge_features``) → :class:`BackboneOutput`."""
        if self.encoder is not None:
            x = self.encoder(x)
        if self.edge_vocab is not None and edge_attr is None:
            raise KdbenchError("this backbone embeds edge features: pass edge_attr")
        sparse = self._sparse.get(x) if self._sparse is not None and wants_sparse(x) else None
        if sparse is not None:  # CSR: dropout on the non-zeros, a sparse first product
            x = sparse.dropout(self.p_in, self.training)
        else:
            x = dropout(x, self.p_in, self.training)
        edges = self.prepare_edges(edge_index, x.shape[0], x.dtype)
        hidden_states: list[Tensor] = []
        last = len(self.convs) - 1
        for i, conv in enumerate(self.convs):
            if i == len(self.norms):  # node task: the output layer
                h = hidden_states[-1] if hidden_states else x
                if h.layout != torch.strided:
                    h = h.to_dense()
                return BackboneOutput(h=h, logits=self.hop(conv, x, edges, edge_attr))
            x = self.norms[i](self.hop(conv, x, edges, edge_attr))
            if i < last or self.act_last:
                x = torch.relu(x)
            hidden_states.append(x)
            x = dropout(x, self.p, self.training)
        if batch is None:
            batch = x.new_zeros(x.shape[0], dtype=torch.long)
        pool = READOUTS[self.readout]
        states = hidden_states if self.jk == "cat" else hidden_states[-1:]
        g = torch.cat([pool(s, batch, num_graphs) for s in states], dim=-1)
        return BackboneOutput(h=hidden_states[-1], logits=self.head(g), g=g)


_NODE = {"hidden": 64, "layers": 2, "dropout": 0.5, "norm": "none"}
_GRAPH = {
    "hidden": 64,
    "layers": 3,
    "dropout": 0.5,
    "layer_dropout": 0.0,
    "norm": "batch",
    "readout": "mean",
    "jk": "last",
}


@BACKBONES.register("GCN")
class GCN(Backbone):
    r"""Kipf & Welling 2017: :math:`H' = \hat D^{-1/2}(A+I)\hat D^{-1/2} H W`."""

    defaults: ClassVar = {"node": dict(_NODE), "graph": dict(_GRAPH)}

    def make_conv(self, in_dim: int, out_dim: int, last: bool) -> nn.Module:
        static = self.static_graph  # a static graph: normalised once and cached by the layer
        return GCNConv(in_dim, out_dim, cached=static, normalize=static)

    def prepare_edges(self, edge_index: Tensor, num_nodes: int, dtype: torch.dtype) -> Any:
        """A graph that changes every forward (graph mini-batches) is normalised once per
        forward instead of once per layer: (self-looped ``edge_index`` [2, E+N], weights
        :math:`\\hat d_u^{-1/2}\\hat d_v^{-1/2}` [E+N])."""
        if self.static_graph:
            return edge_index
        return gcn_norm(edge_index, None, num_nodes, add_self_loops=True, dtype=dtype)

    def hop(
        self, conv: nn.Module, x: Tensor, edges: Any, edge_attr: Tensor | None = None
    ) -> Tensor:
        return conv(x, *edges) if isinstance(edges, tuple) else conv(x, edges)

    def input_linear(self) -> nn.Module | None:
        return self.convs[0].lin


@BACKBONES.register("GraphSAGE")
class GraphSAGE(Backbone):
    r"""Hamilton et al. 2017 (mean aggregator): :math:`h'_v = W_1 h_v + W_2\,\mathrm{mean}_{u\in
    N(v)} h_u`. ``aggr="gcn"``: the ``gcn`` aggregator of the official CPF/GLNN/LTD code
    (:class:`~benchmark.models.layers.GCNMeanConv`: one weight on the mean over the node and
    its neighbours); any other ``aggr`` is PyG's ``SAGEConv`` aggregation."""

    defaults: ClassVar = {"node": dict(_NODE), "graph": dict(_GRAPH)}

    def make_conv(self, in_dim: int, out_dim: int, last: bool) -> nn.Module:
        aggr = self.conv_kwargs.get("aggr", "mean")
        if aggr == "gcn":
            return GCNMeanConv(in_dim, out_dim)
        if aggr == "mean":
            return ProjectedSAGEConv(in_dim, out_dim)
        return SAGEConv(in_dim, out_dim, aggr=aggr)

    def input_linear(self) -> nn.Module | None:
        conv = self.convs[0]
        if isinstance(conv, GCNMeanConv) and conv.first:
            return conv.lin
        return conv.lin_l if isinstance(conv, ProjectedSAGEConv) and conv.first else None


@BACKBONES.register("GAT")
class GAT(Backbone):
    r"""Veličković et al. 2018: attention-weighted neighbours, ``heads`` heads concatenated in
    hidden layers (``hidden`` = total width, ``hidden/heads`` per head); the node task's output
    layer uses ``out_heads`` heads averaged."""

    defaults: ClassVar = {
        "node": {
            **_NODE,
            "dropout": 0.6,
            "heads": 8,
            "out_heads": 1,
            "attn_dropout": 0.6,
            "lr": 0.005,
            # the paper stops on patience 100 with no practical cap (100,000 epochs); 200
            # ended Cora runs still improving (best epochs up to 181)
            "epochs": 1000,
        },
        "graph": {**_GRAPH, "heads": 4, "attn_dropout": 0.0},
    }

    def make_conv(self, in_dim: int, out_dim: int, last: bool) -> nn.Module:
        heads = self.conv_kwargs.get("heads", 8)
        p_att = self.conv_kwargs.get("attn_dropout", 0.0)
        if last:
            out_heads = self.conv_kwargs.get("out_heads", 1)
            return GATConv(in_dim, out_dim, heads=out_heads, concat=False, dropout=p_att)
        if out_dim % heads:
            raise KdbenchError(f"GAT: hidden={out_dim} must be divisible by heads={heads}")
        return GATConv(in_dim, out_dim // heads, heads=heads, dropout=p_att)

    def input_linear(self) -> nn.Module | None:
        return self.convs[0].lin


@BACKBONES.register("GIN")
class GIN(Backbone):
    r"""Xu et al. 2019: :math:`h'_v = \mathrm{MLP}((1+\epsilon) h_v + \sum_{u\in N(v)} h_u)`,
    learnable :math:`\epsilon`; sum readout over all depths. ``gin_mlp="batchnorm"`` (Xu et
    al.): Linear(d, d)–BN–ReLU–Linear; ``"wide"`` (Hu et al. 2020): Linear(d, 2d)–ReLU–
    Linear(2d, d). With ``edge_features`` every layer is a
    :class:`~benchmark.models.layers.GINEdgeConv` (bond embeddings in the messages, a
    self-loop instead of :math:`\epsilon`): Hu et al.'s molecular GIN.

    Graph tasks learn at 0.001 (the graph training default is 0.01): at 0.01 the sum readout
    over all four depths gives the head inputs of tens to hundreds and training saturated in
    its first epochs, ending at the majority class in 6 of 10 NCI1 folds and 2 of 10 PROTEINS
    folds (best validation epoch 0-2). Chosen on validation accuracy, folds 0-9 of the four
    TU sets (README, "Reference results"); not tuned per dataset."""

    defaults: ClassVar = {
        "node": dict(_NODE),
        "graph": {**_GRAPH, "layers": 4, "readout": "sum", "jk": "cat", "lr": 0.001},
    }

    def make_conv(self, in_dim: int, out_dim: int, last: bool) -> nn.Module:
        kind = self.conv_kwargs.get("gin_mlp", "batchnorm")
        if kind == "wide":
            mid = 2 * self.hidden
            mlp = nn.Sequential(nn.Linear(in_dim, mid), nn.ReLU(), nn.Linear(mid, out_dim))
        elif kind == "batchnorm":
            mid = self.hidden
            mlp = nn.Sequential(
                nn.Linear(in_dim, mid), nn.BatchNorm1d(mid), nn.ReLU(), nn.Linear(mid, out_dim)
            )
        else:
            raise KdbenchError(f"unknown gin_mlp '{kind}' (expected batchnorm or wide)")
        if self.edge_vocab is not None:
            return GINEdgeConv(in_dim, mlp, self.edge_vocab)
        return ProjectedGINConv(mlp, in_dim)

    def input_linear(self) -> nn.Module | None:
        conv = self.convs[0]
        return conv.nn[0] if isinstance(conv, ProjectedGINConv) and conv.first else None

    def hop(
        self, conv: nn.Module, x: Tensor, edge_index: Tensor, edge_attr: Tensor | None = None
    ) -> Tensor:
        if isinstance(conv, GINEdgeConv):
            return conv(x, edge_index, edge_attr)
        return conv(x, edge_index)


@BACKBONES.register("APPNP")
class APPNP(Backbone):
    r"""Klicpera et al. 2019, predict then propagate: an MLP :math:`H = f_\theta(X)` (``layers``
    linear layers) whose output is propagated by personalised PageRank,
    :math:`Z^{(0)} = H,\ Z^{(k+1)} = (1-\alpha)\hat A Z^{(k)} + \alpha H` for ``K`` steps with
    :math:`\hat A = \hat D^{-1/2}(A+I)\hat D^{-1/2}`; ``edge_dropout`` drops entries of
    :math:`\hat A` independently at every step while training (the paper's adjacency dropout;
    :class:`~benchmark.models.layers.PPRPropagation`). Node task: the logits are
    propagated; graph task: the last hidden layer is, before the readout."""

    defaults: ClassVar = {
        "node": {**_NODE, "K": 10, "alpha": 0.1, "edge_dropout": 0.0},
        "graph": {**_GRAPH, "K": 10, "alpha": 0.1, "edge_dropout": 0.0},
    }

    def make_conv(self, in_dim: int, out_dim: int, last: bool) -> nn.Module:
        if not hasattr(self, "prop"):
            kw = self.conv_kwargs
            self.prop = PPRPropagation(
                int(kw.get("K", 10)),
                float(kw.get("alpha", 0.1)),
                float(kw.get("edge_dropout", 0.0)),
                cached=self.static_graph,
            )
        return nn.Linear(in_dim, out_dim)

    def hop(
        self, conv: nn.Module, x: Tensor, edge_index: Tensor, edge_attr: Tensor | None = None
    ) -> Tensor:
        x = conv(x)
        return self.prop(x, edge_index) if conv is self.convs[-1] else x

    def input_linear(self) -> nn.Module | None:
        return self.convs[0]


@BACKBONES.register("SGC")
class SGC(Backbone):
    r"""Wu et al. 2019, simplified graph convolution: logits :math:`= \hat A^K X W` with
    :math:`\hat A = \hat D^{-1/2}(A+I)\hat D^{-1/2}` (``K`` = 2), no hidden layer and no
    non-linearity (``layers`` = 1 for node tasks; deeper stacks are SGConv layers with ReLU in
    between). The propagated features are cached for a static graph, as the paper."""

    defaults: ClassVar = {
        "node": {
            **_NODE,
            "layers": 1,
            "dropout": 0.0,
            "K": 2,
            "lr": 0.2,
            "weight_decay": 5e-5,
            "bias": True,
        },
        "graph": {**_GRAPH, "K": 2, "bias": True},
    }

    @property
    def embedding_dim(self) -> int:
        """A 1-layer node SGC has no hidden layer: its ``h`` is the input ``x`` [N, F]."""
        if self.task == "node" and self.num_layers == 1:
            return self.convs[0].lin.in_channels
        return self.hidden

    def make_conv(self, in_dim: int, out_dim: int, last: bool) -> nn.Module:
        kw = self.conv_kwargs
        # only the first layer may cache: a deeper layer's input depends on the parameters
        cached = self.static_graph and not self.convs
        return SGConv(
            in_dim, out_dim, K=int(kw.get("K", 2)), cached=cached, bias=bool(kw.get("bias", True))
        )


@BACKBONES.register("MLP")
class MLP(Backbone):
    r"""A graph-blind baseline: :math:`H' = H W` per node (for graph tasks, then the readout:
    DeepSets). The GLNN student and the "plain MLP" row of the leaderboard."""

    defaults: ClassVar = {"node": dict(_NODE), "graph": dict(_GRAPH)}
    uses_graph: ClassVar[bool] = False

    def make_conv(self, in_dim: int, out_dim: int, last: bool) -> nn.Module:
        return nn.Linear(in_dim, out_dim)

    def input_linear(self) -> nn.Module | None:
        return self.convs[0]

    def hop(
        self, conv: nn.Module, x: Tensor, edge_index: Tensor, edge_attr: Tensor | None = None
    ) -> Tensor:
        return conv(x)


ARCH_KEYS = (
    "hidden",
    "layers",
    "dropout",
    "layer_dropout",
    "input_dropout",
    "norm",
    "readout",
    "jk",
    "graph_head",
    "act_last",
    "edge_features",
    "gin_mlp",
    "heads",
    "out_heads",
    "attn_dropout",
    "aggr",
    "K",
    "alpha",
    "edge_dropout",
    "bias",
)


def build_backbone(
    name: str,
    in_channels: int,
    out_channels: int,
    task: str,
    params: dict[str, Any],
    categorical: list[int] | None = None,
    static_graph: bool = False,
    edge_categorical: list[int] | None = None,
) -> Backbone:
    """Instantiate backbone ``name`` from a flat hyper-parameter dict (non-architecture keys
    such as ``lr`` are ignored)."""
    cls = BACKBONES.get(name)
    arch = {k: params[k] for k in ARCH_KEYS if k in params}
    if arch.get("edge_features") and name != "GIN":
        raise KdbenchError(
            f"edge_features is implemented for GIN only, not {name}; "
            "drop it with `--set edge_features=false`"
        )
    return cls(
        in_channels,
        out_channels,
        task,
        categorical=categorical,
        edge_categorical=edge_categorical,
        static_graph=static_graph,
        **arch,
    )
