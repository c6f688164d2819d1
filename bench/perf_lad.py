"""LAD-GNN speed: one 10-fold teacher + student run on MUTAG, ours against the official code.

    python bench/perf_lad.py --official /path/to/LAD-GNN [--backbone GCN] [--pause PID ...]
        [--out docs/results/perf_lad.json]

``--official`` is a checkout of github.com/XiaobinHong/LAD-GNN runnable in this environment
(outside this repository; see ``docs/performance.md`` for the four fixes it needs with current
PyG/torch) with MUTAG's raw TU files under ``data/MUTAG/MUTAG/raw``. Both run with the
official published defaults (hidden 64, 2 layers, batch 32, at most 300 epochs, early stopping
50; teacher lr 0.01, student lr 0.001):

* official: ``main.py --train_mode T`` (one teacher) then ``--train_mode S --runs 10`` (ten
  student runs on reshuffled data, model carried over between runs, as published);
* ours: ``kdbench fit --method lad_gnn --seeds 0-9`` in a fresh runs folder — ten folds, each
  training its own teacher (cached) and student, validation selection, test once.

Both are timed end to end as subprocesses (wall seconds, process start and data loading
included), on the CPU, with the processes of ``--pause`` stopped (SIGSTOP) meanwhile.
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
from _perf import paused, provenance, write_report

REPO = Path(__file__).resolve().parents[1]
OFFICIAL_BACKBONE = {"GCN": "GCN", "GIN": "GIN", "GAT": "GAT", "GraphSAGE": "SAGE"}


def timed(cmd: list[str], cwd: Path, env: dict[str, str]) -> float:
    t = time.perf_counter()
    done = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True)
    seconds = time.perf_counter() - t
    if done.returncode:
        raise SystemExit(f"{' '.join(cmd)} failed:\n{done.stderr[-2000:]}")
    return round(seconds, 1)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--official", type=Path, required=True)
    ap.add_argument("--backbone", default="GCN", choices=sorted(OFFICIAL_BACKBONE))
    ap.add_argument("--pause", type=int, nargs="*", default=[])
    ap.add_argument("--out", type=Path, default=REPO / "docs/results/perf_lad.json")
    args = ap.parse_args()
    env = dict(os.environ, CUDA_VISIBLE_DEVICES="")
    py = sys.executable
    common = [
        "--dataset",
        "MUTAG",
        "--nhid",
        "64",
        "--nlayers",
        "2",
        "--seed",
        "1",
        "--backbone",
        OFFICIAL_BACKBONE[args.backbone],
    ]
    with tempfile.TemporaryDirectory() as runs, paused(args.pause):
        load = os.getloadavg()[0]
        official_t = timed(
            [py, "main.py", "--train_mode", "T", "--lr", "0.01", *common], args.official, env
        )
        official_s = timed(
            [py, "main.py", "--train_mode", "S", "--lr", "0.001", "--runs", "10", *common],
            args.official,
            env,
        )
        ours = timed(
            [
                py,
                "-m",
                "benchmark.cli",
                "fit",
                "--method",
                "lad_gnn",
                "--dataset",
                "MUTAG",
                "--backbone",
                args.backbone,
                "--seeds",
                "0-9",
                "--device",
                "cpu",
                "--no-track",
            ],
            REPO,
            dict(env, KDBENCH_RUNS=runs),
        )
    result = provenance() | {
        "what": "LAD-GNN on MUTAG: 10-fold teacher + student, wall seconds end to end",
        "backbone": args.backbone,
        "official_teacher_s": official_t,
        "official_student_10_runs_s": official_s,
        "official_total_s": round(official_t + official_s, 1),
        "ours_10_teachers_and_students_s": ours,
        "ratio_ours_over_official": round(ours / (official_t + official_s), 2),
        "loadavg_1min_before": round(load, 2),
        "paused_pids": args.pause,
    }
    write_report(args.out, result, echo=True)


if __name__ == "__main__":
    main()
