"""Speed of the pre-trained GNNs' hot paths on this machine: Hu et al.'s featurisation
(molecules/s), pre-training (molecules/s per strategy, GIN 5 × 300, batch 256) and fine-tuning
(seconds per epoch on BBBP, batch 32), all measured in one run.

    python bench/perf_pretrain.py [--device auto] [--threads 0] [--molecules 20000]
        [--batches 20] [--pause PID,PID] [--out docs/results/perf_pretrain.json]

Featurisation: the first ``--molecules`` SMILES of the ZINC_MOSES corpus file (RDKit, one
process). Pre-training: ``--batches`` mini-batches after 2 warm-up batches, the corpus sample
resident on the device. Fine-tuning: the ``hu2020`` GIN from scratch, 3 epochs after one
warm-up epoch, no early stopping. ``--pause`` SIGSTOPs the given processes while timing.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).parent))
from _perf import paused, perf_args, provenance, write_report

from benchmark.data.card import get_card
from benchmark.data.fetch import ensure_files
from benchmark.data.loaders import load_dataset
from benchmark.data.molecules import featurize_all
from benchmark.data.types import GraphData, Split
from benchmark.method import FitContext, resolve_params
from benchmark.metrics import evaluator_for
from benchmark.models import BACKBONES
from benchmark.models.presets import preset_params
from benchmark.pretrain.encoder import ENCODER_KEYS, build_encoder, vocab_of
from benchmark.pretrain.strategies import STRATEGIES
from benchmark.registry import METHODS
from benchmark.train.feeders import GraphFeeder
from benchmark.train.optim import adam


def featurisation(n: int) -> dict[str, float]:
    import pandas as pd

    card = get_card("ZINC_MOSES")
    folder = ensure_files(card, None, None)
    path = folder / "raw" / card.loader_args["file"]
    smiles = pd.read_csv(path, usecols=["SMILES"])["SMILES"].astype(str).tolist()[:n]
    t = time.perf_counter()
    _, skipped = featurize_all(smiles, "hu")
    seconds = time.perf_counter() - t
    return {
        "molecules": n,
        "skipped": len(skipped),
        "seconds": seconds,
        "molecules_per_second": n / seconds,
    }


def pretraining(graphs: GraphData, device: torch.device, batches: int) -> dict[str, dict]:
    arch = {k: v for k, v in preset_params("hu2020", "GIN").items() if k in ENCODER_KEYS}
    out = {}
    for name, cls in ((n, STRATEGIES.get(n)) for n in STRATEGIES.names()):
        torch.manual_seed(0)
        encoder = build_encoder(graphs, arch).to(device)
        strategy = cls(encoder, vocab_of(graphs), {}, arch).to(device)
        opt = adam([*encoder.parameters(), *strategy.parameters()], 1e-3)
        ids = torch.arange(graphs.num_items)
        feeder = GraphFeeder(graphs, Split(ids, ids[:0], ids[:0]), device, 256, 0)
        rng = torch.Generator(device=device).manual_seed(0)
        it = feeder.train_batches()
        times = []
        for i in range(batches + 2):
            batch = next(it)
            if device.type == "cuda":
                torch.cuda.synchronize(device)
            t = time.perf_counter()
            opt.zero_grad(set_to_none=True)
            loss = strategy.loss(encoder, batch, rng)
            loss.backward()
            opt.step()
            float(loss)  # wait for the step
            if i >= 2:
                times.append(time.perf_counter() - t)
        per_batch = sum(times) / len(times)
        out[name] = {"seconds_per_batch": per_batch, "molecules_per_second": 256 / per_batch}
    return out


def finetuning(device: torch.device) -> dict[str, float]:
    from benchmark.data.splits import make_split

    data = load_dataset("BBBP")
    split = make_split(data, "scaffold", 0)
    method = METHODS.get("vanilla")()
    res = {}
    for epochs in (1, 3):
        params = resolve_params(
            method, BACKBONES.get("GIN"), "graph", {"preset": "hu2020", "epochs": epochs}
        )
        ctx = FitContext(
            data, split, "GIN", params, 0, device, evaluator_for(data.card), evaluate_test=False
        )
        res[epochs] = method.fit(ctx).train_seconds / epochs
    return {"bbbp_seconds_per_epoch": res[3], "train_graphs": int(split.train.numel())}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--molecules", type=int, default=20000)
    ap.add_argument("--batches", type=int, default=20)
    ap.add_argument("--pause", default="", help="comma-separated PIDs to SIGSTOP while timing")
    args, device = perf_args(ap, "docs/results/perf_pretrain.json")
    pids = [int(p) for p in args.pause.split(",") if p]
    with paused(pids):
        feat = featurisation(args.molecules)
        corpus = load_dataset("ZINC_MOSES")
        sample = GraphData(
            card=corpus.card,
            y=corpus.y[:10_000],
            num_features=corpus.num_features,
            num_outputs=0,
            graphs=corpus.graphs[:10_000],
            categorical=corpus.categorical,
            edge_categorical=corpus.edge_categorical,
            featurization=corpus.featurization,
        )
        pre = pretraining(sample, device, args.batches)
        fine = finetuning(device)
    report = provenance(device) | {
        "paused_background_pids": pids,
        "featurisation_hu": feat,
        "pretraining_batch256": pre,
        "finetuning": fine,
    }
    write_report(args.out, report, echo=True)


if __name__ == "__main__":
    main()
