"""Issue #6's reproduction table: GNN teacher, plain MLP and GLNN student, transductive and
inductive, with inference latency of teacher and student.

    python bench/glnn_reproduction.py [--datasets Cora-CPF,CiteSeer-CPF]   # or Cora,CiteSeer
        [--teachers GraphSAGE,GCN,GAT] [--settings tran,ind] [--seeds 0-9]
        [--out docs/results/glnn_reproduction.jsonl] [--threads 1]
    python bench/glnn_reproduction.py --table    # the markdown of docs/reproduction/mlp_students.md

Settings: ``tran`` = the card's protocol (CPF: 20/30 labelled per class, a split per seed;
Planetoid ``Cora``/``CiteSeer``: the public split, seeds vary the initialisation; run those
with ``--settings tran``),
``ind`` = the ``inductive`` protocol on top of it (20 % of the test nodes and their edges
hidden from every model's training graph; scored on those nodes). Each configuration uses the
official per-dataset settings (``--set preset=glnn_<dataset>``), no tuning, the same for every
method. Latency: the shared loop's median of 5 timed predictions of the test part (full graph
for GNNs) on the run's device. Appends one JSON line per (dataset, setting, method, backbone,
teacher) and skips those already in ``--out``.
"""

from __future__ import annotations

import argparse
import statistics
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from _results import Job, cell, paired, parse_script_args, rows_by_key, run_jobs

from benchmark.cli.options import parse_seeds

DATASETS = ["Cora-CPF", "CiteSeer-CPF", "Cora", "CiteSeer"]  # the last two: Planetoid public
TEACHERS = ["GraphSAGE", "GCN", "GAT"]
SETTINGS = {"tran": None, "ind": "inductive"}
#: GLNN paper (official README), GraphSAGE teacher: (SAGE, MLP, GLNN) test accuracy %.
PAPER = {
    ("Cora-CPF", "tran"): ("78.78 ± 1.92", "58.95 ± 1.66", "79.39 ± 1.64"),
    ("Cora-CPF", "ind"): ("81.33 ± 2.19", "59.09 ± 2.96", "73.82 ± 1.93"),
    ("CiteSeer-CPF", "tran"): ("68.04 ± 3.34", "59.75 ± 2.48", "69.28 ± 3.12"),
    ("CiteSeer-CPF", "ind"): ("69.75 ± 3.59", "60.06 ± 5.00", "69.25 ± 2.25"),
}


def _preset(dataset: str) -> str:
    return "glnn_" + dataset.split("-")[0].lower()


def _jobs(teachers: list[str]) -> list[tuple[str, str, str | None]]:
    """(method, backbone, teacher): each teacher, the plain MLP, GLNN from each teacher."""
    return (
        [("vanilla", t, None) for t in teachers]
        + [("vanilla", "MLP", None)]
        + [("glnn", "MLP", t) for t in teachers]
    )


def _key(r: dict) -> tuple:
    return (r["dataset"], r["setting"], r["method"], r["backbone"], r.get("teacher"))


def _ms(r: dict | None) -> float | None:
    vals = [v for v in (r or {}).get("inference_ms", []) if v is not None]
    return statistics.median(vals) if vals else None


def _fmt_ms(ms: float | None) -> str:
    return f"{ms:.2f}" if ms else "–"


def table(out: Path) -> str:
    by = rows_by_key(out, _key)
    lines = [
        "| dataset | setting | teacher | teacher acc | MLP | GLNN | GLNN − MLP, paired "
        "| teacher ms | GLNN ms | speed-up | paper SAGE / MLP / GLNN |",
        "|" + " --- |" * 11,
    ]
    for ds in DATASETS:
        for setting in SETTINGS:
            for t in TEACHERS:
                teacher = by.get((ds, setting, "vanilla", t, None))
                mlp = by.get((ds, setting, "vanilla", "MLP", None))
                glnn = by.get((ds, setting, "glnn", "MLP", t))
                if teacher is None and glnn is None:
                    continue
                tm, sm = _ms(teacher), _ms(glnn)
                speed = f"{tm / sm:.1f}×" if tm and sm else "–"
                paper = " / ".join(PAPER.get((ds, setting), ())) if t == "GraphSAGE" else ""
                lines.append(
                    f"| {ds} | {setting} | {t} | {cell(teacher)} | {cell(mlp)} | {cell(glnn)} "
                    f"| {paired(glnn, mlp)} | {_fmt_ms(tm)} | {_fmt_ms(sm)} | {speed} | {paper} |"
                )
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--datasets", default=",".join(DATASETS[:2]))
    ap.add_argument("--teachers", default=",".join(TEACHERS))
    ap.add_argument("--settings", default=",".join(SETTINGS))
    ap.add_argument("--seeds", default="0-9")
    args = parse_script_args(ap, "docs/results/glnn_reproduction.jsonl", table)
    if args is None:
        return
    jobs = [
        Job(
            (ds, setting, m, bb, teacher),
            ds,
            m,
            bb,
            {"preset": _preset(ds)},
            SETTINGS[setting],
            teacher,
            extra={"setting": setting, "teacher": teacher},
        )
        for ds in args.datasets.split(",")
        for setting in args.settings.split(",")
        for m, bb, teacher in _jobs(args.teachers.split(","))
    ]
    run_jobs(args.out, jobs, _key, parse_seeds(args.seeds), "python bench/glnn_reproduction.py")


if __name__ == "__main__":
    main()
