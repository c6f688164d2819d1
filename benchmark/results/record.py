"""The record: the committed results a fresh clone shows, per seed, with each cell's provenance.

Layout: ``docs/results/record/<sweep>.jsonl`` (:data:`RECORD_DIR`), one file per sweep (each well
under 1 MB), one JSON line per cell, cells sorted by key and seeds by number, so a re-exported
cell changes one line. A line (:class:`RecordCell`)::

    {"cell": "SWEEP/method/dataset/backbone[/teacher=T][/protocol=P][/k=v]", "sweep": ...,
     "method": ..., "dataset": ..., "backbone": ..., "teacher": null | "GCN",
     "protocol": "tu_10fold", "protocol_kind": "honest", "selection": "none", "metric": ...,
     "fixed": {"distill_weight": 0.0}, "trials": 1, "budget": 1, "tuning_seeds": [],
     "code_commit": "<sha of the cell's latest seeds>",
     "configs": [{"config_hash": "...", "params": {...chosen parameters...}}],
     "provenance": [{"code_commit": ..., "date": ..., "hardware": ..., "threads": 1,
                     "versions": {...}, "command": ..., "source": ...}],
     "seeds": [{"seed": 0, "config": 0, "provenance": 0, "val": ..., "test": ...,
                "best_epoch": ..., "train_seconds": ..., "num_params": ...,
                "inference_ms": ..., "extra": {...}}, ...]}

A seed points into its cell's ``configs`` (the parameters it ran with: one entry untuned or
shared, one per seed under nested selection) and ``provenance`` (the commit, day, machine and
command it was made with; several when a cell's seeds were run in parts). ``code_commit`` is
the commit of the cell's most recent provenance entry; whether a cell is stale against
today's code is decided by the reader, never stored.

:func:`load_record` reads it as the frame :func:`benchmark.results.aggregate.final_runs`
returns (string tags, ``m.<metric>`` columns, one row per seed) plus ``source = "record"``, so
the tables take record rows and store rows alike. :func:`write_record` merges cells into it
by key; :func:`benchmark.results.record_export.record_from_store` builds them from a store's
final runs (``kdbench export --record``). The studies made before the runner existed were
migrated into it once (``benchmark/results/record_migration.py`` and its sources
``docs/results/<study>.jsonl``, removed after the migration: see git history), each seed
keeping the commit, day and command it was made with; the record grows only from stores since.
"""

from __future__ import annotations

import ast
import json
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any, TypedDict

import pandas as pd

from benchmark.errors import KdbenchError
from benchmark.results.aggregate import IDENTITY
from benchmark.tracking import REPO

RECORD_DIR = REPO / "docs" / "results" / "record"
#: the per-seed metrics a record keeps (the runner's, :func:`benchmark.fitting.result_metrics`)
METRICS = (
    "val",
    "test",
    "best_epoch",
    "epochs_run",
    "train_seconds",
    "inference_ms",
    "num_params",
    "teacher_params",
)
#: metrics every loaded frame has (NaN where a source did not measure them)
REQUIRED_METRICS = ("val", "test", "best_epoch", "train_seconds", "inference_ms", "num_params")
SOURCE = "record"


class Config(TypedDict):
    """Parameters one or more seeds of a cell ran with, and their hash (the runner's
    :func:`benchmark.tracking.config_hash` of ``{"cell": key, "params": params}``)."""

    config_hash: str
    params: dict[str, Any]


class Provenance(TypedDict, total=False):
    """How seeds were made: commit, day (ISO), machine, threads, package versions, command,
    where the record got them (a store, a migrated results file), the hash of the cell's
    code files they ran (:mod:`benchmark.runner.fingerprint`) and the CPU model and torch's
    kernel instruction set (``AVX512``, ``AVX2``, …) of a CPU fit."""

    code_commit: str
    date: str
    hardware: str
    threads: int
    versions: dict[str, str]
    command: str
    source: str
    code_hash: str
    cpu: str
    cpu_capability: str


class SeedRow(TypedDict, total=False):
    """One final seed: its number, indices into the cell's ``configs`` and ``provenance``,
    the metrics of :data:`METRICS` it has, its ``extra.*`` metrics, and its split and teacher
    validation score when the run tagged them."""

    seed: int
    config: int
    provenance: int
    extra: dict[str, float]
    split: str
    teacher_val: float


class RecordCell(TypedDict, total=False):
    """One line of the record (see the module docstring)."""

    cell: str
    sweep: str
    method: str
    dataset: str
    backbone: str
    teacher: str | None
    protocol: str
    protocol_kind: str
    selection: str
    metric: str
    fixed: dict[str, Any]
    trials: int
    budget: int
    tuning_seeds: list[int]
    code_commit: str
    configs: list[Config]
    provenance: list[Provenance]
    seeds: list[SeedRow]


