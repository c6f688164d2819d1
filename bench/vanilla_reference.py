"""Issue #2's acceptance table: vanilla backbones with default hyper-parameters, 10 seeds.

    python bench/vanilla_reference.py [--datasets Cora,MUTAG] [--backbones GCN,GIN]
        [--seeds 0-9] [--out docs/results/vanilla_defaults.jsonl] [--threads 1]

Appends one JSON line per (dataset, backbone) to ``--out`` (the summary of
``kdbench fit --json`` plus hardware, date and wall time) and skips pairs already in it, so an
interrupted run resumes. ``--table`` prints the markdown table of a results file.
"""

from __future__ import annotations

import argparse
import datetime
import json
import time
from pathlib import Path

import torch

from benchmark.cli import parse_seeds
from benchmark.data.loaders import load_dataset
from benchmark.fitting import fit_seeds
from benchmark.tracking import git_sha, hardware

DATASETS = ["Cora", "CiteSeer", "MUTAG", "PROTEINS", "IMDB-BINARY", "NCI1"]
BACKBONES = ["GCN", "GAT", "GIN", "GraphSAGE", "MLP"]


def done(out: Path) -> set[tuple[str, str]]:
    if not out.exists():
        return set()
    rows = [json.loads(line) for line in out.read_text().splitlines() if line.strip()]
    return {(r["dataset"], r["backbone"]) for r in rows}


def table(out: Path) -> str:
    rows = [json.loads(line) for line in out.read_text().splitlines() if line.strip()]
    by = {(r["dataset"], r["backbone"]): r for r in rows}
    datasets = [d for d in DATASETS if any(k[0] == d for k in by)]
    lines = ["| backbone | " + " | ".join(datasets) + " |",
             "| --- |" + " --- |" * len(datasets)]  # fmt: skip
    for b in BACKBONES:
        cells = []
        for d in datasets:
            r = by.get((d, b))
            cells.append("–" if r is None else
                         f"{100 * r['test_mean']:.1f} ± {100 * r['test_std']:.1f}")  # fmt: skip
        lines.append(f"| {b} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--datasets", default=",".join(DATASETS))
    ap.add_argument("--backbones", default=",".join(BACKBONES))
    ap.add_argument("--seeds", default="0-9")
    ap.add_argument("--out", default="docs/results/vanilla_defaults.jsonl")
    ap.add_argument("--threads", type=int, default=0, help="torch threads (0: torch's default)")
    ap.add_argument("--table", action="store_true", help="print the markdown table and exit")
    args = ap.parse_args()
    out = Path(args.out)
    if args.table:
        print(table(out))
        return
    if args.threads:
        torch.set_num_threads(args.threads)
    out.parent.mkdir(parents=True, exist_ok=True)
    device = torch.device("cpu")
    finished = done(out)
    for ds in args.datasets.split(","):
        data = load_dataset(ds)
        for bb in args.backbones.split(","):
            if (ds, bb) in finished:
                continue
            t0 = time.perf_counter()
            summary = fit_seeds("vanilla", data, bb, parse_seeds(args.seeds), device)
            row = summary.to_json() | {
                "wall_seconds": round(time.perf_counter() - t0, 1),
                "hardware": hardware(device), "threads": torch.get_num_threads(),
                "date": datetime.date.today().isoformat(), "git_sha": git_sha(),
                "command": "python bench/vanilla_reference.py",
            }  # fmt: skip
            with out.open("a") as f:
                f.write(json.dumps(row) + "\n")
            print(f"{ds:12s} {bb:10s} test {100 * summary.test_mean_std[0]:.2f} ± "
                  f"{100 * (summary.test_mean_std[1] or 0):.2f}  ({row['wall_seconds']} s)",
                  flush=True)  # fmt: skip


if __name__ == "__main__":
    main()
