"""Speed of FreeKD: seconds per epoch of ``freekd`` (and its ablations) against two
``vanilla`` GNNs trained separately (the cost FreeKD replaces), measured in the same run, on
Cora and Actor with GCN; and one ``freekd`` epoch on a synthetic graph the size of ogbn-arxiv
with its peak memory (the structure loss is sparse: O(E·d), never N×N).

    python bench/perf_freekd.py [--device auto] [--epochs 50] [--repeats 3] [--threads 0]
        [--pause PID,PID] [--arxiv-nodes 169343 --arxiv-edges 1166243]
        [--out docs/results/perf_freekd.json]

Per-epoch figures: the shared loop with early stopping off, median over ``--repeats`` runs
of ``--epochs`` epochs after a warm-up. ``--pause`` SIGSTOPs the given processes while timing
(and resumes them after, whatever happens): time only on a quiet machine.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
from pathlib import Path
from typing import Any

import torch

sys.path.insert(0, str(Path(__file__).parent))
from _perf import paused, perf_args, provenance, timed_peak, write_report
from perf_ltd import synthetic

from benchmark.data.loaders import load_dataset
from benchmark.data.splits import make_split
from benchmark.data.types import GraphData
from benchmark.method import FitContext, resolve_params
from benchmark.metrics import evaluator_for
from benchmark.models import BACKBONES
from benchmark.registry import METHODS

TIMED = ["vanilla", "freekd", "freekd_random", "freekd_node"]


def _seconds_per_epoch(
    method: str, data: GraphData, split: Any, device: torch.device, epochs: int
) -> float:
    params = resolve_params(
        METHODS.get(method)(),
        BACKBONES.get("GCN"),
        "node",
        {"epochs": epochs, "patience": 0, "latency_repeats": 1},
    )
    ctx = FitContext(
        data, split, "GCN", params, 0, device, evaluator_for(data.card), evaluate_test=False
    )
    result = METHODS.get(method)().fit(ctx)
    assert result.epochs_run == epochs, result.epochs_run
    return result.train_seconds / epochs


def per_epoch(dataset: str, device: torch.device, epochs: int, repeats: int) -> dict[str, Any]:
    data = load_dataset(dataset)
    split = make_split(data, data.card.protocol, 0)
    out: dict[str, float] = {}
    for m in TIMED:
        _seconds_per_epoch(m, data, split, device, 3)  # warm-up
        out[m] = statistics.median(
            _seconds_per_epoch(m, data, split, device, epochs) for _ in range(repeats)
        )
    two = 2 * out["vanilla"]
    return {
        "seconds_per_epoch": out,
        "two_vanilla_seconds_per_epoch": two,
        "ratio_to_two_vanilla": {m: out[m] / two for m in out if m != "vanilla"},
    }


def one_arxiv_epoch(device: torch.device, nodes: int, edges: int) -> dict[str, Any]:
    """One ``freekd`` epoch on the synthetic arxiv-sized graph, in this process."""
    data = synthetic(nodes, edges)
    split = make_split(data, "ltd", 0)
    cost = timed_peak(lambda: _seconds_per_epoch("freekd", data, split, device, 1), device)
    return {"nodes": nodes, "directed_edges": int(data.data.edge_index.shape[1]), **cost}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--epochs", type=int, default=50)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--datasets", default="Cora,Actor")
    ap.add_argument("--pause", default="", help="comma-separated PIDs to SIGSTOP while timing")
    ap.add_argument("--arxiv-nodes", type=int, default=169343)
    ap.add_argument("--arxiv-edges", type=int, default=1166243)
    ap.add_argument("--arxiv-child", action="store_true", help=argparse.SUPPRESS)
    args, device = perf_args(ap, "docs/results/perf_freekd.json")
    if args.arxiv_child:
        print(json.dumps(one_arxiv_epoch(device, args.arxiv_nodes, args.arxiv_edges)))
        return
    pids = [int(p) for p in args.pause.split(",") if p]
    with paused(pids):
        results = {
            ds: per_epoch(ds, device, args.epochs, args.repeats) for ds in args.datasets.split(",")
        }
        child = subprocess.run(
            [
                sys.executable,
                __file__,
                "--arxiv-child",
                "--device",
                str(device),
                "--threads",
                str(args.threads),
                "--arxiv-nodes",
                str(args.arxiv_nodes),
                "--arxiv-edges",
                str(args.arxiv_edges),
            ],
            capture_output=True,
            text=True,
            check=True,
        )
    report = provenance(device) | {
        "epochs": args.epochs,
        "repeats": args.repeats,
        "paused_background_pids": pids,
        "per_epoch": results,
        "arxiv_sized_epoch": json.loads(child.stdout.splitlines()[-1]),
    }
    write_report(args.out, report, echo=True)


if __name__ == "__main__":
    main()
