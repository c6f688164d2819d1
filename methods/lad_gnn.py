r"""``lad_gnn``: Label Attentive Distillation for GNN graph classification (Hong, Li, Wang, Lin
and Lu, AAAI 2024), and its teacher ``lad_teacher``.

**Teacher** (``lad_teacher``, trained once per dataset/split/seed/configuration and cached as
the student's dependency). For a mini-batch of graphs with node embeddings
:math:`H = \mathrm{GNN}(X, A) \in \mathbb{R}^{N\times d}` (the backbone's last hidden layer) and
graph labels :math:`y_G`, every node gets its graph's one-hot label, a label encoder
(Linear–BN–ReLU–Dropout twice, then Linear) maps it to :math:`E \in \mathbb{R}^{N\times d}`, and

.. math::
    Q = E W_Q,\quad K = H W_K,\quad V = H W_V,\quad
    H' = \mathrm{softmax}_\text{rows}(s\, Q K^\top)\, V,

with :math:`s = \tau` (``fusion="code"``, the official code: the ideal embeddings are
:math:`Z = H'`) or :math:`s = \tau/\sqrt d` and :math:`Z = \mathrm{FFN}(\mathrm{LN}(H' + H)) + H'`
(``fusion="paper"``, the paper's transformer block; FFN = Linear–ReLU–Linear of width d).
``attention_scope="batch"`` (the official code) lets a node attend to every node of the
mini-batch, other graphs included; ``"graph"`` masks attention to nodes of the same graph.
Readout: :math:`g = \mathrm{mean}_{v\in G} Z_v / \lVert\cdot\rVert_2`, then the head
Linear(d, d)–BN–ReLU–Dropout(``head_dropout``)–Linear(d, C), trained with cross-entropy.
The teacher sees every graph's label, so its own accuracy means nothing: it selects its epoch
on validation *loss* (as the official early stopping) computed on batches of ``batch_size``
graphs, as the official loader's (kdbench before 2026-11-29: batches of up to 1024 graphs,
a different attention context), refuses to be evaluated on test, is never a leaderboard
row, and exports its pooled embeddings :math:`g_T` only for the training graphs, computed
in mini-batches of training graphs alone (NaN elsewhere: nothing the student could read
about validation or test labels, not even through batch-wide attention).

**Student** (``lad_gnn``): the same backbone without labels, :math:`g_S` = normalised mean pool
of its last hidden layer, prediction from a head, and

.. math::
    L = \mathrm{CE}(\mathrm{head}(g_S), y_G) + \alpha\,\frac{1}{Bd}\lVert g_S - g_T\rVert_F^2

over the training mini-batch (the paper's α is ``distill_weight``, default 1; ``alpha`` is
APPNP's teleport probability, which this method leaves as it is). ``head="own"`` (the
official code): a fresh head; ``head="shared_frozen"`` (the paper's text): the teacher's
trained head, frozen. Only the student is evaluated; its epoch is chosen on validation
accuracy (``honest`` protocol: the card's stratified 10-fold CV) — or, under the ``paper``
protocol ``lad_paper``, on the test part, which reproduces the official code's
max-over-epochs test accuracy (labelled ``paper``).

Defaults are the official code's: hidden 64, 2 layers, batch norm, dropout 0.5, batch 32,
300 epochs, weight decay 5e-5, early-stopping patience 50, τ = 0.1, α = ``distill_weight`` = 1,
student lr 0.001, teacher lr 0.01 (``teacher_lr``), head dropout 0. The teacher shares the
student's architecture and training settings (it is derived from the student's parameters).

Differences from the official code, kept on purpose: runs are independent (the official
student's model and optimiser carry over from one run to the next), the teacher trains on the
student's own split (officially once on one shuffle, so it saw later test graphs with their
labels), our backbones are the standard ones (official GCN: ``normalize=False`` and always two
layers; its last layer has no BN/ReLU, ours feeds the readout ``relu(norm(conv))``), no
``ReduceLROnPlateau`` on the training loss, the teacher's validation batches are fixed (the
official loader reshuffles them every epoch), and the student selects on validation accuracy
where the official code stops early on a validation loss that includes the distillation term.
Graphs without node features get the card's features (e.g. one-hot degree), not the official
min-max-normalised degree.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any, ClassVar

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch_geometric.nn import global_mean_pool
from torch_geometric.utils import to_dense_batch

from benchmark.errors import KdbenchError
from benchmark.method import Dependency, FitContext, FitResult
from benchmark.metrics import Evaluator
from benchmark.models.backbones import Backbone, BackboneOutput
from benchmark.models.layers import Dropout
from benchmark.registry import register_method
from benchmark.train.feeders import Batch
from benchmark.train.loop_method import LoopMethod
from benchmark.train.losses import supervised_loss

FUSIONS = ("code", "paper")
SCOPES = ("batch", "graph")
HEADS = ("own", "shared_frozen")
#: what the teacher takes from its student's parameters (architecture and training schedule).
SHARED = (
    "hidden",
    "layers",
    "dropout",
    "layer_dropout",
    "input_dropout",
    "norm",
    "heads",
    "out_heads",
    "attn_dropout",
    "aggr",
    "batch_size",
    "epochs",
    "patience",
    "weight_decay",
    "tau",
    "fusion",
    "attention_scope",
    "head_dropout",
    "preset",
)


def _choice(name: str, value: str, allowed: tuple[str, ...]) -> str:
    if value not in allowed:
        raise KdbenchError(
            f"{name} must be one of {', '.join(allowed)}, not {value!r}; "
            f"fix it with `--set {name}={allowed[0]}`"
        )
    return value


class LabelAttention(nn.Module):
    """The teacher's label-attentive fusion (module docstring): ``h`` [N, d] node embeddings,
    ``y`` [B] graph labels, ``batch`` [N] graph of each node → ideal embeddings [N, d]."""

    def __init__(
        self, classes: int, dim: int, dropout: float, tau: float, fusion: str, scope: str
    ) -> None:
        super().__init__()
        self.classes, self.tau = classes, tau
        self.fusion = _choice("fusion", fusion, FUSIONS)
        self.scope = _choice("attention_scope", scope, SCOPES)
        self.encoder = nn.Sequential(
            nn.Linear(classes, dim),
            nn.BatchNorm1d(dim),
            nn.ReLU(),
            Dropout(dropout),
            nn.Linear(dim, dim),
            nn.BatchNorm1d(dim),
            nn.ReLU(),
            Dropout(dropout),
            nn.Linear(dim, dim),
        )
        self.q, self.k, self.v = nn.Linear(dim, dim), nn.Linear(dim, dim), nn.Linear(dim, dim)
        if self.fusion == "paper":
            self.norm = nn.LayerNorm(dim)
            self.ffn = nn.Sequential(nn.Linear(dim, dim), nn.ReLU(), nn.Linear(dim, dim))

    def _qkv(self, h: Tensor, y: Tensor, batch: Tensor) -> tuple[Tensor, Tensor, Tensor, float]:
        e = self.encoder(F.one_hot(y[batch], self.classes).to(h.dtype))
        scale = self.tau / math.sqrt(h.shape[-1]) if self.fusion == "paper" else self.tau
        return self.q(e), self.k(h), self.v(h), scale

    def forward(self, h: Tensor, y: Tensor, batch: Tensor, num_graphs: int) -> Tensor:
        q, k, v, scale = self._qkv(h, y, batch)
        if self.scope == "batch":  # N × N over every node of the mini-batch
            fused = torch.softmax(scale * q @ k.T, dim=-1) @ v
        else:  # B × M × M, keys of other graphs and padding masked out
            weights, vd, mask = self._graph_weights(q, k, v, batch, num_graphs, scale)
            fused = (weights @ vd)[mask]
        if self.fusion == "paper":
            return self.ffn(self.norm(fused + h)) + fused
        return fused

    def pooled(self, h: Tensor, y: Tensor, batch: Tensor, num_graphs: int) -> Tensor:
        r"""The mean per graph of :meth:`forward`'s ideal embeddings, [B, d], without making
        them. With ``fusion="code"`` the mean is linear in the attention rows:
        :math:`\bar z_b = \big(\tfrac{1}{n_b}\sum_{v\in b} A_v\big) V` with
        :math:`A = \mathrm{softmax}(s\,QK^\top)`, so the pooled rows of :math:`A` [B, N] meet
        :math:`V` instead of all N rows: three N×N×d products per training step (scores and
        their two gradients) instead of six. ``fusion="paper"`` applies a per-node FFN after
        the attention, so it pools :meth:`forward`'s output."""
        if self.fusion == "paper":
            return global_mean_pool(self(h, y, batch, num_graphs), batch, num_graphs)
        q, k, v, scale = self._qkv(h, y, batch)
        if self.scope == "batch":
            rows = global_mean_pool(torch.softmax(scale * q @ k.T, dim=-1), batch, num_graphs)
            return rows @ v
        weights, vd, mask = self._graph_weights(q, k, v, batch, num_graphs, scale)
        counts = mask.sum(1, keepdim=True).clamp_min(1).to(weights.dtype)  # [B, 1]
        rows = (weights * mask[:, :, None]).sum(1) / counts  # [B, M]
        return (rows[:, None, :] @ vd).squeeze(1)

    @staticmethod
    def _graph_weights(
        q: Tensor, k: Tensor, v: Tensor, batch: Tensor, num_graphs: int, scale: float
    ) -> tuple[Tensor, Tensor, Tensor]:
        """Per-graph attention: weights [B, M, M] (keys of other graphs and padding masked
        out), the padded values [B, M, d] and the node mask [B, M]."""
        qd, mask = to_dense_batch(q, batch, batch_size=num_graphs)
        kd, _ = to_dense_batch(k, batch, batch_size=num_graphs)
        vd, _ = to_dense_batch(v, batch, batch_size=num_graphs)
        scores = (scale * qd @ kd.transpose(1, 2)).masked_fill(~mask[:, None, :], -math.inf)
        return torch.softmax(scores, dim=-1), vd, mask


