"""Where the board's rows come from: the committed record and the user's own store, side by side.

A fresh clone has no store of its own: the board then shows the record
(:mod:`benchmark.results.record`, ``docs/results/record/``). With a store it shows both, each
row's ``source`` saying which (``record`` or ``your runs``), so a new method's rows stand beside
every published cell at once. The record's folder is ``$KDBENCH_RECORD`` when set (``none``: no
record), else the committed one. Each record row carries its cell's staleness against today's
code (``stale``: fresh / stale / unknown, ``stale_why``: the reasons;
:mod:`benchmark.runner.staleness`, as ``kdbench status --record``), computed once per record
and checkout state.
"""

from __future__ import annotations

import functools
import json
import os
import subprocess
from pathlib import Path

import pandas as pd

RECORD, YOURS = "record", "your runs"
SOURCE = "source"


def record_dir() -> Path | None:
    """The record's folder: ``$KDBENCH_RECORD`` (``none`` or empty: no record), else the
    committed one."""
    from benchmark.results.record import RECORD_DIR

    value = os.environ.get("KDBENCH_RECORD")
    if value is None:
        return RECORD_DIR
    return None if value.strip().lower() in ("", "none") else Path(value)


def record_key() -> str:
    """:func:`record_dir` as a string, "" for no record (a cache key of the app)."""
    folder = record_dir()
    return "" if folder is None else str(folder)


def record_runs(folder: str) -> pd.DataFrame:
    """The per-seed rows of the record in ``folder`` ("" or a missing folder: none),
    ``source`` = ``record``, with their cell's ``stale`` state and ``stale_why``."""
    from benchmark.results.record import load_record

    if not folder or not Path(folder).is_dir():
        return pd.DataFrame()
    runs = load_record(folder).assign(**{SOURCE: RECORD})
    state, why = staleness(folder, checkout_state(folder))
    return runs.assign(
        stale=runs["cell"].map(state).fillna("unknown"),
        stale_why=runs["cell"].map(why).fillna(""),
    )


def checkout_state(folder: str) -> str:
    """What staleness depends on besides the record: the checkout's commit and its
    uncommitted changes (``git status``/``git diff`` summary), and the record files' times (a
    cache key: an edit or a new commit recomputes it)."""
    from benchmark.results.record import record_files
    from benchmark.tracking import REPO

    def git(*args: str) -> str:
        try:
            out = subprocess.run(
                ["git", *args], cwd=REPO, capture_output=True, text=True, timeout=10
            )
            return out.stdout
        except (OSError, subprocess.SubprocessError):
            return ""

    files = ",".join(f"{p.name}:{p.stat().st_mtime_ns}" for p in record_files(folder))
    return "|".join([git("rev-parse", "HEAD"), git("diff", "--stat", "HEAD"), files])


@functools.lru_cache(maxsize=4)
def staleness(folder: str, state: str) -> tuple[dict[str, str], dict[str, str]]:
    """Per record cell of ``folder``: its state (fresh / stale / unknown) and its reasons
    joined (``state``: :func:`checkout_state`, the cache key)."""
    from benchmark.results.record import read_cells
    from benchmark.runner.staleness import record_staleness

    rows = record_staleness(read_cells(folder))
    return {r.cell: r.state for r in rows}, {r.cell: "; ".join(r.details) for r in rows}


def combine(store: pd.DataFrame, record: pd.DataFrame) -> pd.DataFrame:
    """The store's rows (``source`` = ``your runs``) and the record's. A record cell whose key
    the store also has is renamed ``<key> [record]``: the two never pool their seeds."""
    if record.empty:
        return store.assign(**{SOURCE: YOURS}) if not store.empty else store
    if store.empty:
        return record
    clash = record["cell"].isin(set(store["cell"]))
    record = record.assign(cell=record["cell"].where(~clash, record["cell"] + " [record]"))
    return pd.concat([store.assign(**{SOURCE: YOURS}), record], ignore_index=True)


def expected_seeds(record: pd.DataFrame) -> dict[str, int]:
    """Cell key → seeds of each record cell (a record cell holds the seeds its study ran)."""
    if record.empty:
        return {}
    return {str(k): int(v) for k, v in record.groupby("cell").size().items()}


def record_params(runs: pd.DataFrame, run_ids: list[str]) -> pd.DataFrame:
    """The parameters the record kept for these runs: one row per run, index = run id (as
    :func:`leaderboard.store.run_params` gives a store's)."""
    g = runs.set_index("run_id").loc[run_ids, "params"]
    return pd.DataFrame([json.loads(p) for p in g], index=pd.Index(run_ids, name=None))