def cell_key(
    sweep: str,
    method: str,
    dataset: str,
    backbone: str,
    teacher: str | None = None,
    protocol: str | None = None,
    fixed: dict[str, Any] | None = None,
) -> str:
    """The runner's key of a cell (:attr:`benchmark.runner.sweep.Cell.key`: ``protocol`` only
    when the cell sets one, fixed values sorted by name); ``tests/test_record.py`` checks the
    two agree."""
    parts = [sweep, method, dataset, backbone]
    if teacher:
        parts.append(f"teacher={teacher}")
    if protocol:
        parts.append(f"protocol={protocol}")
    parts += [f"{k}={v}" for k, v in sorted((fixed or {}).items())]
    return "/".join(parts)


def parse_value(text: str) -> Any:
    """A parameter logged as ``str(value)`` (MLflow params, key parts) back as a value:
    JSON, then a Python literal (``True``, ``None``, tuples), else the string itself."""
    try:
        return json.loads(text)
    except ValueError:
        pass
    try:
        return ast.literal_eval(text)
    except (ValueError, SyntaxError):
        return text


def fixed_of_key(key: str) -> dict[str, Any]:
    """The fixed values a cell key names (its ``k=v`` parts beyond teacher, protocol, trials
    and selection)."""
    skip = ("teacher", "protocol", "trials", "selection")
    parts = [p.split("=", 1) for p in key.split("/")[4:] if "=" in p]
    return {k: parse_value(v) for k, v in parts if k not in skip}


def build_cell(
    identity: dict[str, Any],
    seeds: Sequence[tuple[SeedRow, Config, Provenance]],
    fixed: dict[str, Any] | None = None,
    trials: int = 1,
    budget: int = 1,
    tuning_seeds: Sequence[int] = (),
) -> RecordCell:
    """A record cell from its identity (:data:`IDENTITY`) and its seeds, each a metrics row
    with the parameters and provenance it ran with; equal configs and provenances are stored
    once. Seeds are sorted by number; a seed given twice keeps its first row."""
    configs: list[Config] = []
    provs: list[Provenance] = []
    rows: dict[int, SeedRow] = {}
    for row, config, prov in seeds:
        if int(row["seed"]) in rows:
            continue
        if config not in configs:
            configs.append(config)
        if prov not in provs:
            provs.append(prov)
        rows[int(row["seed"])] = {
            "seed": int(row["seed"]),
            "config": configs.index(config),
            "provenance": provs.index(prov),
            **{k: v for k, v in row.items() if k != "seed" and v is not None},
        }
    latest = max(range(len(provs)), key=lambda i: (provs[i].get("date", ""), i))
    cell: dict[str, Any] = {k: identity.get(k) for k in IDENTITY}
    cell["teacher"] = cell["teacher"] or None
    cell.update(
        fixed=dict(sorted((fixed if fixed is not None else fixed_of_key(cell["cell"])).items())),
        trials=int(trials),
        budget=int(budget),
        tuning_seeds=[int(s) for s in tuning_seeds],
        code_commit=provs[latest].get("code_commit", ""),
        configs=configs,
        provenance=provs,
        seeds=[rows[s] for s in sorted(rows)],
    )
    return RecordCell(**cell)


def dumps_cell(cell: RecordCell) -> str:
    """The canonical line of a cell: fields in :class:`RecordCell` order, parameter and
    version mappings sorted by name (equal cells give equal lines)."""
    order = list(RecordCell.__annotations__)
    out: dict[str, Any] = {k: cell.get(k) for k in order if k in cell}
    out["configs"] = [
        {"config_hash": c["config_hash"], "params": dict(sorted(c["params"].items()))}
        for c in cell["configs"]
    ]
    out["provenance"] = [
        {**p, "versions": dict(sorted(p["versions"].items()))} if "versions" in p else p
        for p in cell["provenance"]
    ]
    return json.dumps(out, ensure_ascii=False, default=str)


def require_record(folder: str | Path) -> Path:
    """``folder`` if it holds a record (``<sweep>.jsonl`` files), else one error naming it."""
    path = Path(folder)
    if not record_files(path):
        raise KdbenchError(
            f"no record at {path} (a folder of <sweep>.jsonl record files, e.g. "
            "docs/results/record); check the path, or write one with `kdbench export --record DIR`"
        )
    return path


def record_files(folder: str | Path = RECORD_DIR, sweep: str | None = None) -> list[Path]:
    """The record's files under ``folder`` (all, or ``sweep``'s), sorted by name."""
    folder = Path(folder)
    if sweep is not None:
        path = folder / f"{sweep}.jsonl"
        return [path] if path.is_file() else []
    return sorted(folder.glob("*.jsonl")) if folder.is_dir() else []


