"""``kdbench run | worker | tune | status | export``: the grid commands of the CLI."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import TYPE_CHECKING

from benchmark.cli.console import progress_bar
from benchmark.cli.estimate import add_estimate_options
from benchmark.cli.options import (
    add_record_option,
    add_set_option,
    add_tracking_option,
    add_training_options,
    positive_int,
)
from benchmark.cli.verify import add_record_status_option
from benchmark.errors import KdbenchError

if TYPE_CHECKING:
    from benchmark.runner.launch import Selection


def selection_of(args: argparse.Namespace) -> Selection:
    """``--only`` and ``--cells`` as a :class:`~benchmark.runner.launch.Selection`."""
    from benchmark.runner.launch import Selection

    return Selection(args.only, args.cells)


def add_selection(p: argparse.ArgumentParser) -> None:
    """``--only`` and ``--cells``: the part of a sweep a command works."""
    p.add_argument("--only", default=None, help="only these methods (comma-separated)")
    p.add_argument(
        "--cells",
        default=None,
        help="only cells whose key matches one of these globs (comma-separated), "
        "e.g. '*/Cora-CPF/GAT*'; keys: `kdbench status SWEEP`",
    )


def cmd_run(args: argparse.Namespace) -> int:
    from rich.console import Console

    from benchmark.runner.launch import run_sweep, status_rows

    console = Console(stderr=True)
    progress = progress_bar(console, "{task.description}")
    bars = {k: progress.add_task(k, total=None) for k in ("cells", "tuning trials", "final seeds")}

    def tick() -> None:
        rows = status_rows(args.sweep, args.storage)
        progress.update(
            bars["cells"], completed=sum(r["state"] == "done" for r in rows), total=len(rows)
        )
        for name, key in (("tuning trials", "trials"), ("final seeds", "final")):
            done = [tuple(map(int, r[key].split("/"))) for r in rows]
            progress.update(
                bars[name], completed=sum(d for d, _ in done), total=sum(t for _, t in done)
            )

    with progress:
        cells = run_sweep(
            args.sweep,
            args.workers,
            args.storage,
            args.device,
            not args.no_track,
            selection_of(args),
            on_progress=tick if console.is_terminal else None,
            retry_failed=getattr(args, "retry_failed", False),
        )
    rows = status_rows(args.sweep, args.storage)
    keys = {c.key for c in cells}
    done = sum(r["state"] == "done" for r in rows if r["cell"] in keys)
    failed = [r for r in rows if r["cell"] in keys and r["state"] == "failed"]
    console.print(
        f"{done}/{len(cells)} cells done"
        + (f"; failed: {', '.join(r['cell'] for r in failed)}" if failed else ""),
        soft_wrap=True,
    )
    for r in failed:
        for err in r["errors"]:
            console.print(f"  {r['cell']}: {err}", markup=False, soft_wrap=True)
    if failed:
        console.print(
            "once the cause is fixed, run the same command again: trials and seeds "
            "that failed for a reason of the environment (data, memory, disk, "
            "storage) are retried; `--retry-failed` retries every failed one"
        )
    console.print("see `kdbench status` and `kdbench export`")
    return 0 if not failed else 1


def cmd_worker(args: argparse.Namespace) -> int:
    from benchmark.runner.launch import run_worker

    run_worker(
        args.sweep, args.storage, args.device, not args.no_track, selection_of(args), args.index
    )
    return 0


def tune_sweep(args: argparse.Namespace) -> dict:
    """The sweep ``kdbench tune`` generates for one cell: ``--trials`` per study, tuning and
    final seeds ``0..k-1``, ``--set`` values fixed for the cell and its teachers."""
    from benchmark.cli.options import parse_overrides

    name = f"tune-{args.method}-{args.dataset}-{args.backbone}".replace("/", "_")
    entry = {"methods": [args.method], "datasets": [args.dataset], "backbones": [args.backbone]}
    fixed = parse_overrides(args.set)
    if fixed:  # keys of the cell end in /name=value
        entry["fixed"] = fixed
    return {
        "name": name,
        "budget": {
            "trials": args.trials,
            "tuning_seeds": list(range(args.tuning_seeds)),
            "final_seeds": list(range(args.final_seeds)),
        },
        "grid": [entry],
    }


def cmd_tune(args: argparse.Namespace) -> int:
    """One cell as a generated sweep under runs/tune/ (kept: it documents the run)."""
    import yaml

    from benchmark.tracking import runs_dir

    sweep = tune_sweep(args)
    path = runs_dir() / "tune" / f"{sweep['name']}.yaml"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(sweep, sort_keys=False))
    args.sweep, args.workers, args.only, args.cells = str(path), 1, None, None
    return cmd_run(args)


def cmd_status(args: argparse.Namespace) -> int:
    from rich.console import Console
    from rich.table import Table

    from benchmark.runner.launch import eta_seconds, status_counts, status_rows

    if args.record is not None:
        from benchmark.cli.verify import cmd_record_status

        return cmd_record_status(args)
    if args.sweep is None:
        raise KdbenchError("give a sweep file (`kdbench status sweeps/smoke.yaml`) or --record")
    if args.estimate:
        from benchmark.cli.estimate import cmd_estimate

        return cmd_estimate(args)
    rows = status_rows(args.sweep, args.storage)
    if args.cells:
        from fnmatch import fnmatchcase

        globs = args.cells.split(",")
        rows = [r for r in rows if any(fnmatchcase(r["cell"], g) for g in globs)]
    if args.json:
        print(json.dumps(rows))
        return 0
    console = Console()
    table = Table(title=f"status of {args.sweep}")
    cols = (
        "cell",
        "state",
        "selection",
        "kind",
        "space",
        "trials",
        "tuned",
        "running",
        "final",
        "failed",
        "seconds",
    )
    widest = max((len(r["cell"]) for r in rows), default=4)
    if not console.is_terminal:  # piped: whole lines, nothing folded
        console = Console(width=max(console.width, widest + 100))
    # full keys (folded where the terminal is narrow, never cut): `--cells` takes them verbatim
    table.add_column("cell", overflow="fold", min_width=min(widest, console.width // 2))
    for col in cols[1:]:
        table.add_column(col)
    for r in rows:
        # seconds: the cell's tuning trials and final seeds together (untuned: finals only)
        shown = {**r, "seconds": round(r["seconds"] + r["final_seconds"], 1)}
        table.add_row(*(str(shown[c]) for c in cols))
    console.print(table)
    if args.seeds:
        per_seed = Table(title="tuning studies: one per final seed (nested) or one shared")
        for col in ("cell", "study", "trials", "best val", "parameters"):
            per_seed.add_column(col, overflow="fold")
        for r in rows:
            for st in r["per_seed"]:
                best = "" if st["best_val"] is None else f"{st['best_val']:.4f}"
                params = ", ".join(
                    f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}"
                    for k, v in (st["params"] or {}).items()
                )
                study = "shared" if st["seed"] is None else f"seed {st['seed']}"
                per_seed.add_row(r["cell"], study, st["trials"], best, params)
        console.print(per_seed)
    counts = status_counts(rows)
    eta = eta_seconds(rows)
    tail = (
        ""
        if eta is None
        else (
            f"; ETA ≈ {eta[0] / 60:.0f} min on 1 worker (from the mean "
            f"duration of {eta[1]} finished trials and seeds)"
        )
    )
    console.print(", ".join(f"{v} {k}" for k, v in counts.items()) + tail)
    for r in rows:
        for err in r["errors"]:
            console.print(f"{r['cell']}: {err}", markup=False, soft_wrap=True)
    return 0


def cmd_export(args: argparse.Namespace) -> int:
    """The final table of the store (``--out``) and/or its cells merged into the record
    (``--record [DIR]``: a cell already there is replaced, the others kept)."""
    from benchmark.tracking import tracking_uri

    if not args.out and args.record is None:
        raise KdbenchError("nothing to export: give --out FILE (a table) and/or --record [DIR]")
    uri = args.tracking_uri or tracking_uri()
    if args.record is not None:
        from benchmark.results.record import RECORD_DIR, write_record
        from benchmark.results.record_export import record_from_store

        folder = args.record or str(RECORD_DIR)
        cells = record_from_store(uri, args.sweep, partial=args.partial)
        if not cells:
            raise KdbenchError(
                "no complete cell in the store yet (every final seed finished); run a sweep "
                "first (`kdbench run`), or give --partial to export unfinished cells too"
            )
        from benchmark.runner.fingerprint import fill_code_hashes

        fill_code_hashes(cells)  # runs made before the runner tagged their code hash
        counts = write_record(cells, folder)
        seeds = sum(len(c["seeds"]) for c in cells)
        print(
            f"{len(cells)} cells ({seeds} seeds) merged into the record {folder}: "
            f"{counts['added']} added, {counts['replaced']} replaced"
        )
    if not args.out:
        return 0
    from benchmark.results.aggregate import aggregate, export, final_runs

    fmt = args.format or Path(args.out).suffix.lstrip(".")
    if fmt not in ("csv", "parquet", "latex", "tex"):
        raise KdbenchError(f"unknown export format '{fmt}'; use csv, parquet or latex")
    table = aggregate(final_runs(uri, args.sweep))
    if table.empty:
        raise KdbenchError("no final runs in the store yet; run a sweep first (`kdbench run`)")
    export(table, "latex" if fmt == "tex" else fmt, args.out)
    print(f"{len(table)} cells written to {args.out}")
    return 0


def add_parsers(sub: argparse._SubParsersAction) -> None:
    def common(p: argparse.ArgumentParser, sweep: bool = True) -> None:
        if sweep:
            p.add_argument("sweep", help="a sweep file, e.g. sweeps/smoke.yaml")
        p.add_argument(
            "--storage",
            default=None,
            help="Optuna storage URL (default: a journal file under runs/<sweep>/)",
        )
        add_training_options(p)

    p = sub.add_parser("run", help="tune and finalise every cell of a sweep (resumable)")
    common(p)
    p.add_argument("--workers", type=positive_int, default=1, help="processes on this machine")
    p.add_argument(
        "--retry-failed",
        action="store_true",
        help="also retry the trials and seeds that failed by an error of the method "
        "(those the environment failed are always retried)",
    )
    add_selection(p)
    p.set_defaults(func=cmd_run)

    p = sub.add_parser("worker", help="join a prepared grid (from any machine)")
    common(p)
    p.add_argument(
        "--index",
        type=int,
        default=None,
        help="worker number (seeds its samplers; default: from the process id)",
    )
    add_selection(p)
    p.set_defaults(func=cmd_worker)

    p = sub.add_parser("tune", help="tune one cell, then run its final seeds")
    common(p, sweep=False)
    p.add_argument("--method", required=True)
    p.add_argument("--dataset", required=True)
    p.add_argument("--backbone", required=True)
    p.add_argument("--trials", type=positive_int, default=30)
    p.add_argument(
        "--tuning-seeds",
        type=int,
        default=3,
        help="seeds 0..k-1 for the objective of a shared study (protocols whose "
        "seeds share one split); nested studies score their own seed",
    )
    p.add_argument("--final-seeds", type=int, default=10, help="seeds 0..k-1 for the final stage")
    add_set_option(p, "fixed values of the cell (not tuned), e.g. preset=ltd")
    p.set_defaults(func=cmd_tune)

    p = sub.add_parser(
        "status",
        help="cells done / running / failed / pending, with an ETA; --record: the record's "
        "cells, fresh or stale",
    )
    p.add_argument("sweep", nargs="?", default=None)
    add_record_status_option(p)
    p.add_argument("--storage", default=None)
    p.add_argument("--json", action="store_true")
    p.add_argument(
        "--seeds",
        action="store_true",
        help="also each tuning study (per final seed when nested): trials, best "
        "validation score and parameters",
    )
    p.add_argument("--cells", default=None, help="only cells whose key matches these globs")
    add_estimate_options(p)
    p.set_defaults(func=cmd_status)

    p = sub.add_parser(
        "export", help="the final table, one row per cell, and/or the cells into the record"
    )
    p.add_argument("--out", default=None, help="output file (.csv, .parquet, .tex)")
    add_record_option(
        p,
        "merge the store's final runs into the record (default folder: docs/results/record "
        "of this checkout), replacing the cells re-exported and keeping the others",
    )
    p.add_argument(
        "--partial",
        action="store_true",
        help="with --record: also cells with fewer final seeds than their sweep asks for "
        "(default: left out, so that a running cell never replaces a complete one)",
    )
    p.add_argument("--format", default=None, help="csv | parquet | latex (default: from --out)")
    p.add_argument("--sweep", default=None, help="only this sweep's cells")
    add_tracking_option(p)
    p.set_defaults(func=cmd_export)
