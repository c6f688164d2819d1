"""One-time migration of the pre-runner studies (``docs/results/*.jsonl``) into the record.

    python -m benchmark.results.record_migration [docs/results] [--out docs/results/record]

Before every result went through the runner, ``bench/*_reproduction.py`` wrote one JSON line
per configuration (and per seed chunk: a configuration run as seeds 0–4, then 5–9, has two
lines), with per-seed lists (``seeds``, ``val``, ``test``, ``best_epoch``, ``train_seconds``,
``inference_ms``, ``extra``) and the provenance of its run (``git_sha``, ``date``,
``hardware``, ``threads``, ``command``). Each becomes record seeds (:mod:`.record`), their
provenance kept as recorded: re-running them at today's code does not give the same numbers
(the tie rule and the sparse input path changed since), so every seed keeps the commit it was
made at, and the cell's ``code_commit`` is its latest chunk's.

Each study is a sweep named after its file (``lad_reproduction``, …); a cell key is the
runner's (:func:`.record.cell_key`): the protocol when it is not the dataset card's, and the
fixed values that tell a study's variants apart — LAD's ``base`` is ``distill_weight=0.0``,
its ``graph`` ``attention_scope=graph``, NOSMOG's ablations the switches they turn off, GLNN's
and LTD's their preset, FreeKD's ``kd`` its ``teacher_hidden=256``, the pre-training study its
preset and epochs. Parameter names are mapped to today's (:data:`RENAMED`: LAD-GNN's
``alpha`` is ``distill_weight`` since 8b90379). The untuned studies ran their defaults
(selection ``none``, 1 trial); ``ltd_tuned`` and ``ltd_paper_tuned`` are exports of runner
grids (sweeps ``paper`` and ``ltd_paper``) and keep their cell keys, with shared selection on
their tuning seeds; their ``params`` are the tuned values with the fixed ones, and their
commit is the export's. Kinds follow :func:`benchmark.selection.protocol_kind`.
``lad_official.jsonl`` (the official code's output) and ``perf_*.json`` are not migrated.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from benchmark.results.record import (
    RECORD_DIR,
    Config,
    Provenance,
    RecordCell,
    SeedRow,
    build_cell,
    cell_key,
    write_record,
)
from benchmark.tracking import REPO, config_hash

SOURCE_DIR = REPO / "docs" / "results"
#: per method, old parameter name → today's
RENAMED: dict[str, dict[str, str]] = {"lad_gnn": {"alpha": "distill_weight"}}
#: bench/lad_reproduction.py's variants (today's names)
LAD_VARIANTS: dict[str, dict[str, Any]] = {
    "lad": {},
    "base": {"distill_weight": 0.0},
    "graph": {"attention_scope": "graph"},
    "fusion_paper": {"fusion": "paper"},
    "head_shared": {"head": "shared_frozen"},
}
_OFF = {"position_dim": 0, "rsd_weight": 0.0, "adv_eps": 0.0}
#: bench/nosmog_ablation.py's variants: the switches each turns off
NOSMOG_VARIANTS: dict[str, dict[str, Any]] = {
    "glnn": _OFF,
    "pos": {k: v for k, v in _OFF.items() if k != "position_dim"},
    "rsd": {k: v for k, v in _OFF.items() if k != "rsd_weight"},
    "adv": {k: v for k, v in _OFF.items() if k != "adv_eps"},
    "nosmog": {},
}
#: the per-seed fields of a results line and the record metric each becomes
PER_SEED = {
    "val": "val",
    "test": "test",
    "best_epoch": "best_epoch",
    "train_seconds": "train_seconds",
    "inference_ms": "inference_ms",
}


def _preset(row: dict[str, Any]) -> dict[str, Any]:
    return {"preset": row["params"]["preset"]}


@dataclass(frozen=True)
class Study:
    """How one results file maps to record cells: ``fixed(row)`` gives the fixed values of
    a line's cell (today's names); ``tuned`` marks an export of a runner grid."""

    fixed: Callable[[dict[str, Any]], dict[str, Any]] = field(default=lambda row: {})
    tuned: bool = False


STUDIES: dict[str, Study] = {
    "lad_reproduction": Study(lambda r: LAD_VARIANTS[r["variant"]]),
    "ltd_reproduction": Study(_preset),
    "ltd_tuned": Study(tuned=True),
    "ltd_paper_tuned": Study(tuned=True),
    "glnn_reproduction": Study(_preset),
    "nosmog_ablation": Study(lambda r: {**_preset(r), **NOSMOG_VARIANTS[r["variant"]]}),
    "freekd_reproduction": Study(lambda r: {"teacher_hidden": 256} if r["method"] == "kd" else {}),
    "pretrain_reproduction": Study(lambda r: {**_preset(r), "epochs": r["params"]["epochs"]}),
    "vanilla_defaults": Study(),
}


def renamed(method: str, params: dict[str, Any]) -> dict[str, Any]:
    """``params`` under today's names (:data:`RENAMED`)."""
    names = RENAMED.get(method, {})
    return {names.get(k, k): v for k, v in params.items()}


