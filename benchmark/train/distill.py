r"""Distillation from a frozen teacher: the pieces every distilling method shares.

A distilling method declares a tuned ``vanilla`` teacher as its dependency; the runner trains
it once per dataset/split/seed/configuration, caches it and passes it in
``ctx.artifacts["teacher"]``. From its logits :math:`z^T` [n, C] (:func:`teacher_logits`) the
student learns through the tempered KL of Hinton et al. (2015), :func:`kd_loss`, on the rows
the teacher observed (:func:`observed_rows`). Two bases serve the registered methods of
``methods/``, both :class:`~benchmark.train.loop_method.LoopMethod` subclasses whose per-fit
state is a :class:`TeacherState` (the teacher's logits and the distillation rows):

* :class:`KDStudent` (``kd``): the cell's backbone as student, CE + λ·T²·KL;
* :class:`MLPStudent` (``glnn``, ``nosmog``): an MLP on node features, λ·CE + (1−λ)·T²·KL, full
  batch or GLNN's official two-pass mini-batch schedule (:class:`TermBatch`,
  :func:`node_batches`).

.. code-block:: python

    @register_method("kd")
    class KD(KDStudent): ...
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, ClassVar

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from benchmark.errors import KdbenchError
from benchmark.fit_context import Dependency, FitContext
from benchmark.train.feeders import Batch
from benchmark.train.loop_method import LoopMethod
from benchmark.train.losses import supervised_loss


def kd_loss(student: Tensor, teacher: Tensor, temperature: float) -> Tensor:
    r""":math:`T^2\,\mathrm{KL}(\mathrm{softmax}(t/T)\Vert\mathrm{softmax}(s/T))`, averaged
    over rows. Shapes: ``student``, ``teacher`` [n, C] logits → scalar."""
    t = temperature
    return (
        F.kl_div(
            F.log_softmax(student / t, -1),
            F.log_softmax(teacher / t, -1),
            log_target=True,
            reduction="batchmean",
        )
        * t
        * t
    )


def teacher_logits(ctx: FitContext, method: str) -> Tensor:
    """The cached teacher's logits for every node or graph [n, C] on ``ctx.device``, after
    checking that soft labels make sense (multi-class targets) and that the runner resolved
    the teacher; shared by every method that distils class probabilities."""
    if ctx.data.card.target != "multiclass":
        raise KdbenchError(
            f"{method} distils class probabilities; {ctx.data.name} has "
            f"{ctx.data.card.target} targets"
        )
    teacher = ctx.artifacts.get("teacher")
    if teacher is None or teacher.outputs is None:
        raise KdbenchError(
            f"{method} needs a trained teacher in ctx.artifacts['teacher'] "
            "(run it through `kdbench fit` or `kdbench run`, which resolve teachers)"
        )
    return teacher.outputs["logits"].to(ctx.device)


def observed_rows(ctx: FitContext) -> Tensor | None:
    """The nodes a node-task student may distil on, on ``ctx.device``: ``None`` (every node)
    unless the split hides some (the inductive protocol's ``parts['hidden']``)."""
    hidden = ctx.split.parts.get("hidden")
    if ctx.data.task != "node" or hidden is None:
        return None
    keep = torch.ones(ctx.data.num_items, dtype=torch.bool)
    keep[hidden] = False
    return keep.nonzero().flatten().to(ctx.device)


@dataclass
class TeacherState:
    """A distilling fit's state: the frozen teacher's ``logits`` [n, C] on the device
    (:func:`teacher_logits`) and the distillation ``rows`` (:func:`observed_rows`: ``None`` =
    every node or graph)."""

    logits: Tensor
    rows: Tensor | None


class KDStudent(LoopMethod):
    r"""A student (the cell's backbone) trained on labels and a frozen teacher's soft labels:

    .. math::
        L = \frac{1}{|V_{train}|}\sum_{i\in V_{train}} \mathrm{CE}(z^S_i, y_i)
          + \lambda\, T^2\, \frac{1}{|V_D|}\sum_{i\in V_D}
            \mathrm{KL}\big(\mathrm{softmax}(z^T_i/T)\,\Vert\,\mathrm{softmax}(z^S_i/T)\big)

    with :math:`V_D` the distillation rows of :meth:`pair`, ``kd_weight`` :math:`\lambda` and
    ``temperature`` :math:`T` from ``ctx.params``. The teacher is the tuned ``vanilla`` run of
    the teacher backbone (:meth:`dependencies`); :meth:`setup` moves its logits [n, C] to the
    device once and returns them with the observed rows (a :class:`TeacherState`)."""

    def dependencies(
        self, task: str, backbone: str, teacher: str | None, params: dict[str, Any] | None = None
    ) -> list[Dependency]:
        """The tuned ``vanilla`` teacher of the teacher backbone; ``teacher_layers`` /
        ``teacher_hidden`` (0 or absent: as tuned) make it deeper or wider than its cell's."""
        own = params or self.defaults
        changes = {
            arch: int(own[key])
            for key, arch in (("teacher_layers", "layers"), ("teacher_hidden", "hidden"))
            if own.get(key)
        }
        return [Dependency("teacher", "vanilla", teacher or backbone, overrides=changes or None)]

    def setup(self, ctx: FitContext) -> TeacherState:
        """The teacher's logits on the device (checked) and the distillation rows."""
        return TeacherState(teacher_logits(ctx, self.name), observed_rows(ctx))

    @staticmethod
    def pair(logits: Tensor, batch: Batch, state: TeacherState) -> tuple[Tensor, Tensor]:
        """(student, teacher) logits of the distillation rows: node task, every observed node
        (all of them unless the split hides some); graph task, the batch's graphs."""
        all_t = state.logits
        if batch.rows is None:
            return logits, all_t[batch.ids]
        rows = state.rows
        return (logits, all_t) if rows is None else (logits[rows], all_t[rows])

    def loss(self, model: nn.Module, batch: Batch, ctx: FitContext, state: TeacherState) -> Tensor:
        logits = self.forward(model, batch).logits
        ce = supervised_loss("multiclass", batch.pick(logits), batch.y)
        student, teacher = self.pair(logits, batch, state)
        p = ctx.params
        return ce + p["kd_weight"] * kd_loss(student, teacher, p["temperature"])


@dataclass
class TermBatch(Batch):
    """A node mini-batch of the official schedule: ``x`` [b, F] are the batch's own features
    (the student needs no graph), ``ids`` [b] their node ids, ``term`` which loss it feeds
    (``"label"``: λ·CE on ``y``; ``"distil"``: (1−λ)·T²·KL to the teacher)."""

    term: str = "distil"


def node_batches(ids: Tensor, batch_size: int) -> list[Tensor]:
    """The official code's mini-batches of ``ids`` [n]: a shuffle cut into
    ``max(1, n // batch_size)`` batches of ``min(n, batch_size)`` ids, the remainder dropped."""
    n = ids.numel()
    count, size = max(1, n // batch_size), min(n, batch_size)
    order = ids[torch.randperm(n, device=ids.device)[: count * size]]
    return list(order.view(count, size))


class MLPStudent(KDStudent):
    r"""GLNN's MLP student on node features, distilled from a GNN teacher:

    .. math::
        L = \lambda\,\frac{1}{|V_{tr}|}\sum_{v\in V_{tr}}\mathrm{CE}(f(x_v), y_v)
          + (1-\lambda)\,T^2\,\frac{1}{|V_D|}\sum_{v\in V_D}
            \mathrm{KL}\big(\mathrm{softmax}(z^T_v/T)\,\Vert\,\mathrm{softmax}(f(x_v)/T)\big)

    (``label_weight`` :math:`\lambda`, ``temperature`` :math:`T`, :math:`V_D` every observed
    node). ``batch_size=0``: one full-batch step per epoch on :math:`L`. ``batch_size`` > 0:
    GLNN's official schedule, a pass over label mini-batches of the training nodes
    (:math:`\lambda\,\mathrm{CE}`), then one over distillation mini-batches of the observed
    nodes (:math:`(1-\lambda)\,T^2\,\mathrm{KL}`), each of :func:`node_batches`. ``defaults``
    and the search space are GLNN's (official code, Cora); NOSMOG adds its own on top."""

    tasks = ("node",)
    backbones = ("MLP",)
    family = "mlp-student"
    defaults: ClassVar[dict[str, Any]] = {"label_weight": 0.0, "temperature": 1.0}
    overrides: ClassVar[dict[str, Any]] = {
        "hidden": 128,
        "layers": 2,
        "dropout": 0.6,
        "lr": 0.01,
        "weight_decay": 5e-3,
        "epochs": 500,
        "patience": 50,
        "batch_size": 0,
    }

    def dependencies(
        self, task: str, backbone: str, teacher: str | None, params: dict[str, Any] | None = None
    ) -> list[Dependency]:
        """The GNN teacher; GraphSAGE (GLNN's paper's) unless another one is named (a sweep
        entry without ``teachers`` passes the student's own backbone, the MLP)."""
        return [
            Dependency(
                "teacher", "vanilla", teacher if teacher not in (None, backbone) else "GraphSAGE"
            )
        ]

    def search_space(self, trial: Any, task: str) -> dict[str, Any]:
        return {
            "lr": trial.suggest_float("lr", 1e-3, 5e-2, log=True),
            "weight_decay": trial.suggest_float("weight_decay", 1e-6, 1e-2, log=True),
            "dropout": trial.suggest_float("dropout", 0.0, 0.8),
            "label_weight": trial.suggest_float("label_weight", 0.0, 1.0),
        }

    def train_batches(self, feeder: Any, ctx: FitContext, state: TeacherState) -> Iterator[Batch]:
        """Full batch (``batch_size=0``): the feeder's training part. Otherwise the official
        schedule: label mini-batches of the training nodes, then distillation mini-batches
        of every observed node."""
        size = int(ctx.params["batch_size"])
        if size <= 0:
            yield from feeder.train_batches()
            return
        x, y, split = feeder.graph.x, feeder.y, feeder.split
        rows = state.rows
        observed = rows if rows is not None else torch.arange(x.size(0), device=x.device)
        for term, ids in (("label", split.train), ("distil", observed)):
            for chunk in node_batches(ids, size):
                yield TermBatch(
                    x[chunk], feeder.graph.edge_index[:, :0], y[chunk], chunk, term=term
                )

    def student_loss(
        self, logits: Tensor, batch: Batch, params: dict[str, Any], state: TeacherState
    ) -> Tensor:
        """The batch's term of :math:`L` from the student's ``logits`` [rows of the batch, C]:
        a :class:`TermBatch`'s λ·CE or (1−λ)·T²·KL, else the full-batch sum (the soft term
        alone at λ = 0)."""
        lam, temp = float(params["label_weight"]), float(params["temperature"])
        if isinstance(batch, TermBatch):
            if batch.term == "label":
                return lam * supervised_loss("multiclass", logits, batch.y)
            return (1 - lam) * kd_loss(logits, state.logits[batch.ids], temp)
        student, teacher = self.pair(logits, batch, state)
        soft = kd_loss(student, teacher, temp)
        if lam == 0.0:
            return soft
        return lam * supervised_loss("multiclass", batch.pick(logits), batch.y) + (1 - lam) * soft

    def loss(self, model: nn.Module, batch: Batch, ctx: FitContext, state: TeacherState) -> Tensor:
        return self.student_loss(self.forward(model, batch).logits, batch, ctx.params, state)
