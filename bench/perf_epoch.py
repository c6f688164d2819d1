"""Seconds per epoch of the shared loop for ``vanilla`` cells, the working tree against a
reference commit checked out in a temporary worktree, in the same run, interleaved.

    python bench/perf_epoch.py [--reference 4738a07] [--cells Cora/GCN,CiteSeer/GraphSAGE,...]
        [--epochs 30] [--repeats 3] [--threads 1] [--pause PID ...]
        [--out docs/results/perf_epoch.json]

Per cell (``dataset/backbone``, default hyper-parameters, seed 0 of the card's protocol),
one fresh process per tree and repeat trains ``--epochs`` epochs with early stopping off and
prints the loop's own ``train_seconds`` (start-up and data loading are outside it); the
figure is the median over repeats divided by the epochs. The trees' datasets are processed
once, untimed. Run it on a quiet machine (``--pause``: background PIDs stopped meanwhile).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).parent))
from _perf import paused, provenance, worktree, write_report

ROOT = Path(__file__).resolve().parents[1]
CELLS = (
    "Cora/GCN,Cora/GraphSAGE,Cora/GIN,CiteSeer/GraphSAGE,CiteSeer/GIN,"
    "MUTAG/GCN,MUTAG/GIN,NCI1/GCN,NCI1/GIN"
)
#: run inside the tree under test: one training, one JSON line
WORKER = """
import json, sys, torch
from benchmark.data.loaders import load_dataset
from benchmark.data.splits import make_split
from benchmark.fitting import fit_seed, plan_fit
dataset, backbone, epochs = sys.argv[1], sys.argv[2], int(sys.argv[3])
data = load_dataset(dataset)
plan = plan_fit("vanilla", data, backbone, {"epochs": epochs, "patience": 0})
split = make_split(data, plan.protocol, 0, plan.protocol_args)
r = fit_seed(plan, 0, torch.device("cpu"), split=split).result
print(json.dumps({"epochs_run": r.epochs_run, "train_seconds": r.train_seconds}))
"""


def one_run(tree: Path, cell: str, epochs: int, threads: int) -> float:
    """Seconds per epoch of one training of ``cell`` with the code of ``tree``."""
    dataset, backbone = cell.split("/")
    env = dict(os.environ, PYTHONPATH=str(tree), CUDA_VISIBLE_DEVICES="")
    env |= {"OMP_NUM_THREADS": str(threads), "MKL_NUM_THREADS": str(threads)}
    done = subprocess.run(
        [sys.executable, "-c", WORKER, dataset, backbone, str(epochs)],
        cwd=tree,
        env=env,
        capture_output=True,
        text=True,
    )
    if done.returncode:
        raise SystemExit(f"{cell} failed in {tree}:\n{done.stderr[-2000:]}")
    info = json.loads(done.stdout.strip().splitlines()[-1])
    if info["epochs_run"] != epochs:
        raise SystemExit(f"{cell} ran {info['epochs_run']} epochs, not {epochs}")
    return info["train_seconds"] / epochs


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--reference", default="4738a07")
    ap.add_argument("--cells", default=CELLS)
    ap.add_argument("--epochs", type=int, default=30)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--pause", type=int, nargs="*", default=[], help="PIDs to SIGSTOP")
    ap.add_argument("--out", default=str(ROOT / "docs" / "results" / "perf_epoch.json"))
    args = ap.parse_args()
    cells = args.cells.split(",")
    report: dict[str, Any] = {
        "provenance": provenance(),
        "what": "seconds per epoch of the shared loop (train steps + validation), vanilla, "
        "default hyper-parameters, seed 0, early stopping off; this tree vs the reference",
        "reference": args.reference,
        "epochs": args.epochs,
        "threads": args.threads,
        "paused_pids": args.pause,
    }
    results: dict[str, dict[str, Any]] = {}
    with (
        tempfile.TemporaryDirectory() as tmp,
        worktree(ROOT, args.reference, Path(tmp) / "ref") as ref,
        paused(args.pause),
    ):
        trees = {"now": ROOT, "reference": ref}
        for cell in cells:  # untimed warm-up: processes the dataset in each tree
            for tree in trees.values():
                one_run(tree, cell, 2, args.threads)
        for cell in cells:
            times: dict[str, list[float]] = {name: [] for name in trees}
            for _ in range(args.repeats):
                for name, tree in trees.items():
                    times[name].append(one_run(tree, cell, args.epochs, args.threads))
            now, before = (statistics.median(times[n]) for n in ("now", "reference"))
            results[cell] = {
                "s_per_epoch": {n: [round(t, 5) for t in ts] for n, ts in times.items()},
                "median_now_s": round(now, 5),
                "median_reference_s": round(before, 5),
                "ratio_reference_over_now": round(before / now, 2),
            }
            print(cell, results[cell], flush=True)
    report["results"] = results
    write_report(Path(args.out), report)


if __name__ == "__main__":
    main()
