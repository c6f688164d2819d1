"""Where the board's rows come from: the committed record and the user's own store, side by side.

A fresh clone has no store of its own: the board then shows the record
(:mod:`benchmark.results.record`, ``docs/results/record/``). With a store it shows both, each
row's ``source`` saying which (``record`` or ``your runs``), so a new method's rows stand beside
every published cell at once. The record's folder is ``$KDBENCH_RECORD`` when set (``none``: no
record), else the committed one.
"""

from __future__ import annotations

import json
import os
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
    ``source`` = ``record``."""
    from benchmark.results.record import load_record

    if not folder or not Path(folder).is_dir():
        return pd.DataFrame()
    return load_record(folder).assign(**{SOURCE: RECORD})


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
