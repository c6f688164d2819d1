"""The method contract: what a registered method declares, receives and returns.

A method is a class registered with ``@register_method(name)`` in a file of ``methods/``. It
declares the tasks it supports, its hyper-parameter defaults and search space, and the
artefacts it depends on (teachers, pre-trained encoders), which the runner resolves *before*
``fit`` and passes in ``ctx.artifacts``. ``fit`` trains on ``ctx.split.train``, selects on
``ctx.split.val`` only, and touches ``ctx.split.test`` only when ``ctx.evaluate_test`` is set
(final seeds, never tuning trials). Most methods subclass :class:`LoopMethod` and supply a loss
or a step hook to the one shared training loop (:mod:`benchmark.train.loop`).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import TYPE_CHECKING, Any, ClassVar

import torch
from torch import Tensor, nn

from benchmark.errors import KdbenchError
from benchmark.fit_context import Dependency, FitContext, FitResult

__all__ = ["Dependency", "FitContext", "FitResult", "LoopMethod", "Method", "adam",
           "resolve_params"]

if TYPE_CHECKING:
    import optuna

    from benchmark.train.feeders import Batch


class Method:
    """Base of every registered method (see the module docstring)."""

    name: ClassVar[str] = ""
    tasks: ClassVar[tuple[str, ...]] = ("node", "graph")
    description: ClassVar[str] = ""
    #: the leaderboard's method-family filter: vanilla, kd-baseline, distillation, mlp-student,
    #: pretraining (or other).
    family: ClassVar[str] = "other"
    #: hyper-parameters the method adds to the training and backbone ones, with defaults.
    defaults: ClassVar[dict[str, Any]] = {}
    #: the backbones the method can use (``None``: every one; GLNN's student: only the MLP).
    backbones: ClassVar[tuple[str, ...] | None] = None
    #: the dataset families (a card's ``family``) the method applies to (``None``: every one;
    #: pre-trained molecular encoders: ``molecular``).
    families: ClassVar[tuple[str, ...] | None] = None
    #: the split protocol ``--protocol paper`` means for this method (what its official code
    #: did; see ``benchmark.data.splits.PAPER_PROTOCOLS``), ``None`` if it has none.
    paper_protocol: ClassVar[str | None] = None
    #: ``faithful`` (from the paper's math, checked against the official code where there is
    #: one) or ``reimplementation`` (rebuilt from a partial description: the leaderboard marks
    #: the row).
    fidelity: ClassVar[str] = "faithful"
    #: data beyond the dataset that the method learns from (a pre-training corpus), ``None``
    #: if none: the leaderboard marks the row, as OGB's "external data" column.
    external_data: ClassVar[str | None] = None
    #: trained only as another method's dependency (LAD-GNN's label-attentive teacher, which
    #: is fed the labels): never a sweep cell or a leaderboard row, never scored on test.
    dependency_only: ClassVar[bool] = False
    #: bumped when a change alters what a trained run of this method exports as a
    #: dependency, so that cached artefacts of the earlier code are not reused (0: not part of
    #: the cache key, which keeps the keys of every unchanged method as they were).
    revision: ClassVar[int] = 0

    def dependencies(
        self, task: str, backbone: str, teacher: str | None,
        params: dict[str, Any] | None = None,
    ) -> list[Dependency]:  # fmt: skip
        """Artefacts to resolve before ``fit`` for a cell with this ``backbone`` and
        ``teacher`` backbone (``None`` unless the method distils); none by default.
        ``params`` are the cell's resolved hyper-parameters when known (``None`` while a sweep
        is expanded): a dependency with fixed ``params`` may derive them from its student's
        (LAD-GNN's teacher shares its student's architecture)."""
        return []

    @property
    def needs_teacher(self) -> bool:
        return type(self).dependencies is not Method.dependencies

    def search_space(self, trial: optuna.Trial, task: str) -> dict[str, Any]:
        """Optuna suggestions for this method's own hyper-parameters (sweeps may override)."""
        return {}

    def fit(self, ctx: FitContext) -> FitResult:
        raise NotImplementedError


