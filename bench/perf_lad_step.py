r"""Where one LAD-GNN training step's time goes on a MUTAG-sized mini-batch, and how the step
scales with the batch: the evidence behind ``docs/performance.md``'s "what is left" for the
5× target of issue #31 (timing only: nothing here is a result).

    python bench/perf_lad_step.py [--dataset MUTAG] [--multiples 1 2 5 10] [--repeats 100]
        [--threads 1] [--compile] [--pause PID ...] [--out docs/results/perf_lad_step.json]

Both roles are built as the loop builds them (:func:`benchmark.fitting.plan_fit`, the
method's ``prepare``/``setup``/``build``/``configure_optimizer``; GCN, the defaults, fold 0,
seed 0, the teacher with the parameters ``lad_gnn`` gives it). The student's distillation
targets are random rows of the teacher's width (their values do not change the work). One
mini-batch is the first ``batch_size`` training graphs of fold 0; each timing is the median
over 5 blocks of ``--repeats`` calls of the method's own ``training_step`` (zero_grad,
forward, loss, backward, fused Adam), after 20 untimed calls.

* **split** (multiple 1): the step's forward (``loss``), backward and optimiser separately;
  for the teacher also its label attention alone (:meth:`methods.lad_gnn.LabelAttention.pooled`,
  forward and backward, on the batch's own node embeddings).
* **scaling** (student): the same batch repeated ``m`` times (``m`` × 32 graphs in one step:
  the same operations on ``m`` times the rows). ``step(m) / m`` bounds from below what one
  model's step would cost if ``m`` models' batches shared one step (a loop training several
  folds as one batched model, before that loop's own overhead): a step that were mostly fixed
  per-operation cost would fall towards 0 per model; one that is mostly arithmetic on the
  rows stays near ``step(1)``. (The teacher's batch-wide attention is N×N over the batch, so a
  repeated batch would not be what batched models do; its scaling is not reported.)
* **compiled** (``--compile``, student): the same step with the model's forward compiled by
  ``torch.compile(dynamic=True)`` (batches differ in size; the inductor backend, the loss
  and the fused Adam as in the step): the seconds of the first step (compilation, with an
  empty inductor cache) and the step's milliseconds after it.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch

sys.path.insert(0, str(Path(__file__).parent))
from _perf import paused, provenance, write_report

ROOT = Path(__file__).resolve().parents[1]


def median_ms(fn: Callable[[], Any], repeats: int, blocks: int = 5) -> float:
    """Median over ``blocks`` of the mean milliseconds per call of ``fn`` (``repeats`` calls
    per block), after 20 untimed calls."""
    for _ in range(20):
        fn()
    per_block = []
    for _ in range(blocks):
        t = time.perf_counter()
        for _ in range(repeats):
            fn()
        per_block.append((time.perf_counter() - t) / repeats * 1e3)
    return round(statistics.median(per_block), 4)


def build(role: str, dataset: str, backbone: str) -> dict[str, Any]:
    """The role's method, context, state, model, optimiser and feeder, as the loop makes them."""
    from benchmark.data.loaders import load_dataset
    from benchmark.data.splits import make_split
    from benchmark.fitting import FitPlan, plan_fit
    from benchmark.method import FitContext
    from benchmark.metrics import evaluator_for
    from benchmark.registry import METHODS
    from benchmark.train.feeders import make_feeder

    device = torch.device("cpu")
    data = load_dataset(dataset)
    plan = plan_fit("lad_gnn", data, backbone)
    split = make_split(data, plan.protocol, 0, plan.protocol_args)
    artifacts: dict[str, Any] = {}
    if role == "teacher":
        (dep,) = plan.dependencies()
        method = METHODS.get(dep.method)()
        plan = FitPlan(method, data, backbone, dep.params, plan.protocol, plan.protocol_args)
    else:
        from benchmark.fit_context import FitResult

        g = torch.randn(len(data.graphs), int(plan.params["hidden"]))
        artifacts["teacher"] = FitResult(
            val=0.0, test=None, best_epoch=0, epochs_run=0, train_seconds=0.0, num_params=0,
            outputs={"g": g},
        )  # fmt: skip
    ctx = FitContext(
        data=data,
        split=split,
        backbone=backbone,
        params=plan.params,
        seed=0,
        device=device,
        evaluator=evaluator_for(data.card),
        artifacts=artifacts,
        evaluate_test=False,
    )
    method = plan.method
    ctx = method.prepare(ctx)
    state = method.setup(ctx)
    torch.manual_seed(0)
    feeder = make_feeder(data, ctx.split, device, batch_size=int(plan.params["batch_size"]), seed=0)
    model = method.build(ctx, state).to(device).train()
    optimizer = method.configure_optimizer(model, ctx, state)
    ids = ctx.split.train[: int(plan.params["batch_size"])]
    return dict(method=method, ctx=ctx, state=state, model=model, opt=optimizer,
                feeder=feeder, ids=ids)  # fmt: skip