class LADNet(nn.Module):
    """Backbone → (label attention, teacher only) → normalised mean pool → head.

    ``forward(x, edge_index, batch, num_graphs, y=None)`` returns a
    :class:`~benchmark.models.backbones.BackboneOutput` with ``h`` [N, d] the backbone's node
    embeddings, ``g`` [B, d] the L2-normalised mean of the (teacher: ideal) node embeddings
    and ``logits`` [B, C]. The teacher's ideal node embeddings are only ever pooled, so they
    are not made (:meth:`LabelAttention.pooled`)."""

    def __init__(
        self,
        backbone: Backbone,
        classes: int,
        head_dropout: float,
        attention: LabelAttention | None = None,
    ) -> None:
        super().__init__()
        d = backbone.embedding_dim
        backbone.head = nn.Identity()  # the backbone's own head is replaced by LAD's
        self.backbone, self.attention = backbone, attention
        self.head = nn.Sequential(
            nn.Linear(d, d),
            nn.BatchNorm1d(d),
            nn.ReLU(),
            Dropout(head_dropout),
            nn.Linear(d, classes),
        )

    def forward(
        self,
        x: Tensor,
        edge_index: Tensor,
        batch: Tensor | None = None,
        num_graphs: int | None = None,
        y: Tensor | None = None,
        edge_attr: Tensor | None = None,
    ) -> BackboneOutput:
        if batch is None:
            batch = x.new_zeros(x.shape[0], dtype=torch.long)
        if num_graphs is None:
            num_graphs = int(batch.max()) + 1
        h = self.backbone(x, edge_index, batch, num_graphs, edge_attr=edge_attr).h
        if self.attention is None:
            pooled = global_mean_pool(h, batch, num_graphs)
        elif y is None:
            raise KdbenchError("lad_teacher needs the graphs' labels in its forward pass")
        else:
            pooled = self.attention.pooled(h, y, batch, num_graphs)
        g = F.normalize(pooled, p=2.0, dim=-1)
        return BackboneOutput(h=h, logits=self.head(g), g=g)


