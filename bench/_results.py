"""Shared by the scripts of ``bench/``: resumable JSON-lines results, table cells, paired
tests (the reproduction scripts), and the options, provenance and report file of the
``perf_*`` speed scripts.

Each line of a results file is a ``kdbench fit --json`` summary plus wall time, hardware,
threads, date, commit and command; a script skips the configurations already in its file, so
an interrupted run resumes. A speed report is one JSON object led by :func:`provenance`.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime
import json
import os
import platform
import signal
import sys
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NamedTuple

import torch

from benchmark.fitting import FitSummary
from benchmark.tracking import git_sha, hardware, versions

#: the fields of a results row that hold one value per seed (in the order of ``seeds``)
PER_SEED = ("seeds", "val", "test", "best_epoch", "train_seconds", "inference_ms", "extra")


def load_rows(out: Path) -> list[dict[str, Any]]:
    if not out.exists():
        return []
    return [json.loads(line) for line in out.read_text().splitlines() if line.strip()]


def merge_seeds(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """One row from rows of the same configuration run on disjoint seed ranges (e.g. seeds
    0–4 in one process, 5–9 in another): per-seed fields concatenated in seed order, means
    and unbiased stds recomputed; provenance (date, commit, hardware) from the last row. A
    seed present twice keeps its first result."""
    import statistics

    if len(rows) == 1:
        return rows[0]
    first: dict[int, tuple[dict[str, Any], int]] = {}
    for r in rows:
        for i, seed in enumerate(r["seeds"]):
            first.setdefault(seed, (r, i))
    order = sorted(first)
    merged = dict(rows[-1])
    for f in PER_SEED:
        if all(f in r for r in rows):
            merged[f] = [first[s][0][f][first[s][1]] for s in order]
    for name in ("test", "val"):
        xs = merged[name]
        merged[f"{name}_mean"] = statistics.fmean(xs)
        merged[f"{name}_std"] = statistics.stdev(xs) if len(xs) > 1 else None
    merged["wall_seconds"] = round(sum(r.get("wall_seconds", 0.0) for r in rows), 1)
    return merged


def rows_by_key(out: Path, key: Callable[[dict[str, Any]], tuple]) -> dict[tuple, dict[str, Any]]:
    """The rows of ``out`` by ``key``, a configuration's seed chunks merged into one row."""
    groups: dict[tuple, list[dict[str, Any]]] = {}
    for r in load_rows(out):
        groups.setdefault(key(r), []).append(r)
    return {k: merge_seeds(rs) for k, rs in groups.items()}


def append_row(
    out: Path, summary: FitSummary, started: float, device: torch.device, command: str, **extra: Any
) -> dict[str, Any]:
    """Append ``summary`` (with provenance and ``extra``) to ``out``; returns the row."""
    row = (
        summary.to_json()
        | extra
        | {
            "wall_seconds": round(time.perf_counter() - started, 1),
            "hardware": hardware(device),
            "threads": torch.get_num_threads(),
            "date": datetime.date.today().isoformat(),
            "git_sha": git_sha(),
            "command": command,
        }
    )
    out.parent.mkdir(parents=True, exist_ok=True)
    with out.open("a") as f:
        f.write(json.dumps(row) + "\n")
    return row


@dataclass
class Job:
    """One row of a results file: ``method`` with ``backbone`` on ``dataset`` over the
    script's seeds; ``key`` identifies the row (the script's ``_key`` of it), ``extra`` is
    written into it (e.g. the setting or variant)."""

    key: tuple
    dataset: str
    method: str
    backbone: str
    overrides: dict[str, Any] = field(default_factory=dict)
    protocol: str | None = None
    teacher: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)


def run_jobs(
    out: Path,
    jobs: Iterable[Job],
    key: Callable[[dict[str, Any]], tuple],
    seeds: list[int],
    command: str,
) -> None:
    """Fit every job on those of ``seeds`` that no row of ``out`` with its key holds yet, on
    the CPU, each dataset loaded once in a row; append a row (the seeds run) and print one
    line. Seed ranges can thus be split over processes (``--seeds 0-4`` / ``--seeds 5-9``)
    and an interrupted script resumes; tables merge the chunks (:func:`rows_by_key`)."""
    from benchmark.data.loaders import load_dataset
    from benchmark.fitting import fit_seeds

    device = torch.device("cpu")
    done: dict[tuple, set[int]] = {}
    for r in load_rows(out):
        done.setdefault(key(r), set()).update(r["seeds"])
    name, data = None, None
    for job in jobs:
        todo = [s for s in seeds if s not in done.get(job.key, set())]
        if not todo:
            continue
        if job.dataset != name:
            name, data = job.dataset, load_dataset(job.dataset)
        t0 = time.perf_counter()
        summary = fit_seeds(
            job.method,
            data,
            job.backbone,
            todo,
            device,
            job.overrides,
            protocol=job.protocol,
            teacher=job.teacher,
        )
        row = append_row(out, summary, t0, device, command, **job.extra)
        print(
            " ".join(f"{k or '':12s}" for k in job.key),
            f"{cell(row)} ({row['wall_seconds']} s)",
            flush=True,
        )


