r"""The one training loop shared by every method.

For ``epochs`` epochs: every training mini-batch goes through the method's
``training_step``; every ``eval_every`` epochs the validation part is scored on the device
(:meth:`benchmark.metrics.Evaluator.score`). The checkpoint kept is the state at the epoch
with the best validation score — the earliest of equal scores, or with ``ties="last"`` the
latest (as GLNN's and CPF's official code, where a tie also restarts the patience count);
training stops once ``patience`` epochs pass without improvement. A split whose
``selection`` is ``last`` (a paper protocol, e.g. ``hu_paper``) keeps the last epoch with a
finite validation score and never stops early. Test rows are predicted
once, with the selected state, and only if ``ctx.evaluate_test``: test data never chooses
anything.

On the CPU, denormal floats are flushed to zero for the whole process
(``torch.set_flush_denormal``): softmax weights and their gradients underflow into the
denormal range (LAD-GNN's batch-wide attention), where every product costs tens of times
more; flushing changes values only below ~1e-38.

No per-step host synchronisation: losses and scores stay on the device, the best state is
copied on the device with ``torch.where`` and the early-stopping flag is a device tensor,
read every ``sync_every`` epochs (results are identical for any ``sync_every``).
"""

from __future__ import annotations

import statistics
import time
from typing import TYPE_CHECKING, Any

import torch
from torch import Tensor, nn
from torch_geometric import seed_everything

from benchmark.errors import KdbenchError
from benchmark.fit_context import LOOP_DEFAULTS, TRAIN_DEFAULTS, FitContext, FitResult
from benchmark.train.feeders import make_feeder

if TYPE_CHECKING:  # LoopMethod.fit calls train(): the loop never imports it at run time
    from benchmark.train.loop_method import LoopMethod

__all__ = [
    "LOOP_DEFAULTS",
    "TRAIN_DEFAULTS",
    "BestState",
    "export_outputs",
    "predict_part",
    "train",
]


class BestState:
    """Keeps, on the device, the model state at the best validation score so far.

    ``update(epoch, score)`` records ``score`` (0-d tensor) and, where it beats the best by the
    evaluator's direction (``ties="last"``: or equals it) and early stopping has not fired,
    copies the current state; all without leaving the device (on the CPU, where reading the
    flag is free, the state is copied only when it improved). A NaN score never counts.
    """

    def __init__(
        self, model: nn.Module, higher_is_better: bool, patience: int | None, ties: str = "first"
    ) -> None:
        if ties not in ("first", "last", "always"):
            raise KdbenchError(
                f"ties must be 'first' or 'last', not {ties!r}; fix it with `--set ties=first`"
            )
        self.always = ties == "always"  # keep every epoch: the last one wins
        self.model = model
        self.sign = 1.0 if higher_is_better else -1.0
        self.patience = patience
        self.keep_last = ties == "last"
        params = list(model.state_dict(keep_vars=True).values())
        dev = params[0].device if params else torch.device("cpu")
        self.on_cpu = dev.type == "cpu"
        self.state = {k: v.detach().clone() for k, v in model.state_dict().items()}
        self.best = torch.tensor(float("-inf"), device=dev)
        self.best_epoch = torch.tensor(-1, device=dev)
        self.active = torch.tensor(True, device=dev)
        self.scores: list[Tensor] = []

    @torch.no_grad()
    def update(self, epoch: int, score: Tensor) -> None:
        self.scores.append(score.detach())
        signed = torch.nan_to_num(score * self.sign, nan=float("-inf"))
        improved = signed > self.best
        if self.always:
            improved = signed > float("-inf")
        elif self.keep_last:
            improved |= (signed == self.best) & (signed > float("-inf"))
        improved &= self.active
        if self.on_cpu:  # reading a CPU flag costs nothing: copy only on improvement
            if bool(improved):
                for key, value in self.model.state_dict().items():
                    self.state[key].copy_(value)
        else:
            for key, value in self.model.state_dict().items():
                self.state[key].copy_(torch.where(improved, value.detach(), self.state[key]))
        self.best = torch.where(improved, signed, self.best)
        self.best_epoch = torch.where(
            improved, torch.full_like(self.best_epoch, epoch), self.best_epoch
        )
        if self.patience is not None:
            self.active &= (epoch - self.best_epoch) < self.patience

    def restore(self) -> int:
        """Load the best state into the model; returns the best epoch (-1: never improved)."""
        self.model.load_state_dict(self.state)
        return int(self.best_epoch)


def _cuda_sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


@torch.no_grad()
def predict_part(
    method: LoopMethod, model: nn.Module, feeder: Any, part: str, state: Any = None
) -> tuple[Tensor, Tensor]:
    """(targets, scores) of every row of ``part``, concatenated on the device (``state``: the
    fit's, for the method's :meth:`~benchmark.train.loop_method.LoopMethod.predict`)."""
    model.eval()
    ys, preds = [], []
    for batch in feeder.eval_batches(part):
        preds.append(method.predict(model, batch, state))
        ys.append(batch.y)
    return torch.cat(ys), torch.cat(preds)


def _latency_ms(
    method: LoopMethod, model: nn.Module, feeder: Any, repeats: int, state: Any
) -> float:
    """Median wall time of predicting the test part (the full graph for node tasks)."""
    times = []
    for _ in range(repeats):
        _cuda_sync(feeder.y.device)
        t = time.perf_counter()
        predict_part(method, model, feeder, "test", state)
        _cuda_sync(feeder.y.device)
        times.append((time.perf_counter() - t) * 1e3)
    return statistics.median(times)


