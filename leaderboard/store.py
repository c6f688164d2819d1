"""What the app reads from MLflow and Optuna beyond :mod:`benchmark.results.aggregate`.

The final seeds each cell should have (its parent run's ``budget.final_seeds`` param), the
hyper-parameters of a cell's final runs, a reachability check for HTTP tracking servers and
the Optuna study of a cell.
"""

from __future__ import annotations

import os
from pathlib import Path

import pandas as pd

from benchmark.urls import mask


class StoreError(Exception):
    """The tracking store cannot be read; the message is a sentence for the page."""


def check_server(uri: str, timeout: float = 3.0) -> None:
    """Raise :class:`StoreError` if ``uri`` is an HTTP tracking server that does not answer."""
    from benchmark.errors import KdbenchError
    from benchmark.tracking import check_reachable

    try:
        check_reachable(uri, timeout=timeout)
    except KdbenchError:
        raise StoreError(
            f"The MLflow tracking server at {mask(uri)} does not answer. Start it (e.g. "
            "`mlflow server --backend-store-uri sqlite:///runs/mlflow.db --port 5000`) or open "
            "the leaderboard on another store with `kdbench leaderboard --tracking-uri URI`."
        ) from None


def expected_seeds(tracking_uri: str) -> dict[str, int]:
    """Cell key → number of final seeds its sweep asks for
    (:func:`benchmark.results.record_export.expected_seeds`)."""
    from benchmark.results.record_export import expected_seeds as expected

    return expected(tracking_uri)


def run_params(tracking_uri: str, run_ids: list[str]) -> pd.DataFrame:
    """The params (hyper-parameters) of the given runs: one row per run, index = run id."""
    from mlflow.tracking import MlflowClient

    client = MlflowClient(tracking_uri)
    rows = {rid: client.get_run(rid).data.params for rid in run_ids}
    return pd.DataFrame.from_dict(rows, orient="index")


def optuna_journal(tracking_uri: str, sweep: str) -> Path:
    """Where the runner keeps ``sweep``'s Optuna journal: beside the embedded SQLite store,
    else under ``$KDBENCH_RUNS`` (default ``./runs``)."""
    from benchmark.tracking import runs_dir

    if tracking_uri.startswith("sqlite:///"):
        root = Path(tracking_uri[len("sqlite:///") :]).parent
        if (root / sweep / "optuna.journal").exists() or "KDBENCH_RUNS" not in os.environ:
            return root / sweep / "optuna.journal"
    return runs_dir() / sweep / "optuna.journal"


def load_studies(tracking_uri: str, sweep: str, cell: str) -> list | None:
    """The tuning studies of ``cell`` that hold trials: one per final seed (``<cell>#seed<r>``,
    nested selection, in seed order) or the cell's shared study; ``[]`` for an untuned cell,
    ``None`` if the sweep's journal is not on this machine."""
    import optuna
    from optuna.storages import JournalStorage
    from optuna.storages.journal import JournalFileBackend

    path = optuna_journal(tracking_uri, sweep)
    if not path.exists():
        return None
    storage = JournalStorage(JournalFileBackend(str(path)))
    names = [
        s.study_name
        for s in optuna.get_all_study_summaries(storage)
        if s.study_name == cell or s.study_name.startswith(f"{cell}#seed")
    ]
    names.sort(key=lambda n: (n != cell, int(n.rpartition("#seed")[2] or 0) if "#seed" in n else 0))
    studies = [optuna.load_study(study_name=n, storage=storage) for n in names]
    return [s for s in studies if s.trials]


def sweep_files(root: Path, sweeps: Path) -> list[Path]:
    """The sweep files in ``sweeps`` whose ``name`` has an Optuna journal under ``root``
    (the grids started on this store), most recently worked first."""
    import yaml

    started = {p.parent.name: p.stat().st_mtime for p in root.glob("*/optuna.journal")}
    found = []
    for path in sorted(sweeps.glob("*.yaml")):
        try:
            name = (yaml.safe_load(path.read_text()) or {}).get("name")
        except (OSError, yaml.YAMLError, AttributeError):
            continue
        if name in started:
            found.append((-started[name], str(path), path))
    return [p for *_, p in sorted(found)]