class FrozenHead(nn.Module):
    """A trained head used as is: no gradients, and always in eval mode (its batch norm keeps
    the teacher's running statistics, dropout is off)."""

    def __init__(self, head: nn.Module) -> None:
        super().__init__()
        self.inner = head.requires_grad_(False).eval()

    def train(self, mode: bool = True) -> FrozenHead:
        return self

    def forward(self, g: Tensor) -> Tensor:
        return self.inner(g)


class _LADBase(LoopMethod):
    tasks = ("graph",)
    overrides: ClassVar[dict[str, Any]] = {
        "hidden": 64,
        "layers": 2,
        "norm": "batch",
        "dropout": 0.5,
        "layer_dropout": 0.5,  # the official backbones drop out between layers too
        "batch_size": 32,
        "epochs": 300,
        "weight_decay": 5e-5,
        "patience": 50,
    }
    defaults: ClassVar[dict[str, Any]] = {
        "tau": 0.1,
        "fusion": "code",
        "attention_scope": "batch",
        "head_dropout": 0.0,
    }

    def _check_target(self, ctx: FitContext) -> None:
        if ctx.data.card.target != "multiclass":
            raise KdbenchError(
                f"{self.name} classifies graphs into classes; {ctx.data.name} "
                f"has {ctx.data.card.target} targets"
            )

    def _net(self, ctx: FitContext, attention: bool) -> LADNet:
        p, d = ctx.params, ctx.data
        backbone = super().build(ctx, None)
        att = (
            LabelAttention(
                d.num_outputs,
                backbone.embedding_dim,
                float(p["dropout"]),
                float(p["tau"]),
                str(p["fusion"]),
                str(p["attention_scope"]),
            )
            if attention
            else None
        )
        return LADNet(backbone, d.num_outputs, float(p["head_dropout"]), att)


