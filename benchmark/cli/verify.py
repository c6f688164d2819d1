"""``kdbench verify`` (re-fit sampled record pairs) and ``kdbench status --record`` (which
record cells are stale, and why): :mod:`benchmark.runner.verify` and
:mod:`benchmark.runner.staleness` on the command line. Light: the parser imports no torch."""

from __future__ import annotations

import argparse
import json
from typing import Any

from benchmark.cli.options import add_data_options, add_record_option, positive_int

VERIFY_HELP = (
    "re-fit N randomly drawn (cell, seed) pairs of the record on this machine and compare "
    "val/test with it; exit 0 iff every pair is within the tolerance"
)


def _wide(console: Any, widest: int) -> Any:
    """``console``, or a wider one when piped (whole lines, nothing folded)."""
    from rich.console import Console

    if console.is_terminal:
        return console
    return Console(width=max(console.width, widest + 120), highlight=False)


def _score(x: float | None) -> str:
    return "" if x is None else f"{x:.6f}"


def cmd_verify(args: argparse.Namespace) -> int:
    from rich.table import Table

    from benchmark.cli.console import console
    from benchmark.device import resolve_device
    from benchmark.results.record import RECORD_DIR, read_cells, require_record
    from benchmark.runner.verify import verify

    folder = str(require_record(args.record or RECORD_DIR))
    cells = read_cells(folder)
    out = console()

    def on_pair(i: int, n: int, pair: Any) -> None:
        cell, row = pair
        out.print(f"[{i + 1}/{n}] fitting {cell['cell']} seed {row['seed']}", markup=False)

    checks = verify(
        cells,
        sample=args.sample,
        seed=args.seed,
        globs=[g for g in (args.cells or "").split(",") if g],
        max_seconds=args.max_seconds,
        stale=args.stale,
        same_cpu=args.same_cpu,
        tolerance=args.tolerance,
        device=resolve_device(args.device),
        data_root=args.data_root,
        mirror=args.mirror,
        on_pair=on_pair,
    )
    out = _wide(out, max(len(c.cell) for c in checks))
    table = Table(title=f"verify: {len(checks)} pairs of the record {folder}")
    for col in ("cell", "seed", "threads", "val", "test", "now val", "now test", "|Δ|", "ok"):
        table.add_column(col, overflow="fold" if col == "cell" else None)
    table.add_column("note", overflow="fold")
    for c in checks:
        delta = "" if c.delta is None else f"{c.delta:.2g}"
        table.add_row(
            c.cell,
            str(c.seed),
            str(c.threads),
            _score(c.val),
            _score(c.test),
            _score(c.now_val),
            _score(c.now_test),
            delta,
            "ok" if c.ok else "FAIL",
            c.note,
        )
    out.print(table)
    bad = sum(not c.ok for c in checks)
    short = f" (only {len(checks)} qualified)" if len(checks) < args.sample else ""
    out.print(
        f"{len(checks) - bad}/{len(checks)} pairs reproduce within {args.tolerance:g}{short}"
        + (f"; {bad} do not" if bad else ""),
        markup=False,
    )
    return 0 if bad == 0 else 1


def cmd_record_status(args: argparse.Namespace) -> int:
    """``kdbench status --record [DIR]``: every record cell, fresh or why it is stale."""
    from rich.table import Table

    from benchmark.cli.console import console
    from benchmark.results.record import RECORD_DIR, read_cells, require_record
    from benchmark.runner.staleness import record_staleness, summary

    folder = str(require_record(args.record or RECORD_DIR))
    cells = read_cells(folder)
    if args.cells:
        from fnmatch import fnmatchcase

        globs = args.cells.split(",")
        cells = [c for c in cells if any(fnmatchcase(c["cell"], g) for g in globs)]
    rows = record_staleness(cells)
    counts = summary(rows)
    if args.json:
        print(json.dumps({"cells": [r.to_dict() for r in rows], "summary": counts}))
        return 0
    out = _wide(console(), max((len(r.cell) for r in rows), default=4))
    table = Table(title=f"record {folder}: staleness against this checkout")
    for col in ("cell", "n", "commit", "date", "state", "reasons", "details"):
        table.add_column(col, overflow="fold")
    for r in rows:
        table.add_row(
            r.cell, str(r.n), r.commit, r.date, r.state, " ".join(r.reasons), "\n".join(r.details)
        )
    out.print(table)
    out.print(
        f"{counts['cells']} cells: {counts['fresh']} fresh, {counts['stale code']} stale "
        f"(code), {counts['stale config']} stale (config), {counts['unknown']} unknown",
        markup=False,
    )
    return 0


def add_record_status_option(p: argparse.ArgumentParser) -> None:
    """``--record [DIR]`` of ``kdbench status``: the record's cells instead of a sweep's."""
    add_record_option(
        p,
        "the record's cells (default folder docs/results/record), fresh or stale against "
        "this checkout: `code` (training code changed since their commit), `config` (today's "
        "runner would hash another configuration), `?` where that cannot be told",
    )


def add_parsers(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("verify", help=VERIFY_HELP, description=VERIFY_HELP + ".")
    p.add_argument("--sample", type=positive_int, default=5, help="pairs to draw (default 5)")
    p.add_argument("--seed", type=int, default=0, help="seed of the draw (default 0)")
    p.add_argument("--cells", default=None, help="only cells whose key matches these globs")
    p.add_argument(
        "--max-seconds",
        type=float,
        default=None,
        help="only seeds whose recorded train_seconds is at most this (cheap pairs)",
    )
    p.add_argument(
        "--stale",
        action="store_true",
        help="also draw from stale cells (`kdbench status --record`); default: fresh only",
    )
    p.add_argument(
        "--same-cpu",
        action="store_true",
        help="only seeds recorded on this machine's CPU model and torch kernel instruction set "
        "(elsewhere float rounding may differ, so exactness is not expected)",
    )
    p.add_argument(
        "--tolerance",
        type=float,
        default=1e-9,
        help="largest |Δval| and |Δtest| that reproduces (default 1e-9, exact: the runner's "
        "CPU fits are deterministic at equal torch version and threads, and each pair runs "
        "on its recorded threads)",
    )
    add_record_option(p, "the record folder (default docs/results/record of this checkout)", False)
    p.add_argument(
        "--device",
        default="cpu",
        help="cpu (default: where the record's fits are exact) or cuda:N",
    )
    add_data_options(p)
    p.set_defaults(func=cmd_verify)
