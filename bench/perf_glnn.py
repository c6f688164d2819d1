"""Inference latency of MLP students against GNN teachers, full graph (issue #6's speed line).

    python bench/perf_glnn.py [--device auto] [--repeats 20] [--threads 0]
        [--synthetic-nodes 169343] [--out docs/results/perf_glnn.json]

For each node set — the largest real one in the catalogue's offline files (Actor, 7,600 nodes)
and a **synthetic** graph of ogbn-arxiv's size (169,343 nodes, ~1.17M directed edges as
2 × 583k undirected pairs, 128 features, 40 classes; random, speed only: ogbn-arxiv's files
are not on this machine) — the median wall time of ``--repeats`` predictions of every node
(after 3 warm-up calls) with the shared loop's models in eval mode: GraphSAGE, GCN and GAT
with GLNN's settings (2 layers, 128 hidden; GAT 8 heads) against the 2-layer, 128-wide MLP
student, which reads no edges. Ratio = GNN ms / MLP ms, measured in the same process.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).parent))
from _perf import perf_args, provenance, write_report

from benchmark.data.loaders import load_dataset
from benchmark.method import resolve_params
from benchmark.models import BACKBONES, build_backbone
from benchmark.registry import METHODS

MODELS = ["MLP", "GraphSAGE", "GCN", "GAT"]


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


@torch.no_grad()
def latency_ms(name: str, x: torch.Tensor, ei: torch.Tensor, classes: int, repeats: int) -> float:
    params = resolve_params(
        METHODS.get("vanilla")(), BACKBONES.get(name), "node", {"preset": "glnn_cora"}
    )
    model = build_backbone(name, x.shape[1], classes, "node", params).to(x.device).eval()
    for _ in range(3):
        model(x, ei)
    times = []
    for _ in range(repeats):
        _sync(x.device)
        t = time.perf_counter()
        model(x, ei)
        _sync(x.device)
        times.append((time.perf_counter() - t) * 1e3)
    return statistics.median(times)


def synthetic(n: int, device: torch.device) -> tuple[torch.Tensor, torch.Tensor, int]:
    g = torch.Generator().manual_seed(0)
    pairs = torch.randint(0, n, (2, round(3.45 * n)), generator=g)
    ei = torch.cat([pairs, pairs.flip(0)], 1)
    return torch.randn(n, 128, generator=g).to(device), ei.to(device), 40


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--repeats", type=int, default=20)
    ap.add_argument("--synthetic-nodes", type=int, default=169_343)
    args, device = perf_args(ap, "docs/results/perf_glnn.json")
    actor = load_dataset("Actor").data
    sets = {
        "Actor (real, 7,600 nodes)": (actor.x.to(device), actor.edge_index.to(device), 5),
        f"synthetic arxiv-sized ({args.synthetic_nodes:,} nodes)": synthetic(
            args.synthetic_nodes, device
        ),
    }
    rows = []
    for label, (x, ei, classes) in sets.items():
        ms = {m: latency_ms(m, x, ei, classes, args.repeats) for m in MODELS}
        for m in MODELS:
            rows.append(
                {
                    "node set": label,
                    "nodes": x.shape[0],
                    "edges": ei.shape[1],
                    "model": m,
                    "ms": round(ms[m], 2),
                    "x MLP": round(ms[m] / ms["MLP"], 1),
                }
            )
            print(f"{label:40s} {m:10s} {ms[m]:9.2f} ms  {ms[m] / ms['MLP']:6.1f}× MLP")
    write_report(
        args.out,
        provenance(device)
        | {
            "what": "full-graph inference latency, GNN teachers vs the MLP student (median)",
            "repeats": args.repeats,
            "rows": rows,
        },
    )


if __name__ == "__main__":
    main()