@register_method("lad_teacher")
class LADTeacher(_LADBase):
    """LAD-GNN's label-attentive teacher: only ever a dependency of ``lad_gnn``."""

    family = "teacher"
    description = "LAD-GNN's label-attentive teacher (sees labels; lad_gnn's dependency only)"
    dependency_only = True
    revision = 1  # 1: validation batches of batch_size graphs (see eval_batch_size)
    overrides: ClassVar[dict[str, Any]] = {**_LADBase.overrides, "lr": 0.01}

    def build(self, ctx: FitContext, state: None) -> nn.Module:
        return self._net(ctx, attention=True)

    def forward(self, model: nn.Module, batch: Batch) -> Any:
        return model(
            batch.x,
            batch.edge_index,
            batch.batch,
            batch.num_graphs,
            y=batch.y,
            edge_attr=batch.edge_attr,
        )

    def loss(self, model: nn.Module, batch: Batch, ctx: FitContext, state: None) -> Tensor:
        return supervised_loss("multiclass", self.forward(model, batch).logits, batch.y)

    def eval_batch_size(self, ctx: FitContext) -> int:
        """``batch_size``, as the official code's validation loader: with batch-wide attention
        a graph's ideal embedding depends on the other graphs of its batch, so the validation
        loss that selects the teacher's epoch is computed on batches like those it trains on
        (a 1024-graph batch would also cost a (1024·n̄)² attention matrix)."""
        return int(ctx.params["batch_size"])

    def export_batches(self, feeder: Any, ctx: FitContext, state: None) -> list[Batch]:
        """Mini-batches of ``batch_size`` *training* graphs only: with the batch-wide attention
        of the official code a graph's ideal embedding depends on the other graphs of its
        batch and their labels, so a batch holding validation or test graphs would leak their
        labels into the training graphs' targets. Other rows are exported as NaN."""
        size = int(ctx.params["batch_size"])
        return [feeder.batch_of(ids) for ids in torch.split(ctx.split.train, size)]

    def prepare(self, ctx: FitContext) -> FitContext:
        """Refuses a fit scored on test; selects on validation loss (under ``lad_paper``: on
        the official validation tenth)."""
        self._check_target(ctx)
        if ctx.evaluate_test:
            raise KdbenchError(
                "lad_teacher is fed every graph's label, so a test score would be meaningless; "
                "it is trained only as lad_gnn's teacher — run lad_gnn instead"
            )
        split = ctx.split
        if "val_official" in split.parts:
            split = dataclasses.replace(split, val=split.parts["val_official"])
        return dataclasses.replace(ctx, split=split, evaluator=Evaluator("nll"))

    def finish(self, result: FitResult, ctx: FitContext, state: None) -> FitResult:
        """Exports ``g`` (of the training graphs only, :meth:`export_batches`), not the
        logits: predictions made with the labels."""
        if result.outputs is not None:
            result.outputs.pop("logits", None)
        return result


