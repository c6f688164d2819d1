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

from benchmark.registry import register_method
from benchmark.train.distill import KDStudent


@register_method("kd")
class KD(KDStudent):
    """Student = backbone trained on labels + a tempered KL to a frozen vanilla teacher
    (teacher, loss and distillation rows: :class:`benchmark.train.distill.KDStudent`)."""

    tasks = ("node", "graph")
    family = "kd-baseline"
    description = "standard KD (Hinton 2015): CE + λ·T²·KL to a frozen vanilla teacher, one T"
    defaults: ClassVar[dict[str, Any]] = {
        "temperature": 2.0,
        "kd_weight": 1.0,
        "teacher_layers": 0,
        "teacher_hidden": 0,
    }

    def search_space(self, trial: Any, task: str) -> dict[str, Any]:
        return {
            "lr": trial.suggest_float("lr", 1e-3, 5e-2, log=True),
            "temperature": trial.suggest_float("temperature", 0.5, 10.0, log=True),
            "kd_weight": trial.suggest_float("kd_weight", 0.1, 10.0, log=True),
        }
