"""Issue #2's acceptance table: vanilla backbones with default hyper-parameters, 10 seeds.

    python bench/vanilla_reference.py [--datasets Cora,MUTAG] [--backbones GCN,GIN]
        [--seeds 0-9] [--out docs/results/vanilla_defaults.jsonl] [--threads 1]

Appends one JSON line per (dataset, backbone) to ``--out`` (the summary of
``kdbench fit --json`` plus hardware, date and wall time) and skips pairs already in it, so an
interrupted run resumes. ``--table`` prints the markdown table of a results file.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).parent))
from _results import append_row, load_rows, parse_script_args

from benchmark.cli.options import parse_seeds
from benchmark.data.loaders import load_dataset
from benchmark.fitting import fit_seeds

DATASETS = ["Cora", "CiteSeer", "MUTAG", "PROTEINS", "IMDB-BINARY", "NCI1"]
BACKBONES = ["GCN", "GAT", "GIN", "GraphSAGE", "MLP"]


def done(out: Path) -> set[tuple[str, str]]:
    return {(r["dataset"], r["backbone"]) for r in load_rows(out)}


def table(out: Path) -> str:
    by = {(r["dataset"], r["backbone"]): r for r in load_rows(out)}
    datasets = [d for d in DATASETS if any(k[0] == d for k in by)]
    lines = ["| backbone | " + " | ".join(datasets) + " |", "| --- |" + " --- |" * len(datasets)]
    for b in BACKBONES:
        cells = []
        for d in datasets:
            r = by.get((d, b))
            cells.append(
                "–" if r is None else f"{100 * r['test_mean']:.1f} ± {100 * r['test_std']:.1f}"
            )
        lines.append(f"| {b} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--datasets", default=",".join(DATASETS))
    ap.add_argument("--backbones", default=",".join(BACKBONES))
    ap.add_argument("--seeds", default="0-9")
    args = parse_script_args(ap, "docs/results/vanilla_defaults.jsonl", table)
    if args is None:
        return
    out = args.out
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
            row = append_row(out, summary, t0, device, "python bench/vanilla_reference.py")
            print(
                f"{ds:12s} {bb:10s} test {100 * summary.test_mean_std[0]:.2f} ± "
                f"{100 * (summary.test_mean_std[1] or 0):.2f}  ({row['wall_seconds']} s)",
                flush=True,
            )


if __name__ == "__main__":
    main()
