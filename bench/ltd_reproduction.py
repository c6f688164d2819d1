"""Issue #8's reproduction table: vanilla teacher, ``kd``, ``ltd`` and ``ltd_fo`` on the CPF
sets, under LTD's honest protocol (``ltd``: a fresh 20/20/10 split per seed, 10 seeds) and its
``paper`` protocol (``ltd_fixed``: the official single split, one run).

    python bench/ltd_reproduction.py [--datasets Cora-CPF,CiteSeer-CPF]
        [--backbones GCN,GAT,GraphSAGE,APPNP,SGC] [--methods vanilla,kd,ltd,ltd_fo]
        [--preset ltd] [--set key=value ...] [--out docs/results/ltd_reproduction.jsonl]
        [--threads 1]
    python bench/ltd_reproduction.py --table     # the markdown of docs/reproduction/ltd.md

Every configuration is the method's default with the paper's teacher settings (``--preset
ltd``): no tuning (trial budget 0), the same for every method. Appends one JSON line per
(dataset, backbone, method, protocol) and skips those already in ``--out``, so an interrupted
run resumes; teachers are cached under ``$KDBENCH_RUNS/artifacts`` and shared by the methods.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from _results import Job, cell, paired, parse_script_args, rows_by_key, run_jobs

from benchmark.cli.options import add_set_option, parse_overrides, parse_seeds

DATASETS = ["Cora-CPF", "CiteSeer-CPF"]
BACKBONES = ["GCN", "GAT", "GraphSAGE", "APPNP", "SGC"]
METHODS = ["vanilla", "kd", "ltd", "ltd_fo"]
#: protocol → seeds: honest (fresh split per seed) and the official code's fixed split.
PROTOCOLS = {"ltd": "0-9", "ltd_fixed": "0"}

#: LTD paper, Appendix Table 8 (test accuracy %, one fixed split, one run); spec: methods/ltd.md
PAPER_LTD = {
    ("Cora-CPF", "GCN"): 87.21,
    ("Cora-CPF", "GAT"): 86.56,
    ("Cora-CPF", "GraphSAGE"): 87.03,
    ("Cora-CPF", "APPNP"): 86.93,
    ("Cora-CPF", "SGC"): 86.60,
    ("CiteSeer-CPF", "GCN"): 78.51,
    ("CiteSeer-CPF", "GAT"): 77.35,
    ("CiteSeer-CPF", "GraphSAGE"): 77.46,
    ("CiteSeer-CPF", "APPNP"): 78.51,
    ("CiteSeer-CPF", "SGC"): 78.73,
}


def _key(r: dict) -> tuple[str, str, str, str]:
    return (r["dataset"], r["backbone"], r["method"], r["protocol"])


def table(out: Path) -> str:
    by = rows_by_key(out, _key)
    head = (
        "| dataset | backbone | paper LTD | teacher (paper / ltd) | kd (paper / ltd) "
        "| ltd (paper / ltd) | ltd_fo (paper / ltd) | ltd − kd, paired "
        "| ltd_fo − kd, paired |"
    )
    lines = [head, "|" + " --- |" * 9]
    for ds in DATASETS:
        for bb in BACKBONES:
            cells = []
            for m in METHODS:
                fixed, honest = by.get((ds, bb, m, "ltd_fixed")), by.get((ds, bb, m, "ltd"))
                cells.append(f"{cell(fixed)} / {cell(honest)}")
            kd = by.get((ds, bb, "kd", "ltd"))
            tests = [paired(by.get((ds, bb, m, "ltd")), kd) for m in ("ltd", "ltd_fo")]
            lines.append(
                f"| {ds} | {bb} | {PAPER_LTD[(ds, bb)]:.2f} | "
                + " | ".join(cells)
                + f" | {tests[0]} | {tests[1]} |"
            )
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--datasets", default=",".join(DATASETS))
    ap.add_argument("--backbones", default=",".join(BACKBONES))
    ap.add_argument("--methods", default=",".join(METHODS))
    ap.add_argument("--protocols", default=",".join(PROTOCOLS))
    ap.add_argument("--preset", default="ltd")
    add_set_option(ap, "overrides of every job")
    args = parse_script_args(ap, "docs/results/ltd_reproduction.jsonl", table)
    if args is None:
        return
    overrides = {"preset": args.preset, **parse_overrides(args.set)}
    jobs = [
        Job((ds, bb, m, proto), ds, m, bb, overrides, proto)
        for ds in args.datasets.split(",")
        for bb in args.backbones.split(",")
        for proto in args.protocols.split(",")
        for m in args.methods.split(",")
    ]
    for proto, seeds in PROTOCOLS.items():  # the fixed split is one run, the honest one ten
        run_jobs(
            args.out,
            [j for j in jobs if j.protocol == proto],
            _key,
            parse_seeds(seeds),
            "python bench/ltd_reproduction.py",
        )


if __name__ == "__main__":
    main()
