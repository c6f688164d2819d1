"""Throughput of the Optuna storages the runner supports: trials per second that the store
sustains with 1, 2, 4 and 8 worker processes asking and telling no-op trials on one shared
study (the runner's pattern: ``ask``, a user attribute, ``tell``), for the journal file (the
embedded default), SQLite and PostgreSQL.

    python bench/perf_storage.py [--postgres postgresql+psycopg2://user:pw@127.0.0.1:PORT/db]
        [--workers 1,2,4,8] [--seconds 5] [--grid-workers 1,2] [--pause PID,PID]
        [--out docs/results/perf_storage.json]

and the wall time of the smoke grid (``sweeps/smoke.yaml``, no tracking, embedded journal)
with 1 and 2 worker processes.

Without ``--postgres`` the PostgreSQL rows are skipped (start a throwaway server as in
``tests/conftest_pg.py``). Each (store, workers) pair gets a fresh store; every worker opens it,
then all start together and run for ``--seconds``; the figure is completed trials / wall
seconds from the start to the last worker's end.
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).parent))
from _perf import paused, provenance, write_report

from benchmark.runner.storage import make_storage
from benchmark.urls import mask


def _worker(
    url: str, folder: str, study: str, seconds: float, start: Any, ready: Any, out: Any
) -> None:
    import optuna

    optuna.logging.set_verbosity(optuna.logging.ERROR)
    storage = make_storage(url or None, Path(folder))
    s = optuna.load_study(study_name=study, storage=storage)
    ready.put(1)
    start.wait()
    n, t_end = 0, time.time() + seconds
    while time.time() < t_end:
        trial = s.ask()
        trial.set_user_attr("owner", "bench")
        s.tell(trial, 0.0)
        n += 1
    out.put(n)


def _fresh(kind: str, postgres: str | None, folder: Path) -> str | None:
    """A URL of an empty store of ``kind`` (``None`` = the journal in ``folder``)."""
    if kind == "journal":
        return f"journal:{folder / 'optuna.journal'}"
    if kind == "sqlite":
        return f"sqlite:///{folder / 'optuna.db'}"
    import psycopg2
    from sqlalchemy.engine import make_url

    u = make_url(postgres)
    name = f"bench{uuid.uuid4().hex[:8]}"
    conn = psycopg2.connect(
        host=u.host, port=u.port, user=u.username, password=u.password, dbname="postgres"
    )
    conn.autocommit = True
    with conn.cursor() as cur:
        cur.execute(f"create database {name}")
    conn.close()
    return u.set(database=name).render_as_string(hide_password=False)


def measure(kind: str, workers: int, seconds: float, postgres: str | None) -> float:
    import optuna

    folder = Path(tempfile.mkdtemp(prefix=f"kdb-{kind}-"))
    url = _fresh(kind, postgres, folder)
    optuna.create_study(study_name="noop", storage=make_storage(url, folder))  # before fan-out
    ctx = mp.get_context("spawn")
    start, ready, out = ctx.Event(), ctx.Queue(), ctx.Queue()
    procs = [
        ctx.Process(target=_worker, args=(url, str(folder), "noop", seconds, start, ready, out))
        for _ in range(workers)
    ]
    for p in procs:
        p.start()
    for _ in procs:  # every worker has imported and opened the store
        ready.get()
    t = time.time()
    start.set()
    total = sum(out.get() for _ in procs)
    for p in procs:
        p.join()
    return total / (time.time() - t)


def grid_seconds(workers: int, storage: str | None) -> float:
    """Wall seconds of ``kdbench run sweeps/smoke.yaml --workers N --no-track`` in a fresh
    runs folder (the embedded journal, or ``storage``; data from the usual data root)."""
    import os
    import subprocess

    runs = tempfile.mkdtemp(prefix="kdb-grid-")
    cmd = [
        sys.executable,
        "-m",
        "benchmark.cli",
        "run",
        "sweeps/smoke.yaml",
        "--workers",
        str(workers),
        "--device",
        "cpu",
        "--no-track",
    ]
    if storage:
        cmd += ["--storage", storage]
    t = time.time()
    subprocess.run(cmd, check=True, env={**os.environ, "KDBENCH_RUNS": runs}, capture_output=True)
    return time.time() - t


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--postgres", default=None)
    ap.add_argument("--workers", default="1,2,4,8")
    ap.add_argument("--seconds", type=float, default=5.0)
    ap.add_argument("--pause", default="", help="comma-separated PIDs to SIGSTOP while timing")
    ap.add_argument(
        "--grid-workers",
        default="1,2",
        help="also time the smoke grid with these worker counts ('' = skip)",
    )
    ap.add_argument("--out", default="docs/results/perf_storage.json")
    args = ap.parse_args()
    kinds = ["journal", "sqlite"] + (["postgresql"] if args.postgres else [])
    counts = [int(w) for w in args.workers.split(",")]
    pids = [int(p) for p in args.pause.split(",") if p]
    table: dict[str, dict[int, float]] = {}
    with paused(pids):
        for kind in kinds:
            table[kind] = {}
            for w in counts:
                table[kind][w] = round(measure(kind, w, args.seconds, args.postgres), 1)
                print(kind, w, table[kind][w], "trials/s", flush=True)
        grid = {}
        for w in [int(x) for x in args.grid_workers.split(",") if x]:
            grid[w] = round(grid_seconds(w, None), 1)
            print("smoke grid", w, "workers", grid[w], "s", flush=True)
    command = " ".join(["python", *map(mask, sys.argv)])
    report = provenance(command=command) | {
        "seconds_per_point": args.seconds,
        "paused_background_pids": pids,
        "postgres": mask(args.postgres or ""),
        "trials_per_second": table,
        "smoke_grid_seconds_by_workers": grid,
    }
    write_report(Path(args.out), report, echo=True)


if __name__ == "__main__":
    main()
