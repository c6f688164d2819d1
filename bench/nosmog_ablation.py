"""Issue #6's NOSMOG table: GLNN, each of NOSMOG's three additions alone, and all three, from
the same cached GraphSAGE teacher on the same splits and seeds (paired).

    python bench/nosmog_ablation.py [--datasets Cora-CPF,CiteSeer-CPF] [--settings tran,ind]
        [--variants glnn,pos,rsd,adv,nosmog] [--seeds 0-9] [--threads 1]
        [--out docs/results/nosmog_ablation.jsonl]
    python bench/nosmog_ablation.py --table     # the markdown of docs/reproduction/mlp_students.md

Every row is method ``nosmog`` with the official per-dataset settings (preset
``nosmog_<dataset>``, ``nosmog_<dataset>_ind`` for the inductive setting) and some switches
off: ``glnn`` (all off: exactly GLNN, checked in ``tests/test_nosmog.py``), ``pos`` (DeepWalk
position features only), ``rsd`` (representation similarity distillation only), ``adv``
(adversarial augmentation only), ``nosmog`` (all three). No tuning. Appends one JSON line per
(dataset, setting, variant) and skips those already in ``--out``.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from _results import Job, cell, paired, parse_script_args, rows_by_key, run_jobs

from benchmark.cli.options import parse_seeds

DATASETS = ["Cora-CPF", "CiteSeer-CPF"]
SETTINGS = {"tran": None, "ind": "inductive"}
OFF = {"position_dim": 0, "rsd_weight": 0.0, "adv_eps": 0.0}
#: variant → the switches it turns off (the preset turns all three on).
VARIANTS = {
    "glnn": OFF,
    "pos": {k: v for k, v in OFF.items() if k != "position_dim"},
    "rsd": {k: v for k, v in OFF.items() if k != "rsd_weight"},
    "adv": {k: v for k, v in OFF.items() if k != "adv_eps"},
    "nosmog": {},
}


def _preset(dataset: str, setting: str) -> str:
    base = "nosmog_" + dataset.split("-")[0].lower()
    return base + ("_ind" if setting == "ind" else "")


def _key(r: dict) -> tuple:
    return (r["dataset"], r["setting"], r["variant"])


def table(out: Path) -> str:
    by = rows_by_key(out, _key)
    head = [v for v in VARIANTS if v != "glnn"]
    lines = [
        "| dataset | setting | GLNN | "
        + " | ".join(f"+{v}" if v != "nosmog" else "NOSMOG" for v in head)
        + " | "
        + " | ".join(f"{v} − GLNN, paired" for v in head)
        + " |",
        "|" + " --- |" * (3 + 2 * len(head)),
    ]
    for ds in DATASETS:
        for setting in SETTINGS:
            base = by.get((ds, setting, "glnn"))
            rows = [by.get((ds, setting, v)) for v in head]
            if base is None and not any(rows):
                continue
            lines.append(
                f"| {ds} | {setting} | {cell(base)} | "
                + " | ".join(cell(r) for r in rows)
                + " | "
                + " | ".join(paired(r, base) for r in rows)
                + " |"
            )
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--datasets", default=",".join(DATASETS))
    ap.add_argument("--settings", default=",".join(SETTINGS))
    ap.add_argument("--variants", default=",".join(VARIANTS))
    ap.add_argument("--seeds", default="0-9")
    args = parse_script_args(ap, "docs/results/nosmog_ablation.jsonl", table)
    if args is None:
        return
    jobs = [
        Job(
            (ds, setting, v),
            ds,
            "nosmog",
            "MLP",
            {"preset": _preset(ds, setting), **VARIANTS[v]},
            SETTINGS[setting],
            "GraphSAGE",
            extra={"setting": setting, "variant": v, "teacher": "GraphSAGE"},
        )
        for ds in args.datasets.split(",")
        for setting in args.settings.split(",")
        for v in args.variants.split(",")
    ]
    run_jobs(args.out, jobs, _key, parse_seeds(args.seeds), "python bench/nosmog_ablation.py")


if __name__ == "__main__":
    main()