@torch.no_grad()
def export_outputs(
    method: LoopMethod, model: nn.Module, feeder: Any, ctx: FitContext, state: Any = None
) -> dict[str, Any]:
    """The model's logits and embeddings for every node or graph, in dataset order, on the
    CPU; rows of items that :meth:`~benchmark.train.loop_method.LoopMethod.export_batches`
    leaves out are NaN."""
    model.eval()
    ids, logits, hs, gs = [], [], [], []
    for batch in method.export_batches(feeder, ctx, state):
        out = method.forward(model, batch)
        ids.append(batch.ids)
        logits.append(out.logits)
        (gs if out.g is not None else hs).append(out.g if out.g is not None else out.h)
    order = torch.cat(ids).cpu()
    n = int(feeder.y.shape[0])

    def placed(parts: list[Tensor]) -> Tensor:
        rows = torch.cat(parts).cpu()
        if order.numel() == n and torch.equal(order, torch.arange(n)):
            return rows
        full = torch.full((n, *rows.shape[1:]), torch.nan, dtype=rows.dtype)
        full[order] = rows
        return full

    res: dict[str, Any] = {"logits": placed(logits)}
    if hs:
        res["h"] = placed(hs)
    if gs:
        res["g"] = placed(gs)
    res["state_dict"] = {k: v.detach().cpu() for k, v in model.state_dict().items()}
    return res


def train(method: LoopMethod, ctx: FitContext) -> FitResult:
    """Train ``method`` on ``ctx`` with the shared loop (see the module docstring): the
    method's :meth:`~benchmark.train.loop_method.LoopMethod.prepare` and ``setup`` first
    (before the seed), then its hooks, each given the state ``setup`` returned."""
    if ctx.device.type == "cpu":
        torch.set_flush_denormal(True)
    ctx = method.prepare(ctx)
    state = method.setup(ctx)
    p = ctx.params
    seed_everything(ctx.seed)
    feeder = make_feeder(
        ctx.data,
        ctx.split,
        ctx.device,
        batch_size=int(p["batch_size"]),
        seed=ctx.seed,
        eval_batch_size=method.eval_batch_size(ctx),
    )
    model = method.build(ctx, state).to(ctx.device)
    optimizer = method.configure_optimizer(model, ctx, state)
    ev = ctx.evaluator
    patience = p.get("patience")
    last_epoch = ctx.split.selection == "last"
    if last_epoch:
        patience = None
    elif ctx.split.selection != "val":
        raise KdbenchError(f"split selection must be 'val' or 'last', not {ctx.split.selection!r}")
    best = BestState(
        model,
        ev.higher_is_better,
        int(patience) if patience else None,
        "always" if last_epoch else str(p.get("ties", "first")),
    )
    epochs, eval_every = int(p["epochs"]), int(p.get("eval_every", 1))
    sync_every = int(p.get("sync_every", 10))
    losses: list[Tensor] = []
    val_curve: list[float] = []
    eval_epochs: list[int] = []
    reported = 0
    epochs_run = 0
    start = time.perf_counter()
    for epoch in range(epochs):
        model.train()
        total = torch.zeros((), device=ctx.device)
        for batch in method.train_batches(feeder, ctx, state):
            total = total + method.training_step(model, batch, optimizer, ctx, state)
        losses.append(total)
        epochs_run = epoch + 1
        if epochs_run % eval_every == 0 or epochs_run == epochs:
            y, pred = predict_part(method, model, feeder, "val", state)
            finite = torch.isfinite(pred).all()  # NaN/inf scores never get selected
            best.update(epoch, torch.where(finite, ev.score(y, pred), torch.nan))
            eval_epochs.append(epoch)
        if epochs_run % sync_every == 0 or epochs_run == epochs:
            stopped = not bool(best.active)
            # early stopping fired at best_epoch + patience: drop the epochs run past it, so
            # that curves and counts do not depend on sync_every
            last = int(best.best_epoch) + int(patience) if stopped else epoch
            new = torch.stack(best.scores[reported:]).tolist() if best.scores[reported:] else []
            for value, at in zip(new, eval_epochs[reported:]):
                if at > last:
                    break
                if ctx.report is not None:
                    ctx.report(at, value)
                val_curve.append(value)
            reported = len(best.scores)
            if ctx.on_epoch is not None:
                ctx.on_epoch(min(epochs_run, last + 1), epochs)
            if stopped:
                epochs_run = last + 1
                del losses[epochs_run:]
                break
    _cuda_sync(ctx.device)
    train_seconds = time.perf_counter() - start
    best_epoch = best.restore()
    if best_epoch < 0:
        raise KdbenchError(
            f"{method.name}/{ctx.backbone} on {ctx.data.name}: the validation score was never "
            "finite (training diverged to NaN); lower the learning rate"
        )
    model = method.inference_model(model, ctx, state)
    y_val, p_val = predict_part(method, model, feeder, "val", state)
    result = FitResult(
        val=ev.eval(y_val, p_val),
        test=None,
        best_epoch=best_epoch,
        epochs_run=epochs_run,
        train_seconds=train_seconds,
        num_params=sum(t.numel() for t in model.parameters()),
        val_curve=val_curve,
        loss_curve=torch.stack(losses).tolist(),
        val_pred=p_val.cpu(),
    )
    if ctx.evaluate_test:
        y_test, p_test = predict_part(method, model, feeder, "test", state)
        result.test, result.test_pred = ev.eval(y_test, p_test), p_test.cpu()
        repeats = int(p.get("latency_repeats", 5))
        result.inference_ms = _latency_ms(method, model, feeder, repeats, state)
    if ctx.export_outputs:
        result.outputs = export_outputs(method, model, feeder, ctx, state)
    teacher = ctx.artifacts.get("teacher")
    if teacher is not None and hasattr(teacher, "num_params"):
        result.teacher_params = int(teacher.num_params)
    return method.finish(result, ctx, state)
