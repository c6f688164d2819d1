"""Shared by the reproduction scripts: resumable JSON-lines results, table cells, paired tests.

Each line of a results file is a ``kdbench fit --json`` summary plus wall time, hardware,
threads, date, commit and command; a script skips the configurations already in its file, so
an interrupted run resumes.
"""

from __future__ import annotations

import contextlib
import datetime
import json
import os
import signal
import sys
import time
from pathlib import Path
from typing import Any

import torch

from benchmark.fitting import FitSummary
from benchmark.tracking import git_sha, hardware


def load_rows(out: Path) -> list[dict[str, Any]]:
    if not out.exists():
        return []
    return [json.loads(line) for line in out.read_text().splitlines() if line.strip()]


def append_row(out: Path, summary: FitSummary, started: float, device: torch.device,
               command: str, **extra: Any) -> dict[str, Any]:  # fmt: skip
    """Append ``summary`` (with provenance and ``extra``) to ``out``; returns the row."""
    row = summary.to_json() | extra | {
        "wall_seconds": round(time.perf_counter() - started, 1),
        "hardware": hardware(device), "threads": torch.get_num_threads(),
        "date": datetime.date.today().isoformat(), "git_sha": git_sha(), "command": command,
    }  # fmt: skip
    out.parent.mkdir(parents=True, exist_ok=True)
    with out.open("a") as f:
        f.write(json.dumps(row) + "\n")
    return row


def percents(row: dict[str, Any]) -> list[float]:
    return [100 * t for t in row["test"]]


def cell(row: dict[str, Any] | None) -> str:
    """``mean ± std`` (unbiased) of the test scores in %, one value for one seed, – if none."""
    if row is None:
        return "–"
    t = percents(row)
    if len(t) == 1:
        return f"{t[0]:.1f}"
    mean = sum(t) / len(t)
    std = (sum((v - mean) ** 2 for v in t) / (len(t) - 1)) ** 0.5
    return f"{mean:.1f} ± {std:.1f}"


def paired(a: dict[str, Any] | None, b: dict[str, Any] | None) -> str:
    """Mean difference a − b (points) and the two-sided Wilcoxon signed-rank p over seeds
    (same seeds and splits); – with fewer than 5 seeds."""
    if a is None or b is None or len(a["test"]) < 5 or a["seeds"] != b["seeds"]:
        return "–"
    from scipy.stats import wilcoxon

    xa, xb = percents(a), percents(b)
    diff = sum(x - y for x, y in zip(xa, xb)) / len(xa)
    if all(abs(x - y) < 1e-9 for x, y in zip(xa, xb)):
        return f"{diff:+.1f} (p = 1)"
    return f"{diff:+.1f} (p = {wilcoxon(xa, xb).pvalue:.3f})"


def parse_script_args(ap: Any, out_default: str, table: Any) -> Any:
    """Add the options every results script shares (``--out``, ``--threads``, ``--table``),
    parse, and either print ``table(out)`` (returns ``None``) or set torch's threads and
    return the arguments (``args.out`` a :class:`Path`)."""
    ap.add_argument("--out", default=out_default)
    ap.add_argument("--threads", type=int, default=0, help="torch threads (0: torch's default)")
    ap.add_argument("--table", action="store_true", help="print the markdown table and exit")
    args = ap.parse_args()
    args.out = Path(args.out)
    if args.table:
        print(table(args.out))
        return None
    if args.threads:
        torch.set_num_threads(args.threads)
    return args


@contextlib.contextmanager
def paused(pids: list[int]):
    """SIGSTOP ``pids`` for the block; SIGCONT them afterwards, whatever happens (also on
    SIGTERM / Ctrl-C of this script)."""

    def resume(*_):
        for pid in pids:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGCONT)

    old = signal.signal(signal.SIGTERM, lambda *a: (resume(), sys.exit(143)))
    try:
        for pid in pids:
            os.kill(pid, signal.SIGSTOP)
        yield
    finally:
        resume()
        signal.signal(signal.SIGTERM, old)
