"""Issue #10's table: a GIN pre-trained by attribute masking or context prediction (Hu et al.
2020), fine-tuned, against the same GIN trained from scratch, on MoleculeNet scaffold splits.

    python bench/pretrain_reproduction.py --pretrain-only          # the two encoders first
    python bench/pretrain_reproduction.py [--datasets BBBP,BACE,ClinTox,SIDER]
        [--methods vanilla,pretrain_attrmask,pretrain_contextpred] [--seeds 0-4]
        [--epochs 100] [--set key=value ...] [--threads 1]
        [--out docs/results/pretrain_reproduction.jsonl]
    python bench/pretrain_reproduction.py --table                  # the markdown of the doc

Every row uses the paper's fine-tuning settings (preset ``hu2020``: GIN 5 × 300 with bond
embeddings, batch 32, Adam lr 1e-3, dropout 0.5; ``--epochs`` of them, 100 in the paper), the
honest protocol (the card's scaffold split, the epoch chosen on validation ROC-AUC) and no
tuning (the same for every row). The encoders: ``pretrain_molecules`` molecules of ZINC_MOSES
× ``pretrain_epochs`` epochs (defaults 50,000 × 10), cached under ``$KDBENCH_RUNS/artifacts``
and shared by every row; ``--pretrain-only`` builds them with a progress bar and records
their losses and speed in ``docs/results/pretrain_encoders.json``. Appends one JSON line per
(dataset, method) and skips those already in ``--out``.
"""

from __future__ import annotations

import argparse
import datetime
import json
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).parent))
from _results import Job, cell, paired, parse_script_args, rows_by_key, run_jobs

from benchmark.cli.options import add_set_option, parse_overrides, parse_seeds

DATASETS = ["BBBP", "BACE", "ClinTox", "SIDER", "Tox21", "HIV"]
METHODS = ["vanilla", "pretrain_attrmask", "pretrain_contextpred"]
STRATEGIES = {"pretrain_attrmask": "attrmask", "pretrain_contextpred": "contextpred"}
ENCODERS = Path("docs/results/pretrain_encoders.json")


def _key(r: dict) -> tuple[str, str]:
    return (r["dataset"], r["method"])


def table(out: Path) -> str:
    by = rows_by_key(out, _key)
    lines = [
        "| dataset | epochs | seeds | from scratch | attribute masking | context prediction "
        "| attrmask − scratch, paired | contextpred − scratch, paired |",
        "|" + " --- |" * 8,
    ]
    for ds in DATASETS:
        rows = [by.get((ds, m)) for m in METHODS]
        if not any(rows):
            continue
        some = next(r for r in rows if r)
        scratch = rows[0]
        tests = [paired(r, scratch) for r in rows[1:]]
        lines.append(
            f"| {ds} | {some['params']['epochs']} | {len(some['seeds'])} | "
            + " | ".join(cell(r) for r in rows)
            + " | "
            + " | ".join(tests)
            + " |"
        )
    return "\n".join(lines) + "\n\n" + encoders_table(ENCODERS)


def encoders_table(path: Path) -> str:
    """The encoders' pre-training: corpus sample, epochs, loss of the first and last epoch,
    training time and speed (``--pretrain-only``'s record)."""
    if not path.exists():
        return ""
    rec = json.loads(path.read_text())
    lines = [
        "| encoder | molecules | epochs | loss, first → last epoch | training | "
        "molecules/s | hardware, threads, date |",
        "|" + " --- |" * 7,
    ]
    for name, r in rec.items():
        lines.append(
            f"| {name} | {r['molecules']:,} | {r['epochs']} | {r['losses'][0]:.3f} → "
            f"{r['losses'][-1]:.3f} | {r['train_seconds'] / 60:.0f} min | "
            f"{r['molecules_per_second']:.0f} | {r['hardware']}, {r['threads']}, "
            f"{r['date']} |"
        )
    return "\n".join(lines)


def pretrain_encoders(extra: dict, out: Path) -> None:
    """Build (or read from the cache) both encoders; record their losses and speed."""
    from benchmark.artifacts import ArtifactCache
    from benchmark.method import resolve_params
    from benchmark.models import BACKBONES
    from benchmark.pretrain.encoder import config_from_params, ensure_encoder
    from benchmark.registry import METHODS as REG
    from benchmark.tracking import git_sha, hardware, runs_dir

    cache = ArtifactCache(runs_dir() / "artifacts")
    device = torch.device("cpu")
    record = json.loads(out.read_text()) if out.exists() else {}
    for method, strategy in STRATEGIES.items():
        params = resolve_params(REG.get(method)(), BACKBONES.get("GIN"), "graph", extra)
        config = config_from_params(strategy, params)
        art = ensure_encoder(config, cache, device, progress=True)
        epochs = len(art["losses"])
        record[strategy] = {
            "molecules": art["molecules"],
            "epochs": epochs,
            "losses": art["losses"],
            "train_seconds": round(art["seconds"], 1),
            "molecules_per_second": round(art["molecules"] * epochs / art["seconds"], 1),
            "config": art["config"],
            "hardware": hardware(device),
            "threads": torch.get_num_threads(),
            "date": datetime.date.today().isoformat(),
            "git_sha": git_sha(),
            "command": "python bench/pretrain_reproduction.py --pretrain-only",
        }
        print(
            f"{strategy}: {art['molecules']} molecules × {epochs} epochs, losses "
            f"{[round(x, 3) for x in art['losses']]}, {art['seconds']:.0f} s",
            flush=True,
        )
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps(record, indent=1, default=str) + "\n")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--datasets", default="BBBP,BACE,ClinTox,SIDER")
    ap.add_argument("--methods", default=",".join(METHODS))
    ap.add_argument("--seeds", default="0-4")
    ap.add_argument("--epochs", type=int, default=100, help="fine-tuning epochs")
    add_set_option(ap, "overrides of every job")
    ap.add_argument("--pretrain-only", action="store_true", help="build the encoders and stop")
    args = parse_script_args(ap, "docs/results/pretrain_reproduction.jsonl", table)
    if args is None:
        return
    extra = parse_overrides(args.set)
    if args.pretrain_only:
        pretrain_encoders(extra, ENCODERS)
        return
    common = {"preset": "hu2020", "epochs": args.epochs, **extra}
    jobs = [
        Job((ds, m), ds, m, "GIN", dict(common))
        for ds in args.datasets.split(",")
        for m in args.methods.split(",")
    ]
    run_jobs(args.out, jobs, _key, parse_seeds(args.seeds), "python bench/pretrain_reproduction.py")


if __name__ == "__main__":
    main()
