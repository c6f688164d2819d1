r"""``kd``: standard knowledge distillation with one global temperature (Hinton et al. 2015).

The baseline every distillation row is judged against ("FT" in the LTD paper). A frozen,
tuned ``vanilla`` teacher of the cell's teacher backbone gives logits :math:`z^T`; the student
(the cell's backbone) minimises

.. math::
    L = \frac{1}{|V_{train}|}\sum_{i\in V_{train}} \mathrm{CE}(z^S_i, y_i)
      + \lambda\, T^2\, \frac{1}{|V_D|}\sum_{i\in V_D}
        \mathrm{KL}\big(\mathrm{softmax}(z^T_i/T)\,\Vert\,\mathrm{softmax}(z^S_i/T)\big)

with :math:`V_D` = every node the teacher observed (node tasks: all of them, transductive as
CPF/GLNN/LTD; under the ``inductive`` protocol the hidden test nodes are left out) or the
graphs of the training mini-batch (graph tasks). ``temperature`` :math:`T` and
``kd_weight`` :math:`\lambda` are tuned; ``teacher_layers`` / ``teacher_hidden`` (0: the
teacher cell's tuned depth and width) give a deeper or wider teacher than the tuned one.
Multi-class targets only (the soft labels are a softmax). The teacher is resolved by the
runner (trained once per dataset/split/seed/configuration and cached); it never sees test
labels, and the student's epoch is chosen on validation like every method's.
"""

from __future__ import annotations

from typing import Any, ClassVar

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from benchmark.errors import KdbenchError
from benchmark.method import Dependency, FitContext, FitResult, LoopMethod
from benchmark.registry import register_method
from benchmark.train.feeders import Batch
from benchmark.train.losses import supervised_loss


def kd_loss(student: Tensor, teacher: Tensor, temperature: float) -> Tensor:
    r""":math:`T^2\,\mathrm{KL}(\mathrm{softmax}(t/T)\Vert\mathrm{softmax}(s/T))`, averaged
    over rows. Shapes: ``student``, ``teacher`` [n, C] logits → scalar."""
    t = temperature
    return F.kl_div(F.log_softmax(student / t, -1), F.log_softmax(teacher / t, -1),
                    log_target=True, reduction="batchmean") * t * t  # fmt: skip


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


@register_method("kd")
class KD(LoopMethod):
    """Student = backbone trained on labels + a tempered KL to a frozen vanilla teacher."""

    tasks = ("node", "graph")
    family = "kd-baseline"
    description = "standard KD (Hinton 2015): CE + λ·T²·KL to a frozen vanilla teacher, one T"
    defaults: ClassVar[dict[str, Any]] = {"temperature": 2.0, "kd_weight": 1.0,
                                          "teacher_layers": 0, "teacher_hidden": 0}  # fmt: skip

    def dependencies(self, task: str, backbone: str, teacher: str | None,
                     params: dict[str, Any] | None = None) -> list[Dependency]:  # fmt: skip
        """The tuned ``vanilla`` teacher of the teacher backbone; ``teacher_layers`` /
        ``teacher_hidden`` (0: as tuned) make it deeper or wider than its cell's."""
        own = params or self.defaults
        changes = {arch: int(own[key]) for key, arch in (("teacher_layers", "layers"),
                                                         ("teacher_hidden", "hidden"))
                   if own.get(key)}  # fmt: skip
        return [Dependency("teacher", "vanilla", teacher or backbone,
                           overrides=changes or None)]  # fmt: skip

    def search_space(self, trial: Any, task: str) -> dict[str, Any]:
        return {
            "lr": trial.suggest_float("lr", 1e-3, 5e-2, log=True),
            "temperature": trial.suggest_float("temperature", 0.5, 10.0, log=True),
            "kd_weight": trial.suggest_float("kd_weight", 0.1, 10.0, log=True),
        }

    def fit(self, ctx: FitContext) -> FitResult:
        self._teacher_logits = teacher_logits(ctx, self.name)  # moved to the device once
        self._distil_rows = observed_rows(ctx)
        return super().fit(ctx)

    def pair(self, logits: Tensor, batch: Batch) -> tuple[Tensor, Tensor]:
        """(student, teacher) logits of the distillation rows: node task, every observed node
        (all of them unless the split hides some); graph task, the batch's graphs."""
        all_t = self._teacher_logits
        if batch.rows is None:
            return logits, all_t[batch.ids]
        rows = self._distil_rows
        return (logits, all_t) if rows is None else (logits[rows], all_t[rows])

    def loss(self, model: nn.Module, batch: Batch, ctx: FitContext) -> Tensor:
        logits = self.forward(model, batch).logits
        ce = supervised_loss("multiclass", batch.pick(logits), batch.y)
        student, teacher = self.pair(logits, batch)
        p = ctx.params
        return ce + p["kd_weight"] * kd_loss(student, teacher, p["temperature"])
