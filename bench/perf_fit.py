"""Fixed cost of ``kdbench fit``: wall seconds of the whole command minus the seconds it
spent training, for ``kdbench fit --method vanilla --dataset Cora --backbone GCN --seeds
0-9`` (issue #31: at most 3 s outside training), at the working tree and at a reference
commit (default 61a6f1e: the in-process MLflow tracker) checked out in a temporary worktree,
in the same run, interleaved, median of ``--repeats``.

    python bench/perf_fit.py [--reference REV] [--repeats 3] [--threads N]
        [--out docs/results/perf_fit.json]

"Outside training" = wall − Σ ``train_seconds`` (the loop's own clock, per seed, from the
command's ``--json`` line): interpreter start, imports, argument checks, data loading,
opening the MLflow store, model set-up, the test pass and latency timing per seed, logging
and the table. Each tree logs to its own store (``KDBENCH_RUNS`` in a temporary folder),
created by one untimed run first, so the timed runs open an existing store as a user's
second command does; ``--no-track`` runs are timed too (the floor without tracking). The
datasets' processed files are shared (already built). Run it on a quiet machine.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).parent))
from _perf import provenance, worktree, write_report

ROOT = Path(__file__).resolve().parents[1]
FIT = ["fit", "--method", "vanilla", "--dataset", "Cora", "--backbone", "GCN", "--seeds", "0-9"]


def one_run(tree: Path, runs: Path, extra: list[str], threads: int | None) -> dict[str, float]:
    """One ``kdbench fit`` process from ``tree``: wall, Σ train_seconds and their difference."""
    argv = [*FIT, "--json", *extra, *(["--threads", str(threads)] if threads else [])]
    code = f"import sys; from benchmark.cli import main; sys.exit(main({argv!r}))"
    env = dict(os.environ, PYTHONPATH=str(tree), KDBENCH_RUNS=str(runs), CUDA_VISIBLE_DEVICES="")
    env.pop("MLFLOW_TRACKING_URI", None)
    t = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=tree, env=env, capture_output=True, text=True
    )
    wall = time.perf_counter() - t
    if done.returncode:
        raise SystemExit(f"kdbench fit failed in {tree}:\n{done.stderr[-2000:]}")
    summary = json.loads(done.stdout.strip().splitlines()[-1])
    train = float(sum(summary["train_seconds"]))
    return {
        "wall_s": round(wall, 3),
        "train_s": round(train, 3),
        "outside_s": round(wall - train, 3),
    }


def summary(runs: list[dict[str, float]]) -> dict[str, Any]:
    return {
        "runs": runs,
        "median_wall_s": round(statistics.median(r["wall_s"] for r in runs), 3),
        "median_outside_s": round(statistics.median(r["outside_s"] for r in runs), 3),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--reference", default="61a6f1e")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--threads", type=int, default=None, help="default: torch's choice")
    ap.add_argument("--out", default=str(ROOT / "docs" / "results" / "perf_fit.json"))
    args = ap.parse_args()
    report: dict[str, Any] = {
        "provenance": provenance(),
        "command": "kdbench " + " ".join(FIT),
        "reference": args.reference,
        "threads": args.threads or "torch default",
        "load_1min_before": round(os.getloadavg()[0], 2),
    }
    with (
        tempfile.TemporaryDirectory() as tmp,
        worktree(ROOT, args.reference, Path(tmp) / "ref") as ref,
    ):
        trees = {"now": ROOT, "reference": ref}
        stores = {name: Path(tmp) / f"runs_{name}" for name in trees}
        for name, tree in trees.items():  # untimed: creates each store
            one_run(tree, stores[name], ["--seeds", "0"], args.threads)
        timed: dict[str, list[dict[str, float]]] = {}
        for rep in range(args.repeats):
            for name, tree in trees.items():
                for mode, extra in (("tracked", []), ("no_track", ["--no-track"])):
                    r = one_run(tree, stores[name], extra, args.threads)
                    timed.setdefault(f"{name}_{mode}", []).append(r)
                    print(name, mode, rep, r, flush=True)
    report["results"] = {k: summary(v) for k, v in timed.items()}
    now = report["results"]["now_tracked"]["median_outside_s"]
    before = report["results"]["reference_tracked"]["median_outside_s"]
    report["outside_training_ratio_reference_over_now"] = round(before / now, 2)
    write_report(Path(args.out), report, echo=True)


if __name__ == "__main__":
    main()
