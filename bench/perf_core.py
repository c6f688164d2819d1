"""Speed of the core loop: one 200-epoch GCN run on Cora and one 10-fold GIN run on MUTAG.

    python bench/perf_core.py [--device auto] [--repeats 3] [--threads 0]
        [--out docs/results/perf_core.json]

Each figure is the median wall time of ``--repeats`` runs of kdbench's shared loop
(``benchmark.fitting.fit_seeds`` with early stopping off, so every run does the full number of
epochs), next to a *reference* measured in the same process: the textbook PyG loop (PyG's
``DataLoader`` collating every step, ``F.dropout``, per-tensor Adam, a ``.item()`` per step and
per epoch) on the same data, split, model sizes and epochs. The ratio reference / kdbench is
the portable number; the seconds depend on the machine, which is recorded with them.
Run it on a quiet machine: a busy neighbour on 2 cores slows torch 5-50x.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn
from torch_geometric import seed_everything
from torch_geometric.loader import DataLoader
from torch_geometric.nn import GCNConv, GINConv, global_add_pool

sys.path.insert(0, str(Path(__file__).parent))
from _perf import perf_args, provenance, write_report

from benchmark.data.loaders import load_dataset
from benchmark.data.splits import make_split
from benchmark.fitting import fit_seeds


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def timed(fn, repeats: int, device: torch.device) -> float:
    times = []
    for _ in range(repeats):
        _sync(device)
        t = time.perf_counter()
        fn()
        _sync(device)
        times.append(time.perf_counter() - t)
    return statistics.median(times)


# ----------------------------------------------------------------------------- references
def reference_gcn(data, split, device, epochs: int) -> None:
    """The PyG example loop (examples/gcn.py style), evaluating validation every epoch."""
    seed_everything(0)
    g = data.data.to(device)
    y = data.y.to(device)
    tr, va = split.train.to(device), split.val.to(device)
    conv1 = GCNConv(data.num_features, 64).to(device)
    conv2 = GCNConv(64, data.num_outputs).to(device)
    params = [*conv1.parameters(), *conv2.parameters()]
    opt = torch.optim.Adam(params, lr=0.01, weight_decay=5e-4, foreach=False)

    def fwd(train: bool):
        x = F.dropout(g.x, 0.5, train)
        x = F.dropout(F.relu(conv1(x, g.edge_index)), 0.5, train)
        return conv2(x, g.edge_index)

    best = 0.0
    for _ in range(epochs):
        opt.zero_grad()
        loss = F.cross_entropy(fwd(True)[tr], y[tr])
        loss.backward()
        opt.step()
        _ = loss.item()
        with torch.no_grad():
            acc = (fwd(False)[va].argmax(-1) == y[va]).float().mean().item()
        best = max(best, acc)


class _Gin(nn.Module):
    def __init__(self, f: int, c: int, hidden: int = 64, layers: int = 4) -> None:
        super().__init__()
        self.convs, self.bns = nn.ModuleList(), nn.ModuleList()
        for i in range(layers):
            mlp = nn.Sequential(
                nn.Linear(f if i == 0 else hidden, hidden),
                nn.BatchNorm1d(hidden),
                nn.ReLU(),
                nn.Linear(hidden, hidden),
            )
            self.convs.append(GINConv(mlp, train_eps=True))
            self.bns.append(nn.BatchNorm1d(hidden))
        self.head = nn.Sequential(
            nn.Linear(hidden * layers, hidden), nn.ReLU(), nn.Dropout(0.5), nn.Linear(hidden, c)
        )

    def forward(self, b):
        x, hs = b.x, []
        for conv, bn in zip(self.convs, self.bns):
            x = F.relu(bn(conv(x, b.edge_index)))
            hs.append(global_add_pool(x, b.batch))
            x = F.dropout(x, 0.5, self.training)
        return self.head(torch.cat(hs, -1))


def reference_gin_10fold(data, device, epochs: int) -> None:
    """The usual TU loop: PyG DataLoader (collate + host→device copy every step)."""
    for fold in range(10):
        split = make_split(data, "tu_10fold", fold)
        seed_everything(fold)
        model = _Gin(data.num_features, data.num_outputs).to(device)
        opt = torch.optim.Adam(model.parameters(), lr=0.01, foreach=False)
        train = DataLoader(
            [data.graphs[i] for i in split.train.tolist()], batch_size=32, shuffle=True
        )
        val = DataLoader([data.graphs[i] for i in split.val.tolist()], batch_size=1024)
        for _ in range(epochs):
            model.train()
            for b in train:
                b = b.to(device)
                opt.zero_grad()
                loss = F.cross_entropy(model(b), b.y)
                loss.backward()
                opt.step()
                _ = loss.item()
            model.eval()
            with torch.no_grad():
                for b in val:
                    b = b.to(device)
                    _ = (model(b).argmax(-1) == b.y).float().mean().item()


# ----------------------------------------------------------------------------- main
def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--parts", default="loops,micro", help="loops and/or micro")
    args, device = perf_args(ap, "docs/results/perf_core.json")
    cora, mutag = load_dataset("Cora"), load_dataset("MUTAG")
    cora_split = make_split(cora, "planetoid_public", 0)
    results = []

    def add(name: str, ours: float, ref: float, unit: str) -> None:
        results.append(
            {
                "benchmark": name,
                "kdbench_s": float(f"{ours:.4g}"),
                "reference_s": float(f"{ref:.4g}"),
                "speedup": round(ref / ours, 2),
                "unit": unit,
            }
        )
        print(
            f"{name:52s} kdbench {ours:.4g} s   reference {ref:.4g} s   x{ref / ours:.2f}",
            flush=True,
        )

    parts = set(args.parts.split(","))
    gcn = {"epochs": 200, "patience": None}
    fit_seeds("vanilla", cora, "GCN", [0], device, {"epochs": 2})  # warm-up (imports, caches)
    if "loops" in parts:
        ours = timed(
            lambda: fit_seeds("vanilla", cora, "GCN", [0], device, gcn), args.repeats, device
        )
        ref = timed(lambda: reference_gcn(cora, cora_split, device, 200), args.repeats, device)
        add("GCN, Cora, 200 epochs (1 run)", ours, ref, "seconds per run")

        gin = {"epochs": 100, "patience": None}
        ours = timed(
            lambda: fit_seeds("vanilla", mutag, "GIN", list(range(10)), device, gin),
            args.repeats,
            device,
        )
        ref = timed(lambda: reference_gin_10fold(mutag, device, 100), args.repeats, device)
        add("GIN, MUTAG, 10 folds x 100 epochs", ours, ref, "seconds per 10-fold run")
    if "micro" not in parts:
        return finish(args, device, results)

    # the two pieces the loop swaps for faster ones, in isolation (milliseconds per call)
    from torch_geometric.data import Batch as PygBatch

    from benchmark.models import build_backbone
    from benchmark.train.feeders import GraphStore
    from benchmark.train.optim import adam

    store = GraphStore(mutag.graphs, device)
    ids = torch.randperm(len(mutag.graphs), generator=torch.Generator().manual_seed(0))[:32]
    graphs = [mutag.graphs[i].to(device) for i in range(len(mutag.graphs))]
    n = 200
    ours = timed(lambda: [store.select(ids) for _ in range(n)], args.repeats, device) / n
    ref = (
        timed(
            lambda: [PygBatch.from_data_list([graphs[i] for i in ids.tolist()]) for _ in range(n)],
            args.repeats,
            device,
        )
        / n
    )
    add("mini-batch of 32 MUTAG graphs (select vs collate)", ours, ref, "seconds per batch")
    model = build_backbone("GIN", 7, 2, "graph", {"layers": 4, "jk": "cat"}).to(device)
    for prm in model.parameters():
        prm.grad = torch.randn_like(prm)
    fused = adam(model.parameters(), 0.01)
    plain = torch.optim.Adam(model.parameters(), lr=0.01, foreach=False)
    ours = timed(lambda: [fused.step() for _ in range(n)], args.repeats, device) / n
    ref = timed(lambda: [plain.step() for _ in range(n)], args.repeats, device) / n
    add("Adam step, GIN 4x64 (fused vs per-tensor)", ours, ref, "seconds per step")
    finish(args, device, results)


def finish(args: argparse.Namespace, device: torch.device, results: list[dict]) -> None:
    """Write the record, keeping earlier results of benchmarks this run did not repeat."""
    if args.out.exists():
        names = {r["benchmark"] for r in results}
        old = json.loads(args.out.read_text()).get("results", [])
        results = [r for r in old if r["benchmark"] not in names] + results
    write_report(args.out, provenance(device) | {"repeats": args.repeats, "results": results})


if __name__ == "__main__":
    main()
