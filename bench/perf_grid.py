"""Throughput of the grid: the smoke sweep with 1 and with 2 worker processes.

    python bench/perf_grid.py [--sweep sweeps/smoke.yaml] [--workers 1,2]
        [--out docs/results/perf_grid.json]

For each worker count the sweep runs from scratch in a fresh runs folder (same data root),
tracking on; the figure is trainings per minute, where a training is one ``fit`` of one
seed: ``trials × |tuning seeds| + |final seeds|`` per cell. Wall time includes process start,
study preparation and MLflow logging, as a user sees it. Run it on a quiet machine.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from _perf import provenance, write_report

from benchmark.runner.sweep import expand, load_sweep


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--sweep", default="bench/throughput.yaml")
    ap.add_argument("--workers", default="1,2")
    ap.add_argument("--out", default="docs/results/perf_grid.json")
    args = ap.parse_args()
    sweep = load_sweep(args.sweep)
    cells = expand(sweep)
    b = sweep.budget
    trainings = len(cells) * (b.trials * len(b.tuning_seeds) + len(b.final_seeds))
    results = []
    for n in [int(w) for w in args.workers.split(",")]:
        with tempfile.TemporaryDirectory() as runs:
            env = {**os.environ, "KDBENCH_RUNS": runs}
            env.pop("MLFLOW_TRACKING_URI", None)
            t = time.perf_counter()
            subprocess.run(
                [
                    sys.executable,
                    "-m",
                    "benchmark.cli",
                    "run",
                    args.sweep,
                    "--workers",
                    str(n),
                    "--device",
                    "cpu",
                ],
                env=env,
                check=True,
                stdout=subprocess.DEVNULL,
            )
            wall = time.perf_counter() - t
        per_min = trainings / wall * 60
        results.append(
            {
                "workers": n,
                "wall_seconds": round(wall, 1),
                "trainings": trainings,
                "trainings_per_minute": round(per_min, 1),
            }
        )
        print(
            f"{n} worker(s): {wall:6.1f} s for {trainings} trainings = {per_min:.1f}/min",
            flush=True,
        )
    write_report(
        Path(args.out),
        provenance() | {"sweep": args.sweep, "cells": len(cells), "results": results},
    )


if __name__ == "__main__":
    main()
