"""``kdbench status SWEEP --estimate``: how long the sweep would take, from the record's seeds."""

from __future__ import annotations

import argparse
import json

from benchmark.cli.options import positive_int


def add_estimate_options(p: argparse.ArgumentParser) -> None:
    """``--estimate`` with its ``--workers`` and ``--gpu-speedup``."""
    p.add_argument(
        "--estimate",
        action="store_true",
        help="the sweep's trainings and hours per task family and method, each training "
        "costed from the record's seeds (assumptions printed)",
    )
    p.add_argument(
        "--workers",
        type=positive_int,
        default=1,
        help="with --estimate: workers sharing the grid (default 1)",
    )
    p.add_argument(
        "--gpu-speedup",
        type=float,
        default=None,
        help="with --estimate: your GPU's speed-up over this machine's recorded CPU fits "
        "(not measured here: no GPU is lent)",
    )


def cmd_estimate(args: argparse.Namespace) -> int:
    from rich.table import Table

    from benchmark.cli.console import console
    from benchmark.results.record import RECORD_DIR, read_cells
    from benchmark.runner import estimate as est
    from benchmark.runner.sweep import expand, load_sweep

    sweep = load_sweep(args.sweep)
    costs = est.estimate(sweep, expand(sweep), read_cells(RECORD_DIR))
    tables = {by: est.summary(costs, by) for by in ("family", "method")}
    if args.json:
        print(json.dumps(tables))
        return 0
    out = console()
    for by, rows in tables.items():
        table = Table(title=f"{args.sweep}: estimated cost per {by}")
        cols = [by, "cells", "trainings", "hours, 1 worker", f"hours, {args.workers} workers"]
        if args.gpu_speedup:
            cols.append(f"hours, {args.workers} GPU workers at {args.gpu_speedup:g}×")
        for col in [*cols, "unknown cells"]:
            table.add_column(col)
        for r in rows:
            hours = [r["hours"], r["hours"] / args.workers]
            if args.gpu_speedup:
                hours.append(r["hours"] / args.workers / args.gpu_speedup)
            table.add_row(
                r[by],
                str(r["cells"]),
                str(r["trainings"]),
                *(f"{h:.1f}" for h in hours),
                str(r["unknown cells"]),
            )
        out.print(table)
    levels = {lv: sum(c.level == lv for c in costs) for lv in (*est.LEVELS, "unknown")}
    out.print(
        "cells priced by " + ", ".join(f"{lv}: {n}" for lv, n in levels.items() if n),
        markup=False,
    )
    assumes = (est.__doc__ or "").split("What it assumes (printed with it): ")[-1]
    out.print("Assumes: " + " ".join(assumes.replace("``", "`").split()), markup=False)
    return 0