def timed_peak(fn: Callable[[], Any], device: torch.device) -> dict[str, Any]:
    """Run ``fn`` once: its wall seconds and the peak memory (CUDA: the device's
    ``max_memory_allocated`` during ``fn``; CPU: the whole process's ``ru_maxrss``, so call
    it in a fresh process)."""
    import resource

    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
    t = time.perf_counter()
    fn()
    seconds = time.perf_counter() - t
    cuda = device.type == "cuda"
    peak = (
        torch.cuda.max_memory_allocated(device)
        if cuda
        else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    )
    return {
        "seconds_incl_setup": seconds,
        "peak_bytes": peak,
        "peak_kind": "cuda max_memory_allocated" if cuda else "process ru_maxrss",
    }


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


class Paired(NamedTuple):
    """A paired comparison over seeds: mean difference (points), two-sided p, and whether
    every pair was equal (then p = 1 without a test)."""

    diff: float
    p: float
    identical: bool


def paired_test(a: dict[str, Any] | None, b: dict[str, Any] | None) -> Paired | None:
    """Mean difference a − b (points) and the two-sided Wilcoxon signed-rank p over seeds
    (same seeds and splits); ``None`` with fewer than 5 seeds or different seeds."""
    if a is None or b is None or len(a["test"]) < 5 or a["seeds"] != b["seeds"]:
        return None
    from scipy.stats import wilcoxon

    xa, xb = percents(a), percents(b)
    diff = sum(x - y for x, y in zip(xa, xb)) / len(xa)
    if all(abs(x - y) < 1e-9 for x, y in zip(xa, xb)):
        return Paired(diff, 1.0, True)
    return Paired(diff, float(wilcoxon(xa, xb).pvalue), False)


def paired(a: dict[str, Any] | None, b: dict[str, Any] | None) -> str:
    """:func:`paired_test` as ``+d.d (p = 0.ppp)`` (``p = 1`` when every pair is equal),
    – where it is ``None``."""
    test = paired_test(a, b)
    if test is None:
        return "–"
    p = "1" if test.identical else f"{test.p:.3f}"
    return f"{test.diff:+.1f} (p = {p})"


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


def perf_args(
    ap: argparse.ArgumentParser, out_default: str
) -> tuple[argparse.Namespace, torch.device]:
    """Add the options every speed script shares (``--device auto|cpu|cuda:N``,
    ``--threads``, ``--out``), parse, set torch's threads and resolve the device once."""
    from benchmark.device import resolve_device

    ap.add_argument("--device", default="auto", help="auto, cpu or cuda:N")
    ap.add_argument("--threads", type=int, default=0, help="torch threads (0: torch's default)")
    ap.add_argument("--out", type=Path, default=Path(out_default))
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    return args, resolve_device(args.device)


def cpu_model() -> str:
    """The CPU's model name and the machine's RAM, e.g. ``AMD EPYC 7B13, 24 GiB RAM``."""
    try:
        lines = Path("/proc/cpuinfo").read_text().splitlines()
        model = next(ln.split(":", 1)[1].strip() for ln in lines if ln.startswith("model name"))
        ram = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
        return f"{model}, {ram:.0f} GiB RAM"
    except (OSError, StopIteration, ValueError):
        return platform.processor() or "unknown"


def provenance(device: torch.device | None = None, command: str | None = None) -> dict[str, Any]:
    """Where and when a speed report was measured: the command (default: this process's
    ``python`` command line), UTC date to the minute, hardware, CPU model and RAM, device,
    torch threads, package versions and commit."""
    return {
        "command": command or " ".join(["python", *sys.argv]),
        "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "hardware": hardware(device),
        "cpu": cpu_model(),
        "device": str(device) if device is not None else "cpu",
        "threads": torch.get_num_threads(),
        "versions": versions(),
        "git_sha": git_sha(),
    }


def write_report(out: Path, report: dict[str, Any], echo: bool = False) -> None:
    """Write ``report`` as indented JSON to ``out`` (parents created); print it if ``echo``."""
    text = json.dumps(report, indent=2)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(text + "\n")
    if echo:
        print(text)
    print(f"written to {out}", flush=True)
