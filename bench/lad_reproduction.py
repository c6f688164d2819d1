"""Issue #5's reproduction table: LAD-GNN against the same architecture without distillation,
under the honest and the paper protocol, on the same folds and seeds.

    python bench/lad_reproduction.py [--datasets MUTAG,PTC_MR_GIN,IMDB-BINARY]
        [--backbones GCN,GIN,GraphSAGE,GAT] [--protocols honest,paper] [--seeds 0-9]
        [--variants lad,base,graph,fusion_paper,head_shared] [--threads 1]
        [--out docs/results/lad_reproduction.jsonl]
    python bench/lad_reproduction.py --table    # the markdown of docs/reproduction/lad_gnn.md
    python bench/lad_reproduction.py --inflation  # base network: paper − honest protocol
    python bench/lad_reproduction.py --multiplicity  # LAD − base tests corrected for their number

Per (dataset, backbone, protocol), 10 seeds, the official defaults (no tuning): ``lad`` =
``lad_gnn`` (α = 1, the official code's fusion and batch-wide attention, own head);
``base`` = ``lad_gnn`` with α = 0 — the same student network and training without the
distillation term, i.e. the vanilla backbone of the paper's comparison (the official code's
``STnet`` trained alone); ``graph`` = ``lad_gnn`` with attention masked to each graph;
``fusion_paper`` = the paper's transformer-block fusion (its teacher trained with it);
``head_shared`` = the student uses the teacher's trained head, frozen (the paper's text).
``honest`` = the card's stratified 10-fold CV, epoch chosen on validation; ``paper`` =
``lad_paper`` (official 80/10/10 shuffle per seed, best test accuracy over epochs). Appends one
JSON line per configuration and skips those already in ``--out``.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from _results import Job, cell, paired, paired_test, parse_script_args, rows_by_key, run_jobs

from benchmark.cli.options import parse_seeds

DATASETS = [
    "MUTAG",
    "PTC_MR_GIN",
    "IMDB-BINARY",
    "IMDB-BINARY-minmaxdeg",
    "PROTEINS",
    "IMDB-MULTI",
    "NCI1",
    "NCI109",
]
BACKBONES = ["GCN", "GIN", "GraphSAGE", "GAT"]
PROTOCOLS = {"honest": None, "paper": "lad_paper"}
VARIANTS = {
    "lad": {},
    "base": {"distill_weight": 0.0},
    "graph": {"attention_scope": "graph"},
    "fusion_paper": {"fusion": "paper"},
    "head_shared": {"head": "shared_frozen"},
}
#: table columns of the optional variants, shown when some row has them
EXTRA_COLUMNS = {"fusion_paper": "LAD, paper's fusion", "head_shared": "LAD, shared frozen head"}
#: published (vanilla → LAD-GNN) accuracy % that our offline material states (the spec's
#: headline claims); the paper's full table is not among the files here.
#: IMDB-BINARY-minmaxdeg is IMDB-BINARY with the official code's node feature.
PAPER = {
    ("IMDB-BINARY", "GraphSAGE"): "58.9 → 75.5",
    ("NCI1", "GraphSAGE"): "69.9 → 86.7",
    ("IMDB-BINARY-minmaxdeg", "GraphSAGE"): "58.9 → 75.5",
}


def _key(r: dict) -> tuple:
    return r["dataset"], r["backbone"], r["setting"], r["variant"]


def table(out: Path) -> str:
    by = rows_by_key(out, _key)
    extra = [v for v in EXTRA_COLUMNS if any(k[3] == v for k in by)]
    lines = [
        "| dataset | backbone | paper (vanilla → LAD) | protocol | n | base (α = 0) "
        "| LAD-GNN | LAD − base, paired | LAD, graph-masked attention |"
        + "".join(f" {EXTRA_COLUMNS[v]} |" for v in extra),
        "|" + " --- |" * (9 + len(extra)),
    ]
    for ds in DATASETS:
        for bb in BACKBONES:
            for proto in PROTOCOLS:
                base, lad = by.get((ds, bb, proto, "base")), by.get((ds, bb, proto, "lad"))
                graph = by.get((ds, bb, proto, "graph"))
                if base is None and lad is None:
                    continue
                n = len((lad or base)["seeds"])
                lines.append(
                    f"| {ds} | {bb} | {PAPER.get((ds, bb), '')} | {proto} | {n} | "
                    f"{cell(base)} | {cell(lad)} | {paired(lad, base)} | "
                    f"{cell(graph)} |"
                    + "".join(f" {cell(by.get((ds, bb, proto, v)))} |" for v in extra)
                )
    return "\n".join(lines)


def inflation(out: Path) -> str:
    """Markdown: per dataset and backbone, how many points the ``paper`` protocol adds to
    the ``base`` network's mean test accuracy over the ``honest`` one (both with 10 seeds)."""
    by = rows_by_key(out, _key)
    lines = ["| dataset | " + " | ".join(BACKBONES) + " |", "|" + " --- |" * (1 + len(BACKBONES))]
    for ds in DATASETS:
        gaps = []
        for bb in BACKBONES:
            honest, paper = by.get((ds, bb, "honest", "base")), by.get((ds, bb, "paper", "base"))
            complete = honest and paper and len(honest["seeds"]) == len(paper["seeds"]) == 10
            gaps.append(
                f"{100 * (paper['test_mean'] - honest['test_mean']):+.1f}" if complete else "–"
            )
        if any(g != "–" for g in gaps):
            lines.append(f"| {ds} | " + " | ".join(gaps) + " |")
    return "\n".join(lines)


