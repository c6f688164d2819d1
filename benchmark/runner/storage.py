"""Optuna storage for a sweep, and recovery of trials whose worker died.

Default: ``JournalStorage(JournalFileBackend(<runs>/<sweep>/optuna.journal))`` — safe for
several processes on one machine, no schema to race on. ``--storage URL``: an RDB URL
(PostgreSQL for many machines) with Optuna's heartbeat, or ``journal:<path>``.

Every trial records its ``owner`` (``host:pid``). :func:`reap_stale` marks RUNNING trials of
dead owners on this host FAILED, and re-enqueues (once) every FAILED trial that did not fail by
raising (those carry an ``error`` user attribute): a killed trial is retried, never counted.
"""

from __future__ import annotations

import os
import socket
from pathlib import Path
from typing import Any

import optuna
from optuna.trial import FrozenTrial, TrialState

from benchmark.errors import KdbenchError
from benchmark.runner.artifacts import _alive

OWNER = f"{socket.gethostname()}:{os.getpid()}"


def make_storage(url: str | None, sweep_dir: Path) -> Any:
    """The Optuna storage object for ``url`` (``None``: the embedded journal file)."""
    from optuna.storages import JournalStorage, RDBStorage
    from optuna.storages.journal import JournalFileBackend

    if url is None or url.startswith("journal:"):
        path = Path(url[len("journal:") :]) if url else sweep_dir / "optuna.journal"
        path.parent.mkdir(parents=True, exist_ok=True)
        return JournalStorage(JournalFileBackend(str(path)))
    try:
        return RDBStorage(url, heartbeat_interval=30, grace_period=120,
                          engine_kwargs={"pool_pre_ping": True})  # fmt: skip
    except Exception as exc:  # sqlalchemy raises many kinds
        raise KdbenchError(
            f"cannot open Optuna storage {url}: {str(exc).splitlines()[0]}; "
            "check the URL and that the database server is up"
        ) from None


def owner() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


def is_stale_running(t: FrozenTrial) -> bool:
    """A RUNNING trial whose owner process on this host is gone."""
    who = t.user_attrs.get("owner", "")
    host, _, pid = who.rpartition(":")
    return t.state == TrialState.RUNNING and host == socket.gethostname() and pid.isdigit() \
        and not _alive(int(pid))  # fmt: skip


def is_killed(t: FrozenTrial) -> bool:
    """A FAILED trial that did not raise: its worker died (or a heartbeat expired)."""
    return t.state == TrialState.FAIL and "error" not in t.user_attrs


def reap_stale(study: optuna.Study) -> int:
    """Fail the stale RUNNING trials and re-enqueue killed ones; returns how many."""
    trials = study.get_trials(deepcopy=False)
    for t in trials:
        if is_stale_running(t):
            study._storage.set_trial_state_values(t._trial_id, TrialState.FAIL)
    trials = study.get_trials(deepcopy=False)
    retried = {t.user_attrs.get("retry_of") for t in trials}
    n = 0
    for t in trials:
        if is_killed(t) and t.number not in retried:
            attrs = {k: v for k, v in t.user_attrs.items() if k not in ("owner", "retry_of")}
            study.enqueue_trial(t.params, user_attrs={**attrs, "retry_of": t.number},
                                skip_if_exists=False)  # fmt: skip
            n += 1
    return n