def split_step(b: dict[str, Any], repeats: int) -> dict[str, float]:
    """Milliseconds of the whole step and of its forward, backward and optimiser parts."""
    method, ctx, state, model, opt = b["method"], b["ctx"], b["state"], b["model"], b["opt"]
    batch = b["feeder"].batch_of(b["ids"])

    def forward() -> torch.Tensor:
        return method.loss(model, batch, ctx, state)

    def forward_backward() -> None:
        opt.zero_grad(set_to_none=True)
        forward().backward()

    out = {
        "nodes": int(batch.x.shape[0]),
        "graphs": int(batch.num_graphs),
        "step_ms": median_ms(lambda: method.training_step(model, batch, opt, ctx, state), repeats),
        "forward_ms": median_ms(forward, repeats),
        "forward_backward_ms": median_ms(forward_backward, repeats),
        "optimiser_ms": median_ms(opt.step, repeats),
    }
    attention = getattr(model, "attention", None)
    if attention is not None:
        with torch.no_grad():
            h = model.backbone(batch.x, batch.edge_index, batch.batch, batch.num_graphs).h
        h = h.detach().requires_grad_()

        def attend() -> None:
            attention.pooled(h, batch.y, batch.batch, batch.num_graphs).sum().backward()

        out["attention_forward_backward_ms"] = median_ms(attend, repeats)
    return out


def scaling(b: dict[str, Any], multiples: list[int], repeats: int) -> dict[str, Any]:
    """The student's step on its batch repeated ``m`` times, per ``m``: ms per step and per
    32-graph share."""
    method, ctx, state, model, opt = b["method"], b["ctx"], b["state"], b["model"], b["opt"]
    rows = {}
    for m in multiples:
        batch = b["feeder"].batch_of(b["ids"].repeat(m))
        ms = median_ms(lambda b=batch: method.training_step(model, b, opt, ctx, state), repeats)
        share = round(ms / m, 4)
        rows[str(m)] = {"nodes": int(batch.x.shape[0]), "step_ms": ms, "per_share_ms": share}
    return rows


def compiled(b: dict[str, Any], repeats: int) -> dict[str, float]:
    """The student's step with its model compiled: seconds of the first call, then ms/step."""
    method, ctx, state, model, opt = b["method"], b["ctx"], b["state"], b["model"], b["opt"]
    batch = b["feeder"].batch_of(b["ids"])
    os.environ["TORCHINDUCTOR_CACHE_DIR"] = tempfile.mkdtemp()  # cold: no earlier compilation
    fast = torch.compile(model, dynamic=True)

    def step() -> None:
        method.training_step(fast, batch, opt, ctx, state)

    t = time.perf_counter()
    step()
    first = time.perf_counter() - t
    return {"first_step_s": round(first, 1), "step_ms": median_ms(step, repeats)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--dataset", default="MUTAG")
    ap.add_argument("--backbone", default="GCN")
    ap.add_argument("--multiples", type=int, nargs="+", default=[1, 2, 5, 10])
    ap.add_argument("--repeats", type=int, default=100)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--compile", action="store_true", help="also time a compiled student step")
    ap.add_argument("--pause", type=int, nargs="*", default=[], help="PIDs to SIGSTOP")
    ap.add_argument("--out", default=str(ROOT / "docs" / "results" / "perf_lad_step.json"))
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    torch.set_flush_denormal(True)  # as the loop does on the CPU
    report: dict[str, Any] = {
        "provenance": provenance(),
        "what": "one LAD-GNN training step on a mini-batch of batch_size training graphs "
        "(fold 0): its parts, and the student's step on the batch repeated m times; "
        "see bench/perf_lad_step.py",
        "dataset": args.dataset,
        "backbone": args.backbone,
        "paused_pids": args.pause,
    }
    with paused(args.pause):
        for role in ("teacher", "student"):
            b = build(role, args.dataset, args.backbone)
            report[role] = split_step(b, args.repeats)
            if role == "student":
                report["student_scaling"] = scaling(b, args.multiples, args.repeats)
                if args.compile:
                    report["student_compiled"] = compiled(b, args.repeats)
            print(role, report[role], flush=True)
    print("scaling", report["student_scaling"], report.get("student_compiled", ""), flush=True)
    write_report(Path(args.out), report)


if __name__ == "__main__":
    main()