class LoopMethod(Method):
    """A method trained by the shared loop; override hooks, not the loop.

    Hooks, in the order the loop calls them: :meth:`build` (the model whose state is
    checkpointed and evaluated), :meth:`configure_optimizer`, then per mini-batch
    :meth:`training_step` (default: zero-grad, :meth:`loss`, backward, step), and
    :meth:`predict` for validation/test rows.
    """

    def fit(self, ctx: FitContext) -> FitResult:
        from benchmark.train.loop import train

        return train(self, ctx)

    def build(self, ctx: FitContext) -> nn.Module:
        from benchmark.models import build_backbone

        d = ctx.data
        # a transductive node task has one graph: layers may cache its normalisation
        static = d.task == "node" and "hidden" not in ctx.split.parts
        return build_backbone(
            ctx.backbone, d.num_features, d.num_outputs, d.task, ctx.params,
            categorical=d.categorical, static_graph=static,
            edge_categorical=d.edge_categorical if ctx.params.get("edge_features") else None,
        )  # fmt: skip

    def train_batches(self, feeder: Any, ctx: FitContext) -> Iterator[Batch]:
        """The mini-batches of one training epoch (default: the feeder's)."""
        return feeder.train_batches()

    def eval_batch_size(self, ctx: FitContext) -> int:
        """Graphs per validation/test batch of a graph task (default 1024: the outputs of
        a model whose graphs do not interact do not depend on it)."""
        return 1024

    def export_batches(self, feeder: Any, ctx: FitContext) -> Iterable[Batch]:
        """The batches whose outputs a dependency exports (default: every node or graph, in
        order); items left out are exported as NaN rows."""
        return feeder.all_batches()

    def inference_model(self, model: nn.Module, ctx: FitContext) -> nn.Module:
        """The module that answers once training ends, after the best state is restored: it is
        scored on validation and test, timed and counted (default: ``model`` itself; FreeKD:
        the peer chosen on validation)."""
        return model

    def configure_optimizer(self, model: nn.Module, ctx: FitContext) -> torch.optim.Optimizer:
        """Adam with the ``lr`` and ``weight_decay`` of ``ctx.params`` (fused kernel)."""
        return adam(model.parameters(), ctx.params["lr"], ctx.params["weight_decay"])

    def forward(self, model: nn.Module, batch: Batch) -> Any:
        if batch.edge_attr is None:  # models without edge features need not accept them
            return model(batch.x, batch.edge_index, batch.batch, batch.num_graphs)
        return model(batch.x, batch.edge_index, batch.batch, batch.num_graphs,
                     edge_attr=batch.edge_attr)

    def predict(self, model: nn.Module, batch: Batch) -> Tensor:
        """Scores of the batch's rows: [rows, C] (or [rows, T])."""
        return batch.pick(self.forward(model, batch).logits)

    def loss(self, model: nn.Module, batch: Batch, ctx: FitContext) -> Tensor:
        from benchmark.train.losses import supervised_loss

        return supervised_loss(ctx.data.card.target, self.predict(model, batch), batch.y)

    def training_step(
        self, model: nn.Module, batch: Batch, optimizer: torch.optim.Optimizer, ctx: FitContext
    ) -> Tensor:
        """One update; returns the detached loss (a device tensor: no host sync)."""
        optimizer.zero_grad(set_to_none=True)
        loss = self.loss(model, batch, ctx)
        loss.backward()
        optimizer.step()
        return loss.detach()


def adam(params: Any, lr: float, weight_decay: float = 0.0) -> torch.optim.Optimizer:
    """Adam with the fused kernel (one kernel per step on CPU and CUDA: ~7× faster than the
    per-tensor loop on CPU for GNN-sized models), falling back where it is unsupported."""
    params = list(params)
    try:
        return torch.optim.Adam(params, lr=lr, weight_decay=weight_decay, fused=True)
    except (RuntimeError, ValueError):
        return torch.optim.Adam(params, lr=lr, weight_decay=weight_decay)


def resolve_params(
    method: Method, backbone_cls: type, task: str, overrides: dict[str, Any] | None = None
) -> dict[str, Any]:
    """Training defaults ∪ backbone defaults ∪ method defaults ∪ preset ∪ ``overrides``.

    ``overrides["preset"]`` names a preset of :mod:`benchmark.models.presets` (a paper's
    settings for this backbone). An override naming no known hyper-parameter raises, listing
    the known ones.
    """
    from benchmark.models.backbones import ARCH_KEYS
    from benchmark.models.presets import preset_params
    from benchmark.train.loop import TRAIN_DEFAULTS

    overrides = dict(overrides or {})
    preset = overrides.get("preset")
    backbone_name = next((k for k, v in _backbone_items() if v is backbone_cls), None)
    chosen = preset_params(str(preset), backbone_name or backbone_cls.__name__) if preset else {}
    params = {**TRAIN_DEFAULTS[task], **backbone_cls.defaults.get(task, {}),
              **method.defaults, **chosen}  # fmt: skip
    known = set(params) | set(ARCH_KEYS) | {"preset"}
    unknown = sorted(set(overrides) - known)
    if unknown:
        raise KdbenchError(
            f"unknown hyper-parameter(s) {', '.join(unknown)} for method '{method.name}'; "
            f"known: {', '.join(sorted(known))}"
        )
    return {**params, **overrides}


def _backbone_items() -> list[tuple[str, type]]:
    from benchmark.models.backbones import BACKBONES

    return [(name, BACKBONES.get(name)) for name in BACKBONES.names()]
