"""Final results, one row per cell: the table ``kdbench export`` writes and the app shows.

Reads MLflow runs tagged ``stage=final`` (server-side filter) and aggregates per cell:
mean ± unbiased std of test over the finished seeds, the per-seed values, validation mean,
#params, inference latency, trials used and budget, and total train seconds; with the cell's
protocol (the dataset card's default when the runs' ``protocol`` tag is empty), its
``protocol_kind`` (``honest`` | ``paper`` | ``shared-tuning``) and ``selection`` (``nested`` |
``shared`` | ``none``), from the runs' tags or derived for legacy runs
(:func:`benchmark.results.kinds.with_kinds`); for a record cell its ``stale`` state
(``fresh`` | ``stale`` | ``unknown``, :mod:`benchmark.runner.staleness`, set by the reader) and
``stale_why`` (empty for a store's own runs).
"""

from __future__ import annotations

from typing import Any

import pandas as pd

from benchmark.results import kinds

#: what identifies a cell (its key, sweep, method, dataset, backbone, teacher, protocol and kind,
#: selection, metric): the first columns of the table and the identity of a record line
IDENTITY = (
    "cell",
    "sweep",
    "method",
    "dataset",
    "backbone",
    "teacher",
    "protocol",
    "protocol_kind",
    "selection",
    "metric",
)
COLUMNS = [
    *IDENTITY,
    "seeds",
    "test_mean",
    "test_std",
    "val_mean",
    "test_per_seed",
    "num_params",
    "teacher_params",
    "inference_ms",
    "train_seconds",
    "trials",
    "budget",
    "hardware",
    "git_sha",
    "source",
    "stale",
    "stale_why",
]


def final_runs(tracking_uri: str, sweep: str | None = None) -> pd.DataFrame:
    """Every finished final-seed run (one row per seed) in the store: its tags, its metrics as
    ``m.<key>``, ``run_id`` and ``experiment_id``. SQL-backed stores are read straight from
    their tables (:mod:`benchmark.results.mlflow_sql`, seconds for 100k runs), others (an MLflow
    server) through ``MlflowClient.search_runs`` with the same filter."""
    from benchmark.results import mlflow_sql

    if mlflow_sql.is_sql(tracking_uri):
        return mlflow_sql.runs_with_stage(tracking_uri, "final", sweep)
    return final_runs_client(tracking_uri, sweep)


def final_runs_client(tracking_uri: str, sweep: str | None = None) -> pd.DataFrame:
    """:func:`final_runs` through the MLflow client (any tracking URI)."""
    from mlflow.tracking import MlflowClient

    client = MlflowClient(tracking_uri)
    exps = [e.experiment_id for e in client.search_experiments()]
    if not exps:
        return pd.DataFrame()
    query = "tags.stage = 'final' and attributes.status = 'FINISHED'"
    if sweep:
        query += f" and tags.sweep = '{sweep}'"
    rows: list[dict[str, Any]] = []
    token = None
    while True:
        page = client.search_runs(exps, query, max_results=5000, page_token=token)
        for r in page:
            rows.append(
                {
                    **r.data.tags,
                    **{f"m.{k}": v for k, v in r.data.metrics.items()},
                    "run_id": r.info.run_id,
                    "experiment_id": r.info.experiment_id,
                }
            )
        token = page.token
        if not token:
            break
    return pd.DataFrame(rows)


def aggregate(runs: pd.DataFrame) -> pd.DataFrame:
    """One row per cell from :func:`final_runs` rows (see the module docstring); tags are the
    cell's lowest seed's (missing ones empty), but ``protocol_kind`` is the most severe of its
    seeds' (a cell one of whose seeds is marked is marked); vectorised over cells (100k runs:
    under a second)."""
    if runs.empty:
        return pd.DataFrame(columns=COLUMNS)
    runs = kinds.with_kinds(runs)
    r = runs.assign(_seed=runs["seed"].astype(int)).sort_values(["cell", "_seed"], kind="stable")
    num = {
        k: r[f"m.{k}"].astype(float)
        for k in ("test", "val", "num_params", "inference_ms", "train_seconds")
    }
    g = pd.DataFrame(num).assign(cell=r["cell"]).groupby("cell", sort=True)
    out = pd.DataFrame(
        {
            "seeds": g["test"].size(),
            "test_mean": g["test"].mean(),
            "test_std": g["test"].std(),
            "val_mean": g["val"].mean(),
            "test_per_seed": g["test"].agg(list),
            "num_params": g["num_params"].median(),
            "inference_ms": g["inference_ms"].median(),
            "train_seconds": g["train_seconds"].sum(),
        }
    )
    if "m.teacher_params" in r:
        out["teacher_params"] = r["m.teacher_params"].astype(float).groupby(r["cell"]).median()
    else:
        out["teacher_params"] = None
    # the rest of the columns are the tags of the cell's first final run (the same on every seed)
    tags = [c for c in COLUMNS if c not in out.columns and c not in ("cell", kinds.KIND)]
    first = r.drop_duplicates("cell").set_index("cell").reindex(columns=tags)
    for col in (
        "sweep",
        "teacher",
        "protocol",
        "selection",
        "metric",
        "source",
        "stale",
        "stale_why",
    ):
        first[col] = first[col].fillna("")
    first[kinds.KIND] = kinds.worst(r[kinds.KIND], r["cell"])
    out = out.join(first).rename_axis("cell").reset_index()
    out["seeds"] = out["seeds"].astype(int)
    return out[COLUMNS].reset_index(drop=True)


def export(table: pd.DataFrame, fmt: str, path: str) -> None:
    """Write the table as csv, parquet or latex. CSV and parquet carry every column (with
    ``protocol`` and ``protocol_kind``); LaTeX has mean ± std cells and a protocol column, the
    method of every marked row carries its mark (``lad_gnn [paper]``) and a footnote line
    below the table says what each mark used means."""
    if fmt == "csv":
        table.to_csv(path, index=False)
    elif fmt == "parquet":
        table.to_parquet(path, index=False)
    elif fmt == "latex":
        with open(path, "w") as f:
            f.write(latex_table(table))
    else:
        raise ValueError(fmt)


def latex_table(table: pd.DataFrame) -> str:
    """The LaTeX of :func:`export` (accuracy and ROC-AUC ×100), honest rows first."""
    t = table.assign(_kind=kinds.kinds_of(table))
    t = t.assign(_block=kinds.block(t["_kind"])).sort_values("_block", kind="stable")
    scale = t["metric"].isin(["accuracy", "rocauc"]).map({True: 100.0, False: 1.0})
    t["test"] = [
        f"{m * s:.2f} ± {d * s:.2f}" for m, d, s in zip(t["test_mean"], t["test_std"], scale)
    ]
    t["method"] = kinds.marked(t["method"].astype(str), t["_kind"])
    cols = ["method", "backbone", "teacher", "dataset", "protocol", "test", "seeds"]
    shown = t[cols].astype(str).map(kinds.tex)
    return shown.to_latex(index=False, escape=False) + kinds.tex_notes(kinds.notes(t))