def read_cells(folder: str | Path = RECORD_DIR, sweep: str | None = None) -> list[RecordCell]:
    """Every cell of the record (or of one sweep), in file and line order."""
    cells: list[RecordCell] = []
    for path in record_files(folder, sweep):
        for n, line in enumerate(path.read_text().splitlines(), 1):
            if not line.strip():
                continue
            try:
                cells.append(json.loads(line))
            except ValueError as exc:
                raise KdbenchError(
                    f"{path}:{n} is not a JSON line ({exc}); restore it from git "
                    "(`git checkout -- docs/results/record`) or re-export the cell"
                ) from None
    return cells


def write_record(cells: Iterable[RecordCell], folder: str | Path = RECORD_DIR) -> dict[str, int]:
    """Merge ``cells`` into the record under ``folder`` by cell key: a cell already there is
    replaced (all its seeds), every other cell is kept; each touched sweep file is rewritten
    sorted by key. Returns how many cells were ``added`` and ``replaced``."""
    folder = Path(folder)
    by_sweep: dict[str, dict[str, RecordCell]] = {}
    for c in cells:
        by_sweep.setdefault(c["sweep"], {})[c["cell"]] = c
    counts = {"added": 0, "replaced": 0}
    for sweep, new in sorted(by_sweep.items()):
        kept = {c["cell"]: c for c in read_cells(folder, sweep)}
        counts["replaced"] += len(new.keys() & kept.keys())
        counts["added"] += len(new.keys() - kept.keys())
        merged = kept | new
        folder.mkdir(parents=True, exist_ok=True)
        text = "".join(dumps_cell(merged[k]) + "\n" for k in sorted(merged))
        (folder / f"{sweep}.jsonl").write_text(text)
    return counts


def cell_runs(cell: RecordCell) -> list[dict[str, Any]]:
    """A record cell as run rows: the tags a final run of the runner carries (strings) and
    its metrics as ``m.<name>`` (see :func:`load_record`)."""
    c: dict[str, Any] = dict(cell)
    tags = {k: "" if c.get(k) is None else str(c[k]) for k in IDENTITY}
    tags.update(
        stage="final",
        trials=str(cell["trials"]),
        budget=str(cell["budget"]),
        tuning_seeds=json.dumps(cell["tuning_seeds"]),
        code_commit=cell["code_commit"],
        source=SOURCE,
        experiment_id=SOURCE,
    )
    rows = []
    for seed in cell["seeds"]:
        s: dict[str, Any] = dict(seed)
        config, prov = cell["configs"][s["config"]], cell["provenance"][s["provenance"]]
        row: dict[str, Any] = {
            "run_id": f"{SOURCE}:{cell['cell']}#seed{s['seed']}",
            **tags,
            "seed": str(s["seed"]),
            "config_hash": config["config_hash"],
            "params": json.dumps(config["params"], sort_keys=True, default=str),
            "git_sha": prov.get("code_commit", ""),
            "date": prov.get("date", ""),
            "hardware": prov.get("hardware", ""),
            "threads": "" if prov.get("threads") is None else str(prov["threads"]),
            "command": prov.get("command", ""),
            **{f"version.{k}": v for k, v in prov.get("versions", {}).items()},
        }
        for key in ("split", "teacher_val"):
            if key in s:
                row[key] = str(s[key])
        row.update({f"m.{k}": float(s[k]) for k in METRICS if k in s})
        row.update({f"m.extra.{k}": float(v) for k, v in s.get("extra", {}).items()})
        rows.append(row)
    return rows


def runs_frame(cells: Iterable[RecordCell]) -> pd.DataFrame:
    """Record cells as one frame of run rows (:func:`cell_runs`), with every metric of
    :data:`REQUIRED_METRICS` as a float column (NaN where not measured)."""
    rows = [r for c in cells for r in cell_runs(c)]
    frame = pd.DataFrame(rows)
    for k in REQUIRED_METRICS:
        if f"m.{k}" not in frame:
            frame[f"m.{k}"] = float("nan")
    metrics = [c for c in frame.columns if c.startswith("m.")]
    frame[metrics] = frame[metrics].astype(float)
    return frame


def load_record(folder: str | Path = RECORD_DIR, sweep: str | None = None) -> pd.DataFrame:
    """The record as run rows, one per seed: the columns of
    :func:`benchmark.results.aggregate.final_runs` (tags as strings: ``cell``, ``sweep``,
    ``method``, ``dataset``, ``backbone``, ``teacher`` (empty for none), ``protocol``,
    ``protocol_kind``, ``selection``, ``metric``, ``seed``, ``stage``, ``trials``, ``budget``,
    ``tuning_seeds``, ``config_hash``, ``git_sha``, ``hardware``, ``version.*``; metrics
    ``m.val``, ``m.test``, ``m.best_epoch``, ``m.train_seconds``, ``m.num_params``,
    ``m.inference_ms``, …; ``run_id`` and ``experiment_id``) plus ``source`` (``"record"``),
    ``params`` (JSON), ``code_commit``, ``date``, ``threads`` and ``command``. Empty frame
    when the record has no cell."""
    cells = read_cells(folder, sweep)
    return runs_frame(cells) if cells else pd.DataFrame()
