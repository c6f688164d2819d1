"""``LoopMethod``: a method trained by the shared loop, through hooks that receive a per-fit
state instead of keeping one on the method.

:func:`benchmark.train.loop.train` calls, for one fit:

1. :meth:`~LoopMethod.prepare` ``(ctx) -> ctx``: the context to train on (default: as
   given; NOSMOG adds position features to the data, LAD-GNN's teacher selects on
   validation loss);
2. :meth:`~LoopMethod.setup` ``(ctx) -> state``: checks and whatever the fit keeps until it
   ends (a teacher's logits on the device, FreeKD's masks, LTD's neighbourhood entropies;
   later hooks may add to it, as LTD's ``configure_optimizer`` adds its temperature network);
   ``None`` by default. Called before the seed is set and the model is built, so it must
   not draw random numbers (``eval_batch_size(ctx)``, a property of the data, takes no
   state);
3. every other hook with that ``state`` as its last argument: :meth:`~LoopMethod.build` (the
   model whose state is checkpointed and evaluated), :meth:`~LoopMethod.configure_optimizer`,
   per epoch :meth:`~LoopMethod.train_batches` and per mini-batch
   :meth:`~LoopMethod.training_step` (default: zero-grad, :meth:`~LoopMethod.loss`, backward,
   step), :meth:`~LoopMethod.predict` for validation and test rows,
   :meth:`~LoopMethod.inference_model` once training ends, :meth:`~LoopMethod.export_batches`
   when a dependency's outputs are exported;
4. :meth:`~LoopMethod.finish` ``(result, ctx, state) -> result``: the method's additions to
   the :class:`~benchmark.fit_context.FitResult` (FreeKD's diagnostics).

:meth:`~LoopMethod.forward` ``(model, batch)``, the model call the hooks share, takes no state.

A method object therefore holds nothing between or during fits: two fits never share state,
and a hook's inputs are its arguments.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any

import torch
from torch import Tensor, nn

from benchmark.fit_context import FitContext, FitResult
from benchmark.method import Method
from benchmark.train.feeders import Batch
from benchmark.train.losses import supervised_loss
from benchmark.train.optim import adam

__all__ = ["LoopMethod"]


class LoopMethod(Method):
    """A method trained by the shared loop; override hooks, not the loop (module docstring)."""

    def fit(self, ctx: FitContext) -> FitResult:
        from benchmark.train.loop import train

        return train(self, ctx)

    def prepare(self, ctx: FitContext) -> FitContext:
        """The context the loop trains on (default: ``ctx`` itself)."""
        return ctx

    def setup(self, ctx: FitContext) -> Any:
        """Checks and the per-fit state every later hook receives (default: ``None``)."""
        return None

    def build(self, ctx: FitContext, state: Any) -> nn.Module:
        """The cell's backbone (:func:`benchmark.models.build_backbone`)."""
        from benchmark.models import build_backbone

        d = ctx.data
        # a transductive node task has one graph: layers may cache its normalisation
        static = d.task == "node" and "hidden" not in ctx.split.parts
        return build_backbone(
            ctx.backbone,
            d.num_features,
            d.num_outputs,
            d.task,
            ctx.params,
            categorical=d.categorical,
            static_graph=static,
            edge_categorical=d.edge_categorical if ctx.params.get("edge_features") else None,
        )

    def train_batches(self, feeder: Any, ctx: FitContext, state: Any) -> Iterator[Batch]:
        """The mini-batches of one training epoch (default: the feeder's)."""
        return feeder.train_batches()

    def eval_batch_size(self, ctx: FitContext) -> int:
        """Graphs per validation/test batch of a graph task (default 1024: the outputs of
        a model whose graphs do not interact do not depend on it)."""
        return 1024

    def export_batches(self, feeder: Any, ctx: FitContext, state: Any) -> Iterable[Batch]:
        """The batches whose outputs a dependency exports (default: every node or graph, in
        order); items left out are exported as NaN rows."""
        return feeder.all_batches()

    def inference_model(self, model: nn.Module, ctx: FitContext, state: Any) -> nn.Module:
        """The module that answers once training ends, after the best state is restored: it is
        scored on validation and test, timed and counted (default: ``model`` itself; FreeKD:
        the peer chosen on validation)."""
        return model

    def configure_optimizer(
        self, model: nn.Module, ctx: FitContext, state: Any
    ) -> torch.optim.Optimizer:
        """Adam with the ``lr`` and ``weight_decay`` of ``ctx.params`` (fused kernel)."""
        return adam(model.parameters(), ctx.params["lr"], ctx.params["weight_decay"])

    def forward(self, model: nn.Module, batch: Batch) -> Any:
        """``model`` on ``batch`` (a :class:`~benchmark.models.BackboneOutput`)."""
        if batch.edge_attr is None:  # models without edge features need not accept them
            return model(batch.x, batch.edge_index, batch.batch, batch.num_graphs)
        return model(
            batch.x, batch.edge_index, batch.batch, batch.num_graphs, edge_attr=batch.edge_attr
        )

    def predict(self, model: nn.Module, batch: Batch, state: Any) -> Tensor:
        """Scores of the batch's rows: [rows, C] (or [rows, T])."""
        return batch.pick(self.forward(model, batch).logits)

    def loss(self, model: nn.Module, batch: Batch, ctx: FitContext, state: Any) -> Tensor:
        """The card's supervised loss on the batch's rows (:mod:`benchmark.train.losses`)."""
        return supervised_loss(ctx.data.card.target, self.predict(model, batch, state), batch.y)

    def training_step(
        self,
        model: nn.Module,
        batch: Batch,
        optimizer: torch.optim.Optimizer,
        ctx: FitContext,
        state: Any,
    ) -> Tensor:
        """One update; returns the detached loss (a device tensor: no host sync)."""
        optimizer.zero_grad(set_to_none=True)
        loss = self.loss(model, batch, ctx, state)
        loss.backward()
        optimizer.step()
        return loss.detach()

    def finish(self, result: FitResult, ctx: FitContext, state: Any) -> FitResult:
        """The fit's result, with the method's additions (default: as the loop made it)."""
        return result
