"""``kdbench fit``: one configuration on several seeds, no tuning, logged to MLflow.

The configuration is resolved once (:func:`~benchmark.fitting.plan_fit`) and trained seed by
seed through the one per-seed pipeline (:func:`~benchmark.fitting.fit_seed`); a distillation
method's teacher is trained with its defaults through the artefact cache, and its validation
score is printed and tagged beside each seed's.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from benchmark.cli.console import console, progress_bar
from benchmark.cli.options import (
    add_data_options,
    add_seeds_option,
    add_set_option,
    add_training_options,
    frozen_imports,
    parse_overrides,
    parse_seeds,
)

if TYPE_CHECKING:
    from benchmark.tracking_process import TrackerProcess


def _fmt(x: float | None, scale: float) -> str:
    return "n/a" if x is None else f"{x * scale:.2f}"


def cmd_fit(args: argparse.Namespace) -> int:
    """``kdbench fit``. With tracking, the MLflow tracker runs in a child process started
    first (:class:`~benchmark.tracking_process.TrackerProcess`): it imports MLflow and opens
    the store while this process imports torch and PyG and loads the data, and writes each
    seed's run while the next one trains — the same runs as an in-process tracker."""
    seeds = parse_seeds(args.seeds)
    overrides = parse_overrides(args.set)
    if args.no_track:
        return _fit(args, seeds, overrides, None)
    from benchmark.tracking_process import TrackerProcess

    with TrackerProcess() as tracker:
        return _fit(args, seeds, overrides, tracker)


def _fit(
    args: argparse.Namespace,
    seeds: list[int],
    overrides: dict[str, Any],
    tracker: TrackerProcess | None,
) -> int:
    with frozen_imports():
        from rich.table import Table

        from benchmark.data.card import get_card
        from benchmark.data.loaders import load_dataset
        from benchmark.device import resolve_device
        from benchmark.fitting import SeedResult, fit_plan, plan_fit, result_metrics, seed_tags
        from benchmark.models import BACKBONES
        from benchmark.registry import METHODS
        from benchmark.tracking import provenance_tags

        METHODS.get(args.method)  # fail on bad names before loading data or opening stores
        BACKBONES.get(args.backbone)  # (and import every method's module here)

    get_card(args.dataset)
    device = resolve_device(args.device)
    if tracker is not None:
        tracker.open(args.experiment)  # in the background; start() below waits for it
    out = console(stderr=args.json)
    data = load_dataset(args.dataset, args.data_root, args.mirror)
    plan = plan_fit(
        args.method, data, args.backbone, overrides, args.protocol, teacher=args.teacher
    )
    teacher = plan.teacher_backbone()
    scale = 100.0 if data.card.metric in ("accuracy", "rocauc") else 1.0
    progress = progress_bar(out, "seed {task.fields[seed]}")
    config: dict[str, Any] = {
        "method": args.method,
        "dataset": data.name,
        "backbone": args.backbone,
        "params": plan.params,
        "protocol": plan.protocol,
    }
    if teacher is not None:
        config["teacher"] = teacher
    base_tags = {
        **provenance_tags(
            args.method,
            data.name,
            args.backbone,
            teacher,
            plan.protocol,
            data.card.metric,
            config=config,
            device=device,
        ),
        "stage": "fit",
    }
    parent: str | None = None

    def on_seed_start(seed: int) -> Callable[[int, int], None]:
        task = progress.add_task("fit", seed=seed, total=None)
        return lambda epoch, total: progress.update(task, completed=epoch, total=total)

    def on_seed_end(sr: SeedResult) -> None:
        r = sr.result
        if sr.teacher_val is not None:
            out.print(f"seed {sr.seed}: teacher {teacher} val = {_fmt(sr.teacher_val, scale)}")
        if tracker is not None:
            tracker.record(
                f"seed{sr.seed}",
                {**base_tags, **seed_tags(sr)},
                parent,
                params=plan.params,
                metrics=result_metrics(r),
                curves={"val_curve": r.val_curve, "train_loss": r.loss_curve},
            )

    if tracker is not None:
        parent = tracker.start(f"{args.method}-{args.backbone}-{data.name}", base_tags)
        tracker.log(parent, params=plan.params)
    status = "FAILED"
    try:
        with progress:
            summary = fit_plan(plan, seeds, device, on_seed_start, on_seed_end)
        status = "FINISHED"
    finally:
        if tracker is not None and parent is not None:
            tracker.finish(parent, status if status == "FINISHED" else "KILLED")
    (tm, ts), (vm, vs) = summary.test_mean_std, summary.val_mean_std
    if tracker is not None:
        tracker.log(
            parent, metrics={"test_mean": tm, "test_std": ts, "val_mean": vm, "val_std": vs}
        )
        tracker.close()  # every run written (or spooled) before the table says so
    student = args.backbone if teacher is None else f"{args.backbone} ← teacher {teacher}"
    table = Table(
        title=f"{args.method} · {student} · {data.name} ({plan.protocol}, "
        f"{data.card.metric}{' %' if scale == 100 else ''}, {device})"
    )
    cols = ["seed", "best epoch", "val", "test", "train s"]
    if teacher is not None:
        cols.insert(2, "teacher val")
    for col in cols:
        table.add_column(col, justify="right")
    for s in summary.seeds:
        r = s.result
        row = [
            str(s.seed),
            str(r.best_epoch),
            _fmt(r.val, scale),
            _fmt(r.test, scale),
            f"{r.train_seconds:.1f}",
        ]
        if teacher is not None:
            row.insert(2, _fmt(s.teacher_val, scale))
        table.add_row(*row)
    out.print(table)
    out.print(
        f"test = {_fmt(tm, scale)} ± {_fmt(ts, scale)}   (val = {_fmt(vm, scale)} ± "
        f"{_fmt(vs, scale)}; mean ± unbiased std over {len(seeds)} seed(s))"
    )
    if tracker is not None:
        from benchmark.urls import mask

        out.print(f"logged to MLflow {mask(tracker.uri)} (experiment '{args.experiment}')")
    if args.json:
        print(json.dumps(summary.to_json()), flush=True)
    return 0


def add_parsers(sub: argparse._SubParsersAction) -> None:
    """Add ``fit`` to the ``kdbench`` sub-commands."""
    p = sub.add_parser("fit", help="train one configuration on several seeds (no tuning)")
    p.add_argument("--method", required=True, help="a registered method (`kdbench methods`)")
    p.add_argument("--dataset", required=True, help="a dataset card (`kdbench datasets`)")
    p.add_argument("--backbone", required=True, help="GCN, GAT, GIN, GraphSAGE, APPNP, SGC or MLP")
    add_seeds_option(p)
    add_set_option(p, "hyper-parameter overrides")
    p.add_argument(
        "--protocol",
        default=None,
        help="split protocol (default: the card's; `paper`: the method's paper "
        "protocol, e.g. ltd_fixed for ltd)",
    )
    p.add_argument(
        "--teacher",
        default=None,
        help="teacher backbone of a distillation method (default: --backbone); "
        "trained with its default configuration",
    )
    p.add_argument("--experiment", default="fit", help="MLflow experiment (default 'fit')")
    p.add_argument(
        "--json",
        action="store_true",
        help="print one JSON line with the summary last (tables go to stderr)",
    )
    add_training_options(p)
    add_data_options(p)
    p.set_defaults(func=cmd_fit)
