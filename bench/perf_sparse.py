"""The sparse input path (``benchmark/models/sparse_input.py``) against the dense one: seconds
per epoch of the shared loop on the CPF bag-of-words graphs, both paths measured in the same
run, alternately.

    python bench/perf_sparse.py [--device auto] [--epochs 30] [--repeats 3] [--threads 0]
        [--datasets Cora-CPF,CiteSeer-CPF] [--out docs/results/perf_sparse.json]

Per dataset, under the ``ltd`` split of seed 0: ``vanilla`` with every backbone that has a
sparse path (GraphSAGE with the ``gcn`` aggregator), ``ltd`` on GCN (second order through
the first layer) and ``glnn`` on the MLP (mini-batches: a new input every step, converted
every step). Early stopping off; each figure is the median of ``--repeats`` trainings of
``--epochs`` epochs, the dense (``off``) and sparse (``auto``) trainings interleaved so
that drift in the machine's speed hits both. Run it on a quiet machine.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
from pathlib import Path
from typing import Any

import torch

sys.path.insert(0, str(Path(__file__).parent))
from perf_ltd import _fit_seconds, _teacher

sys.path.insert(0, str(Path(__file__).parent))
from _perf import perf_args, provenance, write_report

from benchmark.data.loaders import load_dataset
from benchmark.data.splits import make_split
from benchmark.models.sparse_input import sparse_input_mode

#: (method, backbone, extra parameters)
RUNS: list[tuple[str, str, dict[str, Any]]] = [
    ("vanilla", "GCN", {}),
    ("vanilla", "GAT", {}),
    ("vanilla", "GraphSAGE", {"aggr": "gcn"}),
    ("vanilla", "APPNP", {}),
    ("vanilla", "MLP", {}),
    ("ltd", "GCN", {}),
    ("glnn", "MLP", {}),
]


def density(x: torch.Tensor) -> float:
    return x.count_nonzero().item() / x.numel()


def measure(dataset: str, device: torch.device, epochs: int, repeats: int) -> list[dict[str, Any]]:
    data = load_dataset(dataset)
    split = make_split(data, "ltd", 0)
    teacher = _teacher(data, split, device, 50)
    rows = []
    for method, backbone, extra in RUNS:
        times: dict[str, list[float]] = {"off": [], "auto": []}
        for mode in ("off", "auto"):  # warm-up
            sparse_input_mode(mode)
            _fit_seconds(method, data, split, teacher, device, 2, backbone, extra)
        for _ in range(repeats):
            for mode in ("off", "auto"):
                sparse_input_mode(mode)
                times[mode].append(
                    _fit_seconds(method, data, split, teacher, device, epochs, backbone, extra)
                )
        sparse_input_mode("auto")
        dense, sparse = statistics.median(times["off"]), statistics.median(times["auto"])
        row = {
            "dataset": dataset,
            "method": method,
            "backbone": backbone,
            "extra": extra,
            "dense_s_per_epoch": dense,
            "sparse_s_per_epoch": sparse,
            "speedup": dense / sparse,
            "runs": times,
        }
        print(json.dumps({k: v for k, v in row.items() if k != "runs"}), flush=True)
        rows.append(row)
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--epochs", type=int, default=30)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--datasets", default="Cora-CPF,CiteSeer-CPF")
    args, device = perf_args(ap, "docs/results/perf_sparse.json")
    names = args.datasets.split(",")
    result: dict[str, Any] = provenance(device) | {
        "epochs": args.epochs,
        "repeats": args.repeats,
        "feature_density": {d: density(load_dataset(d).data.x) for d in names},
        "rows": [r for d in names for r in measure(d, device, args.epochs, args.repeats)],
    }
    write_report(args.out, result)


if __name__ == "__main__":
    main()
