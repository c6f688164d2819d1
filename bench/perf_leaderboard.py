"""Render speed of the leaderboard with ~100k final runs in the store (SYNTHETIC runs).

    python bench/perf_leaderboard.py [--store /tmp/kdb_perf/mlflow.db] [--runs 100000]
        [--warm 5] [--pause PID ...] [--out docs/results/perf_leaderboard.json]

1. Seeds (once: a store that already holds the runs is reused) an MLflow SQLite store with
   **synthetic** final runs shaped like the runner's (same tags and metrics, ``stage=final``,
   one ``stage=cell`` parent per cell with ``budget.final_seeds``), tagged ``synthetic=true`` in
   sweeps named ``synthetic-*``. Their scores are random numbers: they measure speed only and
   are never shown as results. The rows go straight into MLflow's own tables (the schema is
   created by ``MlflowClient``), which takes seconds where logging 100k runs one by one through
   the client takes hours.
2. Times, with the processes given by ``--pause`` stopped (SIGSTOP, always resumed): reading the
   final runs (:func:`benchmark.results.aggregate.final_runs`), the aggregation alone
   (:func:`benchmark.results.aggregate.aggregate`), the app's first (cold) render under
   ``streamlit.testing.v1.AppTest`` and ``--warm`` warm renders (a new AppTest session each, as
   a new browser tab: Streamlit's caches are warm, the script runs in full).
"""

from __future__ import annotations

import argparse
import json
import os
import sqlite3
import statistics
import sys
import time
import uuid
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
from _perf import paused, provenance, write_report

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
os.environ.setdefault("MLFLOW_SUPPRESS_PRINTING_URL_TO_STDOUT", "true")

BACKBONES = ["GCN", "GAT", "GIN", "GraphSAGE", "MLP"]
TEACHERS = ["GCN", "GAT", "GIN", "GraphSAGE"]
STUDENT_METHODS = ["kd", "lad_gnn", "ltd", "freekd", "glnn", "nosmog", "cpf", "graphmae"]
SEEDS = list(range(10))
DATASETS = {"node": 12, "graph": 11, "molecular": 8}  # how many of each family's cards


def datasets() -> list[tuple[str, str]]:
    """(name, metric) of real dataset cards, so that tabs and metrics are the real ones."""
    from benchmark.data.card import load_catalogue

    by_family: dict[str, list] = {f: [] for f in DATASETS}
    for card in sorted(load_catalogue().values(), key=lambda c: c.name):
        by_family[card.family].append((card.name, card.metric))
    return [d for fam, n in DATASETS.items() for d in by_family[fam][:n]]


def cells(n_runs: int) -> list[dict]:
    """The synthetic grid: per sweep, every dataset × (vanilla on each backbone + each student
    method on each backbone with each teacher), enough sweeps for ``n_runs`` final runs."""
    per_sweep = [(m, b, t) for b in BACKBONES for m, t in [("vanilla", "")]] + [
        (m, b, t) for m in STUDENT_METHODS for b in BACKBONES for t in TEACHERS
    ]
    ds = datasets()
    n_sweeps = max(1, round(n_runs / (len(SEEDS) * len(per_sweep) * len(ds))))
    out = []
    for s in range(n_sweeps):
        sweep = f"synthetic-{chr(ord('a') + s)}"
        for dataset, metric in ds:
            for method, backbone, teacher in per_sweep:
                key = f"{sweep}/{method}/{dataset}/{backbone}" + (teacher and f"/teacher={teacher}")
                out.append(
                    {
                        "cell": key,
                        "sweep": sweep,
                        "method": method,
                        "dataset": dataset,
                        "backbone": backbone,
                        "teacher": teacher,
                        "metric": metric,
                    }
                )
    return out


