"""Shared by the speed scripts of ``bench/`` (``perf_*.py``): their options, the cost of one
call, pausing background processes, and the report file, one JSON object led by
:func:`provenance` (where, when and how it was measured).
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
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch

from benchmark.tracking import git_sha, hardware, versions


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


def epoch_cost(walls: dict[int, list[float]], model_epochs: int) -> dict[str, Any]:
    r"""Per-epoch cost from whole-process walls at two epoch counts ``{E1: [s, ...], E2:
    [...]}``: medians :math:`\tilde w`, :math:`c = (\tilde w(E_2) - \tilde w(E_1)) / (E_2 -
    E_1)`, the cost of a model of ``model_epochs`` epochs (:math:`c` times it) and the
    intercept :math:`\tilde w(E_1) - E_1 c` (start-up and one-off work)."""
    import statistics

    (e1, w1), (e2, w2) = sorted(walls.items())
    m1, m2 = statistics.median(w1), statistics.median(w2)
    per_epoch = (m2 - m1) / (e2 - e1)
    return {
        "walls_s": {str(e): [round(w, 3) for w in ws] for e, ws in sorted(walls.items())},
        "median_walls_s": {str(e1): round(m1, 3), str(e2): round(m2, 3)},
        "per_epoch_s": round(per_epoch, 5),
        f"per_model_s_at_{model_epochs}_epochs": round(per_epoch * model_epochs, 2),
        "start_up_and_one_off_s": round(m1 - e1 * per_epoch, 2),
    }


@contextlib.contextmanager
def worktree(repo: Path, rev: str, where: Path):
    """A detached checkout of ``rev`` at ``where`` for the duration (a reference commit timed
    beside the working tree), removed afterwards."""
    import subprocess

    subprocess.run(
        ["git", "worktree", "add", "-q", "--detach", str(where), rev], cwd=repo, check=True
    )
    try:
        yield where
    finally:
        subprocess.run(["git", "worktree", "remove", "--force", str(where)], cwd=repo, check=False)