@register_method("lad_gnn")
class LADGNN(_LADBase):
    """Student pulled towards its label-attentive teacher's pooled embeddings."""

    family = "distillation"
    description = "LAD-GNN (AAAI 2024): CE + α·MSE to a label-attentive teacher's graph embedding"
    paper_protocol = "lad_paper"
    overrides: ClassVar[dict[str, Any]] = {**_LADBase.overrides, "lr": 0.001}
    defaults: ClassVar[dict[str, Any]] = {
        **_LADBase.defaults,
        "teacher_lr": 0.01,
        "distill_weight": 1.0,
        "head": "own",
    }

    def dependencies(
        self, task: str, backbone: str, teacher: str | None, params: dict[str, Any] | None = None
    ) -> list[Dependency]:
        """Its own teacher: ``lad_teacher`` on the same backbone, with the student's
        architecture and schedule and ``teacher_lr`` (fixed parameters: no teacher cell)."""
        from benchmark.method import resolve_params
        from benchmark.models import BACKBONES

        if teacher not in (None, backbone):
            raise KdbenchError(
                f"lad_gnn's teacher is its own backbone ({backbone}) with label attention; "
                "drop --teacher (or the sweep entry's `teachers`)"
            )
        own = params or resolve_params(self, BACKBONES.get(backbone), task)
        shared = {k: own[k] for k in SHARED if k in own}
        teacher_params = resolve_params(
            LADTeacher(), BACKBONES.get(backbone), task, {**shared, "lr": own["teacher_lr"]}
        )
        return [Dependency("teacher", "lad_teacher", backbone, params=teacher_params)]

    def search_space(self, trial: Any, task: str) -> dict[str, Any]:
        """The paper's sensitivity ranges (its λ = α = ``distill_weight`` over 1e-3…1e3, τ over
        0.1…1) and the student's lr around its default; τ is shared with the teacher, so each τ
        trains (and caches) its own teacher."""
        return {
            "lr": trial.suggest_float("lr", 1e-4, 1e-2, log=True),
            "distill_weight": trial.suggest_float("distill_weight", 1e-3, 1e3, log=True),
            "tau": trial.suggest_float("tau", 0.1, 1.0),
        }

    def build(self, ctx: FitContext, state: Tensor) -> nn.Module:
        net = self._net(ctx, attention=False)
        if _choice("head", str(ctx.params["head"]), HEADS) == "shared_frozen":
            state = ctx.artifacts["teacher"].outputs["state_dict"]
            net.head.load_state_dict(
                {k[len("head.") :]: v for k, v in state.items() if k.startswith("head.")}
            )
            net.head = FrozenHead(net.head)
        return net

    def setup(self, ctx: FitContext) -> Tensor:
        """The state: the teacher's pooled embeddings :math:`g_T` [G, d] on the device (NaN
        rows but the training graphs'), checked against the student's width."""
        self._check_target(ctx)
        teacher = ctx.artifacts.get("teacher")
        if teacher is None or teacher.outputs is None or teacher.outputs.get("g") is None:
            raise KdbenchError(
                "lad_gnn needs its trained teacher in ctx.artifacts['teacher'] "
                "(run it through `kdbench fit` or `kdbench run`)"
            )
        g = teacher.outputs["g"]
        if g.shape[1] != int(ctx.params["hidden"]):
            raise KdbenchError(
                f"lad_gnn's student (hidden {ctx.params['hidden']}) and teacher (width "
                f"{g.shape[1]}) differ; set the same `hidden` for both"
            )
        return g.to(ctx.device)

    def loss(self, model: nn.Module, batch: Batch, ctx: FitContext, state: Tensor) -> Tensor:
        out = self.forward(model, batch)
        ce = supervised_loss("multiclass", out.logits, batch.y)
        weight = float(ctx.params["distill_weight"])
        return ce + weight * F.mse_loss(out.g, state[batch.ids])