def multiplicity(out: Path) -> str:
    """Markdown: the paired LAD − base tests of the cells with 10 folds or seeds, per protocol
    and together, corrected for their number m: how many have p < 0.05 (and m · 0.05, the
    count expected by chance alone when no cell differs), the smallest p with its cell, and
    that p adjusted by Holm (family-wise error) and by Benjamini–Hochberg (false discovery
    rate; statsmodels' ``multipletests``)."""
    from statsmodels.stats.multitest import multipletests

    by = rows_by_key(out, _key)
    tests = {}
    for (ds, bb, proto, variant), lad in by.items():
        test = paired_test(lad, by.get((ds, bb, proto, "base"))) if variant == "lad" else None
        if test is not None and len(lad["seeds"]) == 10:
            tests[ds, bb, proto] = test.p
    lines = [
        "| protocol | cells m | p < 0.05 | expected by chance (m · 0.05) | smallest p | "
        "Holm-adjusted | Benjamini–Hochberg-adjusted |",
        "|" + " --- |" * 7,
    ]
    for name, protos in [*((p, {p}) for p in PROTOCOLS), ("both", set(PROTOCOLS))]:
        family = {c: p for c, p in tests.items() if c[2] in protos}
        if not family:
            continue
        cells, ps = list(family), list(family.values())
        low = min(range(len(ps)), key=ps.__getitem__)
        holm, bh = (multipletests(ps, method=m)[1][low] for m in ("holm", "fdr_bh"))
        lines.append(
            f"| {name} | {len(ps)} | {sum(p < 0.05 for p in ps)} | "
            f"{0.05 * len(ps):.1f} | {ps[low]:.3f} ({'/'.join(cells[low])}) | "
            f"{holm:.3f} | {bh:.3f} |"
        )
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--datasets", default=",".join(DATASETS[:3]))
    ap.add_argument("--backbones", default=",".join(BACKBONES))
    ap.add_argument("--protocols", default=",".join(PROTOCOLS))
    ap.add_argument("--variants", default="lad,base")
    ap.add_argument("--seeds", default="0-9")
    ap.add_argument(
        "--inflation",
        action="store_true",
        help="print the paper − honest gap of the base network and exit",
    )
    ap.add_argument(
        "--multiplicity",
        action="store_true",
        help="print the LAD − base tests corrected for their number and exit",
    )
    args = parse_script_args(ap, "docs/results/lad_reproduction.jsonl", table)
    if args is None:
        return
    if args.inflation or args.multiplicity:
        print(inflation(args.out) if args.inflation else multiplicity(args.out))
        return
    jobs = [
        Job(
            (ds, bb, proto, variant),
            ds,
            "lad_gnn",
            bb,
            dict(VARIANTS[variant]),
            PROTOCOLS[proto],
            extra={"setting": proto, "variant": variant},
        )
        for ds in args.datasets.split(",")
        for bb in args.backbones.split(",")
        for proto in args.protocols.split(",")
        for variant in args.variants.split(",")
    ]
    run_jobs(args.out, jobs, _key, parse_seeds(args.seeds), "python bench/lad_reproduction.py")


if __name__ == "__main__":
    main()