def seed_store(path: Path, n_runs: int) -> int:
    """Write the synthetic runs into a fresh store at ``path``; returns the final runs written."""
    from mlflow.tracking import MlflowClient

    path.parent.mkdir(parents=True, exist_ok=True)
    client = MlflowClient(f"sqlite:///{path}")  # creates MLflow's schema
    grid = cells(n_runs)
    exps = {
        s: client.create_experiment(s, tags={"synthetic": "true"})
        for s in sorted({c["sweep"] for c in grid})
    }
    rng = np.random.default_rng(0)
    now = int(time.time() * 1000)
    runs, tags, metrics, params = [], [], [], []
    common = {
        "stage": "final",
        "protocol": "",
        "git_sha": "0" * 40,
        "hardware": "synthetic",
        "device": "cpu",
        "trials": "30",
        "budget": "30",
        "synthetic": "true",
        "version.kdbench": "0.1.0",
        "version.torch": "2.13.0+cpu",
        "version.torch_geometric": "2.8.1",
        "version.python": "3.11.7",
    }
    written = 0
    keys = ("cell", "sweep", "method", "dataset", "backbone", "teacher", "metric")
    for c in grid:
        parent = uuid.uuid4().hex
        runs.append((parent, c["cell"], exps[c["sweep"]]))
        tags += [(k, c[k], parent) for k in keys] + [("stage", "cell", parent)]
        params.append(("budget.final_seeds", json.dumps(SEEDS), parent))
        base = rng.uniform(0.5, 0.9)
        params_n = float(rng.integers(1_000, 500_000))
        for seed in SEEDS:
            rid = uuid.uuid4().hex
            runs.append((rid, f"seed{seed}", exps[c["sweep"]]))
            t = {
                **common,
                **{k: c[k] for k in keys},
                "seed": str(seed),
                "split": f"synthetic/{seed}",
                "config_hash": rid[:16],
                "mlflow.runName": f"seed{seed}",
                "mlflow.parentRunId": parent,
            }
            tags += [(k, v, rid) for k, v in t.items()]
            test = float(np.clip(base + rng.normal(0, 0.02), 0, 1))
            m = {
                "val": float(np.clip(test + rng.normal(0, 0.01), 0, 1)),
                "test": test,
                "best_epoch": float(rng.integers(1, 200)),
                "epochs_run": 200.0,
                "train_seconds": float(rng.uniform(1, 60)),
                "inference_ms": float(rng.uniform(0.1, 20)),
                "num_params": params_n,
            }
            metrics += [(k, v, now, 0, 0, rid) for k, v in m.items()]
            written += 1
    db = sqlite3.connect(path)
    with db:
        db.executemany(
            "INSERT INTO runs (run_uuid, name, source_type, source_name, entry_point_name, "
            "user_id, status, start_time, end_time, source_version, lifecycle_stage, "
            "artifact_uri, experiment_id) VALUES (?, ?, 'UNKNOWN', '', '', 'synthetic', "
            f"'FINISHED', {now}, {now}, '', 'active', '', ?)",
            runs,
        )
        db.executemany("INSERT INTO tags (key, value, run_uuid) VALUES (?, ?, ?)", tags)
        db.executemany("INSERT INTO params (key, value, run_uuid) VALUES (?, ?, ?)", params)
        for table in ("metrics", "latest_metrics"):
            db.executemany(
                f"INSERT INTO {table} (key, value, timestamp, step, is_nan, run_uuid) "
                "VALUES (?, ?, ?, ?, ?, ?)",
                metrics,
            )
    db.close()
    return written


def count_final(path: Path) -> int:
    if not path.exists():
        return 0
    db = sqlite3.connect(path)
    try:
        return db.execute(
            "SELECT count(*) FROM tags WHERE key='stage' AND value='final'"
        ).fetchone()[0]
    except sqlite3.Error:
        return 0
    finally:
        db.close()


def render(uri: str, check: bool = True) -> float:
    """Seconds of one full run of the app script on ``uri`` in a new AppTest session."""
    from streamlit.testing.v1 import AppTest

    os.environ["KDBENCH_TRACKING_URI"] = uri
    t = time.perf_counter()
    at = AppTest.from_file(str(REPO / "leaderboard" / "app.py"), default_timeout=600).run()
    seconds = time.perf_counter() - t
    if not check:
        return seconds
    if at.exception or at.error:
        raise RuntimeError(f"the app failed: {[e.value for e in (*at.exception, *at.error)]}")
    if not [d for d in at.dataframe if d.proto.arrow_data.HasField("styler")]:
        raise RuntimeError("the app rendered no table")
    return seconds


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--store", type=Path, default=Path("/tmp/kdb_perf/mlflow.db"))
    ap.add_argument("--runs", type=int, default=100_000)
    ap.add_argument("--warm", type=int, default=5)
    ap.add_argument(
        "--pause",
        type=int,
        nargs="*",
        default=[],
        help="pids to SIGSTOP while timing (resumed afterwards)",
    )
    ap.add_argument("--out", type=Path, default=None)
    args = ap.parse_args()

    if count_final(args.store) < args.runs * 0.95:
        if args.store.exists():
            args.store.unlink()
        t = time.perf_counter()
        n = seed_store(args.store, args.runs)
        print(f"seeded {n} synthetic final runs in {time.perf_counter() - t:.0f} s", flush=True)
    n_final = count_final(args.store)
    uri = f"sqlite:///{args.store}"
    os.environ["KDBENCH_RUNS"] = str(args.store.parent)

    from benchmark.results.aggregate import aggregate, final_runs

    # imports (torch, streamlit, plotly, scipy) out of the timings: one render of an empty store
    render(f"sqlite:///{args.store.parent / 'empty.db'}", check=False)
    with paused(args.pause):
        load_before = os.getloadavg()
        t = time.perf_counter()
        runs = final_runs(uri)
        read_s = time.perf_counter() - t
        aggregate_s = []
        for _ in range(3):
            t = time.perf_counter()
            table = aggregate(runs)
            aggregate_s.append(time.perf_counter() - t)
        cold = render(uri)
        warm = [render(uri) for _ in range(args.warm)]
        load_after = os.getloadavg()
    result = provenance() | {
        "what": "leaderboard render time with synthetic final runs in an MLflow SQLite store",
        "data": f"SYNTHETIC: {n_final} final runs ({len(table)} cells × {len(SEEDS)} seeds, "
        "random scores), speed only",
        "final_runs": n_final,
        "cells": len(table),
        "read_final_runs_s": round(read_s, 2),
        "aggregate_s_median": round(statistics.median(aggregate_s), 3),
        "page_cold_s": round(cold, 2),
        "page_warm_s": [round(w, 3) for w in warm],
        "page_warm_s_median": round(statistics.median(warm), 3),
        "page_warm_s_max": round(max(warm), 3),
        "target_warm_s": 2.0,
        "loadavg_1min_before_after": [round(load_before[0], 2), round(load_after[0], 2)],
        "paused_pids": args.pause,
    }
    if args.out:
        write_report(args.out, result, echo=True)
    else:
        print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
