"""Final results, one row per cell: the table ``kdbench export`` writes and the app shows.

Reads MLflow runs tagged ``stage=final`` (server-side filter) and aggregates per cell:
mean ± unbiased std of test over the finished seeds, the per-seed values, validation mean,
#params, inference latency, trials used and budget, and total train seconds.
"""

from __future__ import annotations

import statistics
from typing import Any

import pandas as pd

COLUMNS = ["cell", "sweep", "method", "dataset", "backbone", "teacher", "protocol", "metric",
           "seeds", "test_mean", "test_std", "val_mean", "test_per_seed", "num_params",
           "teacher_params", "inference_ms", "train_seconds", "trials", "budget",
           "hardware", "git_sha"]  # fmt: skip


def final_runs(tracking_uri: str, sweep: str | None = None) -> pd.DataFrame:
    """Every finished final-seed run (one row per seed) in the store."""
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
    """One row per cell from :func:`final_runs` rows (see the module docstring)."""
    if runs.empty:
        return pd.DataFrame(columns=COLUMNS)
    out = []
    for cell, g in runs.groupby("cell", sort=True):
        g = g.sort_values("seed", key=lambda s: s.astype(int))
        tests = g["m.test"].astype(float).tolist()
        first = g.iloc[0]
        out.append({
            "cell": cell, "sweep": first.get("sweep", ""), "method": first["method"],
            "dataset": first["dataset"], "backbone": first["backbone"],
            "teacher": first.get("teacher", ""), "protocol": first.get("protocol", ""),
            "metric": first.get("metric", ""), "seeds": len(tests),
            "test_mean": statistics.fmean(tests),
            "test_std": statistics.stdev(tests) if len(tests) > 1 else float("nan"),
            "val_mean": float(g["m.val"].astype(float).mean()),
            "test_per_seed": tests,
            "num_params": float(g["m.num_params"].astype(float).median()),
            "teacher_params": float(g.get("m.teacher_params", pd.Series(dtype=float))
                                    .astype(float).median()) if "m.teacher_params" in g else None,
            "inference_ms": float(g["m.inference_ms"].astype(float).median()),
            "train_seconds": float(g["m.train_seconds"].astype(float).sum()),
            "trials": first.get("trials"), "budget": first.get("budget"),
            "hardware": first.get("hardware"), "git_sha": first.get("git_sha"),
        })  # fmt: skip
    return pd.DataFrame(out, columns=COLUMNS)


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
