"""``kdbench export --record``: a store's final runs as record cells (:mod:`.record`).

:func:`record_from_store` reads the final runs of :func:`benchmark.results.aggregate.
final_runs` (one per seed: tags and ``m.<metric>`` columns, protocol kinds filled in by
:func:`benchmark.results.kinds.with_kinds`), the parameters each run logged and the day it
started (:func:`run_details`), and builds one record cell per cell key with
:func:`benchmark.results.record.build_cell`: per-seed metrics, parameters and provenance
(commit, hardware, torch threads and versions from the runs' tags, the command that runs
their sweep).
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Sequence
from typing import Any

import pandas as pd

from benchmark.results.record import (
    IDENTITY,
    METRICS,
    Config,
    Provenance,
    RecordCell,
    SeedRow,
    build_cell,
    parse_value,
)
from benchmark.tracking import REPO


def run_details(tracking_uri: str, run_ids: Sequence[str]) -> dict[str, dict[str, Any]]:
    """Per run id: its parameters (``params``, values parsed by :func:`parse_value`), its start
    time (``start``, ms since the epoch) and the UTC day it started (``date``). SQL stores are
    read from MLflow's ``params`` and ``runs`` tables (:func:`run_details_sql`), others
    through ``MlflowClient.get_run`` (:func:`run_details_client`)."""
    from benchmark.results import mlflow_sql

    if mlflow_sql.is_sql(tracking_uri):
        return run_details_sql(tracking_uri, run_ids)
    return run_details_client(tracking_uri, run_ids)


def run_details_sql(tracking_uri: str, run_ids: Sequence[str]) -> dict[str, dict[str, Any]]:
    """:func:`run_details` in two queries per 500 runs."""
    import sqlalchemy as sa

    from benchmark.results import mlflow_sql

    out: dict[str, dict[str, Any]] = {r: {"params": {}, "start": 0, "date": ""} for r in run_ids}
    ids = sa.bindparam("ids", expanding=True)
    with mlflow_sql._engine(tracking_uri).connect() as con:
        for i in range(0, len(run_ids), 500):
            chunk = {"ids": list(run_ids[i : i + 500])}
            q = "SELECT run_uuid, key, value FROM params WHERE run_uuid IN :ids"
            for run, key, value in con.execute(sa.text(q).bindparams(ids), chunk):
                out[run]["params"][key] = parse_value(value)
            q = "SELECT run_uuid, start_time FROM runs WHERE run_uuid IN :ids"
            for run, start in con.execute(sa.text(q).bindparams(ids), chunk):
                out[run].update(start=int(start or 0), date=_day(start))
    return out


def run_details_client(tracking_uri: str, run_ids: Sequence[str]) -> dict[str, dict[str, Any]]:
    """:func:`run_details` through the MLflow client (any tracking URI), one call per run."""
    from mlflow.tracking import MlflowClient

    client = MlflowClient(tracking_uri)
    out: dict[str, dict[str, Any]] = {}
    for r in run_ids:
        run = client.get_run(r)
        out[r] = {
            "params": {k: parse_value(v) for k, v in run.data.params.items()},
            "start": int(run.info.start_time or 0),
            "date": _day(run.info.start_time),
        }
    return out


def _day(millis: Any) -> str:
    """An MLflow start time (ms since the epoch) as an ISO day (UTC); empty when unknown."""
    if millis is None or pd.isna(millis):
        return ""
    return pd.Timestamp(int(millis), unit="ms", tz="UTC").date().isoformat()


def _tag(run: pd.Series, name: str) -> str:
    value = run.get(name)
    return "" if value is None or (isinstance(value, float) and pd.isna(value)) else str(value)


def sweep_command(sweep: str) -> str:
    """The command that ran ``sweep``'s cells, as far as the store can tell: ``kdbench run
    sweeps/[…/]<sweep>.yaml`` when this checkout has that file, else the sweep's name."""
    paths = sorted((REPO / "sweeps").rglob(f"{sweep}.yaml"))
    if not paths:
        return f"kdbench run <sweep {sweep}>"
    return f"kdbench run {paths[0].relative_to(REPO).as_posix()}"


def _most(runs: pd.DataFrame, name: str) -> int:
    """The largest numeric value of tag ``name`` over ``runs``; 1 when none has one."""
    values = pd.to_numeric(runs[name], errors="coerce") if name in runs else pd.Series([])
    return 1 if values.dropna().empty else int(values.max())


