"""Speed and scale of LTD: seconds per epoch of ``vanilla``, ``kd``, ``ltd_fo`` and ``ltd`` on
Cora-CPF (ratios to ``vanilla`` measured in the same run), and one ``ltd`` epoch on a synthetic
graph the size of ogbn-arxiv with the peak memory it needed.

    python bench/perf_ltd.py [--device auto] [--epochs 50] [--repeats 3] [--threads 0]
        [--arxiv-nodes 169343 --arxiv-edges 1166243] [--out docs/results/perf_ltd.json]

Per-epoch figures: the shared loop with early stopping off and the meta step on from the first
epoch, median over ``--repeats`` runs of ``--epochs`` epochs, the teacher trained beforehand
(not timed). The arxiv-sized run happens in a fresh subprocess per method, so that its peak
resident memory (``ru_maxrss``; CUDA: ``max_memory_allocated``) is its own; the graph has
random edges made undirected (about 2 × ``--arxiv-edges`` directed edges), 128 features and
40 classes, as ogbn-arxiv. A dense N×N float32 matrix alone would need N²·4 bytes (115 GB).
Run it on a quiet machine: a busy neighbour on 2 cores slows torch 5-50x.
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
from torch_geometric.data import Data
from torch_geometric.utils import to_undirected

sys.path.insert(0, str(Path(__file__).parent))
from _perf import perf_args, provenance, timed_peak, write_report

from benchmark.data.loaders import load_dataset
from benchmark.data.splits import make_split
from benchmark.data.types import GraphData
from benchmark.method import FitContext, FitResult, resolve_params
from benchmark.metrics import evaluator_for
from benchmark.models import BACKBONES
from benchmark.registry import METHODS

METHODS_TIMED = ["vanilla", "kd", "ltd_fo", "ltd"]


def _params(method: str, extra: dict[str, Any], backbone: str = "GCN") -> dict[str, Any]:
    over = {"patience": 0, "latency_repeats": 1, **extra}
    if method.startswith("ltd"):
        over["meta_start"] = 1
    return resolve_params(METHODS.get(method)(), BACKBONES.get(backbone), "node", over)


def _teacher(data: GraphData, split: Any, device: torch.device, epochs: int) -> FitResult:
    params = _params("vanilla", {"epochs": epochs})
    ctx = FitContext(
        data,
        split,
        "GCN",
        params,
        0,
        device,
        evaluator_for(data.card),
        evaluate_test=False,
        export_outputs=True,
    )
    return METHODS.get("vanilla")().fit(ctx)


def _fit_seconds(
    method: str,
    data: GraphData,
    split: Any,
    teacher: FitResult,
    device: torch.device,
    epochs: int,
    backbone: str = "GCN",
    extra: dict[str, Any] | None = None,
) -> float:
    """Seconds per epoch of one training of ``method`` on ``backbone`` (early stopping off)."""
    params = _params(method, {"epochs": epochs, **(extra or {})}, backbone)
    ctx = FitContext(
        data,
        split,
        backbone,
        params,
        0,
        device,
        evaluator_for(data.card),
        artifacts={"teacher": teacher},
        evaluate_test=False,
    )
    result = METHODS.get(method)().fit(ctx)
    assert result.epochs_run == epochs, result.epochs_run
    return result.train_seconds / epochs


def cora(device: torch.device, epochs: int, repeats: int) -> dict[str, Any]:
    data = load_dataset("Cora-CPF")
    split = make_split(data, "ltd", 0)
    teacher = _teacher(data, split, device, 100)
    out: dict[str, Any] = {}
    for m in METHODS_TIMED:
        _fit_seconds(m, data, split, teacher, device, 3)  # warm-up
        out[m] = statistics.median(
            _fit_seconds(m, data, split, teacher, device, epochs) for _ in range(repeats)
        )
    return {"seconds_per_epoch": out, "ratio_to_vanilla": {m: out[m] / out["vanilla"] for m in out}}


def synthetic(nodes: int, edges: int, feats: int = 128, classes: int = 40) -> GraphData:
    from types import SimpleNamespace

    g = torch.Generator().manual_seed(0)
    ei = to_undirected(torch.randint(0, nodes, (2, edges), generator=g), num_nodes=nodes)
    y = torch.randint(0, classes, (nodes,), generator=g)
    x = torch.randn(nodes, feats, generator=g)
    card = SimpleNamespace(
        name="synthetic-arxiv",
        task="node",
        target="multiclass",
        metric="accuracy",
        ogb_name=None,
        protocol="ltd",
        protocol_args={},
    )
    return GraphData(
        card=card, y=y, num_features=feats, num_outputs=classes, data=Data(x=x, edge_index=ei, y=y)
    )


def one_arxiv_epoch(method: str, device: torch.device, nodes: int, edges: int) -> dict[str, Any]:
    """One epoch of ``method`` (GCN) on the synthetic graph, in this process."""
    data = synthetic(nodes, edges)
    split = make_split(data, "ltd", 0)
    # a random "teacher": the cost of LTD does not depend on what the logits are
    logits = torch.randn(nodes, data.num_outputs, generator=torch.Generator().manual_seed(1))
    teacher = FitResult(0.0, None, 0, 0, 0.0, 0, outputs={"logits": logits})
    cost = timed_peak(lambda: _fit_seconds(method, data, split, teacher, device, 1), device)
    return {
        "method": method,
        "nodes": nodes,
        "directed_edges": int(data.data.edge_index.shape[1]),
        **cost,
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--epochs", type=int, default=50)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--arxiv-nodes", type=int, default=169_343)
    ap.add_argument("--arxiv-edges", type=int, default=1_166_243)
    ap.add_argument("--skip-arxiv", action="store_true")
    ap.add_argument("--one-epoch", default=None, help=argparse.SUPPRESS)  # subprocess mode
    args, device = perf_args(ap, "docs/results/perf_ltd.json")
    if args.one_epoch:
        print(
            json.dumps(one_arxiv_epoch(args.one_epoch, device, args.arxiv_nodes, args.arxiv_edges))
        )
        return
    result: dict[str, Any] = provenance(device) | {
        "epochs": args.epochs,
        "repeats": args.repeats,
        "cora_cpf_gcn": cora(device, args.epochs, args.repeats),
    }
    print(json.dumps(result["cora_cpf_gcn"], indent=1), flush=True)
    if not args.skip_arxiv:
        result["arxiv_sized_gcn_one_epoch"] = []
        for m in ("vanilla", "ltd"):
            cmd = [
                sys.executable,
                __file__,
                "--one-epoch",
                m,
                "--device",
                args.device,
                "--threads",
                str(args.threads),
                "--arxiv-nodes",
                str(args.arxiv_nodes),
                "--arxiv-edges",
                str(args.arxiv_edges),
            ]
            line = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
            row = json.loads(line.strip().splitlines()[-1])
            print(row, flush=True)
            result["arxiv_sized_gcn_one_epoch"].append(row)
    write_report(args.out, result)


if __name__ == "__main__":
    main()
