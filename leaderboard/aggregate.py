"""Final results, one row per cell: the table ``kdbench export`` writes and the app shows.

Reads MLflow runs tagged ``stage=final`` (server-side filter) and aggregates per cell:
mean ± unbiased std of test over the finished seeds, the per-seed values, validation mean,
#params, inference latency, trials used and budget, and total train seconds.
"""

from __future__ import annotations

from typing import Any

import pandas as pd

COLUMNS = ["cell", "sweep", "method", "dataset", "backbone", "teacher", "protocol", "metric",
           "seeds", "test_mean", "test_std", "val_mean", "test_per_seed", "num_params",
           "teacher_params", "inference_ms", "train_seconds", "trials", "budget",
           "hardware", "git_sha"]  # fmt: skip


def final_runs(tracking_uri: str, sweep: str | None = None) -> pd.DataFrame:
    """Every finished final-seed run (one row per seed) in the store: its tags, its metrics as
    ``m.<key>``, ``run_id`` and ``experiment_id``. SQL-backed stores are read straight from
    their tables (:mod:`leaderboard.mlflow_sql`, seconds for 100k runs), others (an MLflow
    server) through ``MlflowClient.search_runs`` with the same filter."""
    from leaderboard import mlflow_sql

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
            rows.append({**r.data.tags, **{f"m.{k}": v for k, v in r.data.metrics.items()},
                         "run_id": r.info.run_id,
                         "experiment_id": r.info.experiment_id})  # fmt: skip
        token = page.token
        if not token:
            break
    return pd.DataFrame(rows)


def aggregate(runs: pd.DataFrame) -> pd.DataFrame:
    """One row per cell from :func:`final_runs` rows (see the module docstring); tags are the
    cell's lowest seed's (missing ones empty), vectorised over cells (100k runs: under a
    second)."""
    if runs.empty:
        return pd.DataFrame(columns=COLUMNS)
    r = runs.assign(_seed=runs["seed"].astype(int)).sort_values(["cell", "_seed"], kind="stable")
    num = {k: r[f"m.{k}"].astype(float) for k in ("test", "val", "num_params", "inference_ms",
                                                   "train_seconds")}  # fmt: skip
    g = pd.DataFrame(num).assign(cell=r["cell"]).groupby("cell", sort=True)
    out = pd.DataFrame({
        "seeds": g["test"].size(), "test_mean": g["test"].mean(), "test_std": g["test"].std(),
        "val_mean": g["val"].mean(), "test_per_seed": g["test"].agg(list),
        "num_params": g["num_params"].median(), "inference_ms": g["inference_ms"].median(),
        "train_seconds": g["train_seconds"].sum(),
    })  # fmt: skip
    if "m.teacher_params" in r:
        out["teacher_params"] = r["m.teacher_params"].astype(float).groupby(r["cell"]).median()
    else:
        out["teacher_params"] = None
    tags = ["sweep", "method", "dataset", "backbone", "teacher", "protocol", "metric",
            "trials", "budget", "hardware", "git_sha"]  # fmt: skip
    first = r.drop_duplicates("cell").set_index("cell").reindex(columns=tags)
    for col in ("sweep", "teacher", "protocol", "metric"):
        first[col] = first[col].fillna("")
    out = out.join(first).rename_axis("cell").reset_index()
    out["seeds"] = out["seeds"].astype(int)
    return out[COLUMNS].reset_index(drop=True)


def export(table: pd.DataFrame, fmt: str, path: str) -> None:
    """Write the table as csv, parquet or latex (mean ± std cells for latex)."""
    if fmt == "csv":
        table.to_csv(path, index=False)
    elif fmt == "parquet":
        table.to_parquet(path, index=False)
    elif fmt == "latex":
        t = table.copy()
        scale = t["metric"].isin(["accuracy", "rocauc"]).map({True: 100.0, False: 1.0})
        t["test"] = [f"{m * s:.2f} $\\pm$ {d * s:.2f}"
                     for m, d, s in zip(t["test_mean"], t["test_std"], scale)]  # fmt: skip
        cols = ["method", "backbone", "teacher", "dataset", "test", "seeds"]
        with open(path, "w") as f:
            f.write(t[cols].to_latex(index=False, escape=False))
    else:
        raise ValueError(fmt)
