"""``kdbench``: the command line.

``kdbench datasets`` (the catalogue), ``kdbench methods`` (the registry) and ``kdbench fit``
(one configuration on several seeds, no tuning, logged to MLflow). Any
:class:`~benchmark.errors.KdbenchError` is printed as one ``error:`` line with exit status 2.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Callable, Sequence
from typing import Any

from benchmark.cli_options import add_set_option, parse_overrides, parse_seeds
from benchmark.errors import KdbenchError


def _console(stderr: bool = False):
    from rich.console import Console

    return Console(stderr=stderr, highlight=False, soft_wrap=True)


def cmd_datasets(args: argparse.Namespace) -> int:
    from rich.table import Table

    from benchmark.data.card import catalogue_rows

    rows = catalogue_rows(args.data_root, args.mirror)
    if args.json:
        print(json.dumps(rows))
        return 0
    table = Table(title="kdbench datasets")
    for col in ("name", "task", "size", "classes", "metric", "protocol", "available"):
        table.add_column(col, justify="right" if col in ("size", "classes") else "left")
    for r in rows:
        table.add_row(*(str(r[c]) for c in ("name", "task", "size", "classes", "metric",
                                            "protocol", "available")))  # fmt: skip
    _console().print(table)
    return 0


def cmd_methods(args: argparse.Namespace) -> int:
    from rich.table import Table

    from benchmark.registry import METHODS

    rows = []
    for name in METHODS.names():
        m = METHODS.get(name)()
        rows.append({"name": name, "tasks": list(m.tasks), "needs_teacher": m.needs_teacher,
                     "description": m.description})  # fmt: skip
    if args.json:
        print(json.dumps(rows))
        return 0
    table = Table(title="kdbench methods")
    for col in ("name", "tasks", "teacher?", "description"):
        table.add_column(col)
    for r in rows:
        table.add_row(r["name"], "/".join(r["tasks"]), "yes" if r["needs_teacher"] else "no",
                      r["description"])  # fmt: skip
    _console().print(table)
    return 0


def _fmt(x: float | None, scale: float) -> str:
    return "n/a" if x is None else f"{x * scale:.2f}"


def cmd_fit(args: argparse.Namespace) -> int:
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
    from rich.table import Table

    from benchmark.data.loaders import load_dataset
    from benchmark.device import resolve_device
    from benchmark.fitting import SeedResult, fit_seeds
    from benchmark.registry import METHODS
    from benchmark.tracking import Tracker, config_hash, git_sha, hardware, versions

    seeds = parse_seeds(args.seeds)
    overrides = parse_overrides(args.set or [])
    from benchmark.data.card import get_card
    from benchmark.models import BACKBONES

    METHODS.get(args.method)  # fail on bad names before loading data or opening stores
    BACKBONES.get(args.backbone)
    get_card(args.dataset)
    device = resolve_device(args.device)
    out = _console(stderr=args.json)
    data = load_dataset(args.dataset, args.data_root, args.mirror)
    tracker = None if args.no_track else Tracker(args.experiment)
    scale = 100.0 if data.card.metric in ("accuracy", "rocauc") else 1.0
    progress = Progress(TextColumn("seed {task.fields[seed]}"), BarColumn(), MofNCompleteColumn(),
                        TimeElapsedColumn(), console=out, disable=not out.is_terminal)  # fmt: skip
    parent: str | None = None
    base_tags: dict[str, Any] = {}

    def on_seed_start(seed: int) -> Callable[[int, int], None]:
        task = progress.add_task("fit", seed=seed, total=None)
        return lambda epoch, total: progress.update(task, completed=epoch, total=total)

    from benchmark.runner.cellrun import result_metrics

    def on_seed_end(sr: SeedResult) -> None:
        r = sr.result
        if tracker is not None:
            tracker.record(f"seed{sr.seed}", {**base_tags, "seed": sr.seed, "split": sr.split},
                           parent, params=summary_params, metrics=result_metrics(r),
                           curves={"val_curve": r.val_curve,
                                   "train_loss": r.loss_curve})  # fmt: skip

    from benchmark.method import resolve_params

    summary_params = resolve_params(METHODS.get(args.method)(), BACKBONES.get(args.backbone),
                                    data.task, overrides)  # fmt: skip
    from benchmark.data.splits import resolve_protocol

    protocol, _ = resolve_protocol(data, args.protocol, METHODS.get(args.method).paper_protocol,
                                   args.method)  # fmt: skip
    config = {"method": args.method, "dataset": data.name, "backbone": args.backbone,
              "params": summary_params, "protocol": protocol}  # fmt: skip
    base_tags = {"method": args.method, "dataset": data.name, "backbone": args.backbone,
                 "protocol": protocol, "metric": data.card.metric, "stage": "fit",
                 "config_hash": config_hash(config), "git_sha": git_sha(),
                 "hardware": hardware(device), "device": str(device),
                 **{f"version.{k}": v for k, v in versions().items()}}  # fmt: skip
    if tracker is not None:
        parent = tracker.start(f"{args.method}-{args.backbone}-{data.name}", base_tags)
        tracker.log(parent, params=summary_params)
    status = "FAILED"
    try:
        with progress:
            summary = fit_seeds(args.method, data, args.backbone, seeds, device, overrides,
                                protocol=protocol, on_seed_start=on_seed_start,
                                on_seed_end=on_seed_end, teacher=args.teacher)  # fmt: skip
        status = "FINISHED"
    finally:
        if tracker is not None and parent is not None:
            tracker.finish(parent, status if status == "FINISHED" else "KILLED")
    (tm, ts), (vm, vs) = summary.test_mean_std, summary.val_mean_std
    if tracker is not None:
        tracker.log(parent, metrics={"test_mean": tm, "test_std": ts, "val_mean": vm,
                                     "val_std": vs})  # fmt: skip
    table = Table(title=f"{args.method} · {args.backbone} · {data.name} ({protocol}, "
                        f"{data.card.metric}{' %' if scale == 100 else ''}, {device})")  # fmt: skip
    for col in ("seed", "best epoch", "val", "test", "train s"):
        table.add_column(col, justify="right")
    for s in summary.seeds:
        r = s.result
        table.add_row(str(s.seed), str(r.best_epoch), _fmt(r.val, scale), _fmt(r.test, scale),
                      f"{r.train_seconds:.1f}")  # fmt: skip
    out.print(table)
    out.print(f"test = {_fmt(tm, scale)} ± {_fmt(ts, scale)}   (val = {_fmt(vm, scale)} ± "
              f"{_fmt(vs, scale)}; mean ± unbiased std over {len(seeds)} seed(s))")  # fmt: skip
    if tracker is not None:
        from benchmark.urls import mask

        out.print(f"logged to MLflow {mask(tracker.uri)} (experiment '{args.experiment}')")
    if args.json:
        print(json.dumps(summary.to_json()), flush=True)
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="kdbench",
        description="Benchmark of knowledge distillation for graph neural networks.",
    )
    sub = parser.add_subparsers(dest="command", required=True)

    def data_flags(p: argparse.ArgumentParser) -> None:
        p.add_argument("--data-root", default=None,
                       help="where datasets are stored and processed (default $KDBENCH_DATA or "
                            "~/.cache/kdbench/data)")  # fmt: skip
        p.add_argument("--mirror", default=None,
                       help="folder or URL laid out like the official servers "
                            "(default $KDBENCH_MIRROR)")  # fmt: skip

    p = sub.add_parser("datasets", help="list the dataset catalogue")
    data_flags(p)
    p.add_argument("--json", action="store_true", help="print JSON instead of a table")
    p.set_defaults(func=cmd_datasets)

    p = sub.add_parser("methods", help="list the registered methods")
    p.add_argument("--json", action="store_true", help="print JSON instead of a table")
    p.set_defaults(func=cmd_methods)

    p = sub.add_parser("fit", help="train one configuration on several seeds (no tuning)")
    p.add_argument("--method", required=True, help="a registered method (`kdbench methods`)")
    p.add_argument("--dataset", required=True, help="a dataset card (`kdbench datasets`)")
    p.add_argument("--backbone", required=True, help="GCN, GAT, GIN, GraphSAGE, APPNP, SGC or MLP")
    p.add_argument("--seeds", default="0-9", help="e.g. 0-9 or 0,3,5 (default 0-9)")
    add_set_option(p, "hyper-parameter overrides")
    p.add_argument("--protocol", default=None,
                   help="split protocol (default: the card's; `paper`: the method's paper "
                        "protocol, e.g. ltd_fixed for ltd)")  # fmt: skip
    p.add_argument("--teacher", default=None,
                   help="teacher backbone of a distillation method (default: --backbone); "
                        "trained with its default configuration")  # fmt: skip
    p.add_argument("--device", default="auto", help="auto, cpu or cuda:N (default auto)")
    p.add_argument("--experiment", default="fit", help="MLflow experiment (default 'fit')")
    p.add_argument("--no-track", action="store_true", help="do not log to MLflow")
    p.add_argument("--json", action="store_true",
                   help="print one JSON line with the summary last (tables go to stderr)")
    data_flags(p)
    p.set_defaults(func=cmd_fit)

    from benchmark.cli_app import add_parsers as add_app_parsers
    from benchmark.cli_grid import add_parsers
    from benchmark.cli_pretrain import add_parsers as add_pretrain_parsers
    from benchmark.cli_serve import add_parsers as add_serve_parsers
    from benchmark.cli_slurm import add_parsers as add_slurm_parsers

    add_parsers(sub)
    add_pretrain_parsers(sub)
    add_serve_parsers(sub)
    add_slurm_parsers(sub)
    add_app_parsers(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    import logging

    os.environ.setdefault("MLFLOW_SUPPRESS_PRINTING_URL_TO_STDOUT", "true")
    logging.getLogger("mlflow").setLevel(logging.WARNING)
    logging.getLogger("alembic").setLevel(logging.WARNING)
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except KdbenchError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted: finished seeds are logged; rerun to train the rest", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