def explicit_protocol(dataset: str, protocol: str) -> str | None:
    """The protocol as a cell sets it: ``None`` when it is the dataset card's default."""
    from benchmark.results.kinds import default_protocol

    return None if protocol == default_protocol(dataset) else protocol


def line_cell(stem: str, row: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """The identity (:data:`.record.IDENTITY`) and the cell fields (fixed values, selection,
    trials, budget, tuning seeds) of one results line of study ``stem``."""
    from benchmark.selection import protocol_kind

    study = STUDIES[stem]
    method, protocol = row["method"], row["protocol"]
    if study.tuned:
        key, sweep, fixed = row["cell"], row["sweep"], dict(row["fixed"])
        selection = "shared" if int(row["budget"]) > 1 else "none"
        fields = {
            "trials": sum(int(v) for v in row["trials"].values()),
            "budget": int(row["budget"]),
            "tuning_seeds": row["tuning_seeds"] or [],
        }
    else:
        sweep, fixed, selection = stem, dict(study.fixed(row)), "none"
        key = cell_key(
            sweep,
            method,
            row["dataset"],
            row["backbone"],
            row.get("teacher"),
            explicit_protocol(row["dataset"], protocol),
            fixed,
        )
        fields = {"trials": 1, "budget": 1, "tuning_seeds": []}
    identity = {
        "cell": key,
        "sweep": sweep,
        "method": method,
        "dataset": row["dataset"],
        "backbone": row["backbone"],
        "teacher": row.get("teacher"),
        "protocol": protocol,
        "protocol_kind": protocol_kind(protocol, selection),
        "selection": selection,
        "metric": row.get("metric") or _metric(row["dataset"]),
    }
    return identity, {"fixed": fixed, **fields}


def _metric(dataset: str) -> str:
    from benchmark.data.card import get_card

    return get_card(dataset).metric


def line_seeds(
    stem: str, row: dict[str, Any], key: str, fixed: dict[str, Any]
) -> list[tuple[SeedRow, Config, Provenance]]:
    """The record seeds of one results line: its per-seed values, its parameters (today's
    names; a tuned line's tuned values with its fixed ones) and its provenance as recorded."""
    params = renamed(row["method"], row["params"])
    if STUDIES[stem].tuned:
        params = {**fixed, **params}
    config: Config = {
        "config_hash": config_hash({"cell": key, "params": params}),
        "params": params,
    }
    prov: Provenance = {
        "code_commit": row["git_sha"],
        "date": row.get("date") or row.get("exported") or "",
        "hardware": row["hardware"],
    }
    if row.get("threads") is not None:
        prov["threads"] = int(row["threads"])
    prov["command"] = row["command"]
    prov["source"] = f"docs/results/{stem}.jsonl"
    out = []
    for i, seed in enumerate(row["seeds"]):
        values: dict[str, Any] = {"seed": int(seed)}
        for name, metric in PER_SEED.items():
            if row.get(name) is not None and row[name][i] is not None:
                values[metric] = row[name][i]
        if row.get("num_params") is not None:
            values["num_params"] = row["num_params"]
        extra = (row.get("extra") or [None] * len(row["seeds"]))[i]
        if extra:
            values["extra"] = extra
        out.append((SeedRow(**values), config, prov))
    return out


def migrate_file(path: str | Path) -> list[RecordCell]:
    """The record cells of one committed results file (its stem names the study: a key of
    :data:`STUDIES`); lines of the same cell (seed chunks) become one cell, a seed given
    twice keeps its first line's value (as the tables did)."""
    path = Path(path)
    if path.stem not in STUDIES:
        raise ValueError(f"{path.name} is no migrated study; expected one of {', '.join(STUDIES)}")
    cells: dict[str, tuple[dict[str, Any], dict[str, Any], list]] = {}
    for line in path.read_text().splitlines():
        if not line.strip():
            continue
        row = json.loads(line)
        identity, fields = line_cell(path.stem, row)
        entry = cells.setdefault(identity["cell"], (identity, fields, []))
        entry[2].extend(line_seeds(path.stem, row, identity["cell"], fields["fixed"]))
    return [build_cell(identity, seeds, **fields) for identity, fields, seeds in cells.values()]


def migrate(source: str | Path = SOURCE_DIR) -> list[RecordCell]:
    """The record cells of every study of :data:`STUDIES` under ``source``."""
    return [c for stem in STUDIES for c in migrate_file(Path(source) / f"{stem}.jsonl")]


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("source", nargs="?", default=str(SOURCE_DIR), help="the results folder")
    ap.add_argument("--out", default=str(RECORD_DIR), help="the record folder")
    args = ap.parse_args(argv)
    cells = migrate(args.source)
    counts = write_record(cells, args.out)
    seeds = sum(len(c["seeds"]) for c in cells)
    print(
        f"{len(cells)} cells ({seeds} seeds) into {args.out}: "
        f"{counts['added']} added, {counts['replaced']} replaced"
    )


if __name__ == "__main__":
    main()