def store_cell(runs: pd.DataFrame, details: dict[str, dict[str, Any]]) -> RecordCell:
    """The record cell of one cell's final runs (rows of :func:`final_runs` with kinds); a
    seed run twice keeps its latest run."""
    from benchmark.results.kinds import tuning_seeds

    start = runs["run_id"].map(lambda r: -details[r]["start"])
    runs = runs.assign(_seed=runs["seed"].astype(int), _start=start)
    runs = runs.sort_values(["_seed", "_start", "run_id"], kind="stable")
    first = runs.iloc[0]
    seeds: list[tuple[SeedRow, Config, Provenance]] = []
    for _, run in runs.iterrows():
        row: dict[str, Any] = {"seed": int(run["_seed"])}
        for k in METRICS:
            value = run.get(f"m.{k}")
            if value is not None and not pd.isna(value):
                row[k] = float(value)
        extra = {
            c[len("m.extra.") :]: float(run[c])
            for c in runs.columns
            if c.startswith("m.extra.") and not pd.isna(run[c])
        }
        if extra:
            row["extra"] = extra
        if _tag(run, "split"):
            row["split"] = _tag(run, "split")
        if _tag(run, "teacher_val"):
            row["teacher_val"] = float(_tag(run, "teacher_val"))
        versions = {
            c[len("version.") :]: _tag(run, c) for c in runs.columns if c.startswith("version.")
        }
        prov: Provenance = {
            "code_commit": _tag(run, "git_sha"),
            "date": details[run["run_id"]]["date"],
            "hardware": _tag(run, "hardware"),
            "versions": {k: v for k, v in versions.items() if v},
            "command": _tag(run, "command") or sweep_command(_tag(first, "sweep")),
            "source": "kdbench export --record (an MLflow store's final runs)",
        }
        if _tag(run, "threads"):  # torch threads of the fit (`kdbench verify` re-fits on them)
            prov["threads"] = int(float(_tag(run, "threads")))
        if _tag(run, "code_hash"):  # the hash of the cell's code files it ran (staleness)
            prov["code_hash"] = _tag(run, "code_hash")
        for key in ("cpu", "cpu_capability"):  # float rounding of a CPU fit depends on them
            if _tag(run, key):
                prov[key] = _tag(run, key)  # type: ignore[literal-required]
        config: Config = {
            "config_hash": _tag(run, "config_hash"),
            "params": details[run["run_id"]]["params"],
        }
        seeds.append((SeedRow(**row), config, prov))
    return build_cell(
        {k: _tag(first, k) for k in IDENTITY},
        seeds,
        trials=_most(runs, "trials"),
        budget=_most(runs, "budget"),
        tuning_seeds=tuning_seeds(runs.get("tuning_seeds", [])),
    )


def record_from_store(
    tracking_uri: str, sweep: str | None = None, partial: bool = False
) -> list[RecordCell]:
    """The record cells of every cell with finished final runs in the store (or in one
    sweep), from :func:`benchmark.results.aggregate.final_runs`: per-seed metrics, the
    parameters each seed ran with, and its provenance tags (commit, hardware, versions)
    with the day it started. Sorted by key; runs without a cell key are skipped. A cell with
    fewer final seeds than its sweep asks for (:func:`expected_seeds`; still running, or seeds
    failed) is left out unless ``partial``: merged by key, it would replace a complete cell."""
    from benchmark.results import kinds
    from benchmark.results.aggregate import final_runs

    runs = final_runs(tracking_uri, sweep)
    if runs.empty or "cell" not in runs:
        return []
    runs = kinds.with_kinds(runs[runs["cell"].fillna("") != ""])
    if runs.empty:
        return []
    if not partial:
        want = expected_seeds(tracking_uri)
        done = runs.groupby("cell")["seed"].nunique()
        short = {str(c) for c, n in done.items() if n < want.get(str(c), 0)}
        runs = runs[~runs["cell"].isin(short)]
        if runs.empty:
            return []
    details = run_details(tracking_uri, list(runs["run_id"]))
    return [
        store_cell(group, details)
        for _, group in sorted(runs.groupby("cell"), key=lambda kv: str(kv[0]))
    ]


def expected_seeds(tracking_uri: str) -> dict[str, int]:
    """Cell key → number of final seeds its sweep asks for (from the ``stage=cell`` runs)."""
    from mlflow.tracking import MlflowClient

    from benchmark.results import mlflow_sql

    if mlflow_sql.is_sql(tracking_uri):
        cells = mlflow_sql.runs_with_stage(
            tracking_uri, "cell", params=("budget.final_seeds",), finished=False
        )
        out = {}
        for cell, seeds in zip(cells.get("cell", []), cells.get("p.budget.final_seeds", [])):
            if isinstance(cell, str) and isinstance(seeds, str):
                with contextlib.suppress(ValueError):
                    out[cell] = len(json.loads(seeds))
        return out

    client = MlflowClient(tracking_uri)
    exps = [e.experiment_id for e in client.search_experiments()]
    out: dict[str, int] = {}
    if not exps:
        return out
    token = None
    while True:
        page = client.search_runs(exps, "tags.stage = 'cell'", max_results=5000, page_token=token)
        for r in page:
            seeds = r.data.params.get("budget.final_seeds")
            cell = r.data.tags.get("cell")
            if seeds and cell:
                with contextlib.suppress(ValueError):
                    out[cell] = len(json.loads(seeds))
        token = page.token
        if not token:
            return out
