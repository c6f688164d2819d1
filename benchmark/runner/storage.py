"""Optuna storage for a sweep, and recovery of trials whose worker died.

Default: ``JournalStorage(JournalFileBackend(<runs>/<sweep>/optuna.journal))`` — safe for
several processes on one machine, no schema to race on. ``--storage URL``: an RDB URL
(PostgreSQL for many machines), or ``journal:<path>``. A bad URL, an unreachable server or a
wrong password is one line with the password masked (:mod:`benchmark.urls`).

Every trial records its ``owner`` (``host:pid``) and, while it runs, a ``beat`` time written
every ``KDBENCH_HEARTBEAT_SECONDS`` (default 30) by a :class:`Heartbeat` thread (Optuna's own
heartbeat only beats inside ``Study.optimize``; the runner asks and tells). :func:`reap_stale`
marks FAILED the RUNNING trials whose owner on this host is dead or whose beat is older than
``KDBENCH_STALE_SECONDS`` (default 600; any host), and re-enqueues (once) every FAILED trial
that did not fail by raising (those carry an ``error`` user attribute): a killed trial is
retried, never counted.
"""

from __future__ import annotations

import contextlib
import os
import socket
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import optuna
from optuna.trial import FrozenTrial, TrialState

from benchmark.artifacts import _alive


def make_storage(url: str | None, sweep_dir: Path) -> Any:
    """The Optuna storage object for ``url`` (``None``: the embedded journal file)."""
    from optuna.storages import JournalStorage, RDBStorage
    from optuna.storages.journal import JournalFileBackend

    if url is None or url.startswith("journal:"):
        path = Path(url[len("journal:") :]) if url else sweep_dir / "optuna.journal"
        path.parent.mkdir(parents=True, exist_ok=True)
        return JournalStorage(JournalFileBackend(str(path)))
    from benchmark.urls import parse_db_url, store_error

    parse_db_url(url)
    try:  # no Optuna heartbeat: it only beats inside Study.optimize; ours does (Heartbeat)
        return RDBStorage(url, engine_kwargs={"pool_pre_ping": True})
    except Exception as exc:  # sqlalchemy raises many kinds: one line, password masked
        raise store_error(url, exc) from None


def owner() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


class Heartbeat:
    """Context manager: writes ``beat`` = now on a running trial every ``interval`` seconds."""

    def __init__(
        self, study: optuna.Study, trial: optuna.Trial, interval: float | None = None
    ) -> None:
        if interval is None:
            interval = float(os.environ.get("KDBENCH_HEARTBEAT_SECONDS", "30"))
        self.storage, self.trial_id, self.interval = study._storage, trial._trial_id, interval
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while True:
            # the trial may have finished meanwhile, or the storage hiccupped: try again later
            with contextlib.suppress(Exception):
                self.storage.set_trial_user_attr(self.trial_id, "beat", time.time())
            if self._stop.wait(self.interval):
                return

    def __enter__(self) -> Heartbeat:
        self.storage.set_trial_user_attr(self.trial_id, "owner", owner())
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


def is_stale_running(t: FrozenTrial) -> bool:
    """A RUNNING trial whose owner process on this host is gone, or whose heartbeat stopped."""
    if t.state != TrialState.RUNNING:
        return False
    host, _, pid = t.user_attrs.get("owner", "").rpartition(":")
    if host == socket.gethostname() and pid.isdigit() and not _alive(int(pid)):
        return True
    beat = t.user_attrs.get("beat")
    grace = float(os.environ.get("KDBENCH_STALE_SECONDS", "600"))
    return beat is not None and time.time() - float(beat) > grace


def is_killed(t: FrozenTrial) -> bool:
    """A FAILED trial that did not raise: its worker died (or a heartbeat expired)."""
    return t.state == TrialState.FAIL and "error" not in t.user_attrs


def reap_stale(study: optuna.Study) -> int:
    """Fail the stale RUNNING trials and re-enqueue killed ones; returns how many."""
    for t in study.get_trials(deepcopy=False):
        if is_stale_running(t):
            study._storage.set_trial_state_values(t._trial_id, TrialState.FAIL)
    return retry(study, is_killed)


#: user attributes of a trial that belong to its attempt, not to what it runs
_ATTEMPT = ("owner", "beat", "retry_of", "error", "traceback", "env_error")


def retry(study: optuna.Study, which: Callable[[FrozenTrial], bool]) -> int:
    """Re-enqueue, once each, the FAILED trials for which ``which`` holds, with their
    parameters and user attributes (a final seed keeps its ``seed``); the copy records
    ``retry_of`` = the failed trial's number, and a trial so retried no longer counts against
    the budget. Returns how many were enqueued."""
    trials = study.get_trials(deepcopy=False)
    retried = {t.user_attrs.get("retry_of") for t in trials}
    n = 0
    for t in trials:
        if t.state == TrialState.FAIL and which(t) and t.number not in retried:
            attrs = {k: v for k, v in t.user_attrs.items() if k not in _ATTEMPT}
            study.enqueue_trial(
                t.params, user_attrs={**attrs, "retry_of": t.number}, skip_if_exists=False
            )
            n += 1
    return n


def is_store_outage(exc: BaseException) -> bool:
    """Whether ``exc`` says the storage's database cannot be reached (not a bug of ours)."""
    try:
        from sqlalchemy.exc import DBAPIError, OperationalError
    except ImportError:  # pragma: no cover
        return False
    seen: BaseException | None = exc
    for _ in range(5):  # Optuna wraps SQLAlchemy's errors (StorageInternalError from ...)
        if seen is None:
            return False
        if isinstance(seen, OperationalError) or (
            isinstance(seen, DBAPIError) and seen.connection_invalidated
        ):
            return True
        seen = seen.__cause__ or seen.__context__
    return False


def release_own(study: optuna.Study) -> int:
    """Fail (as killed: retried by :func:`reap_stale`) the RUNNING trials this process owns;
    for a worker between two pieces of work, those were cut short by a storage outage."""
    me, n = owner(), 0
    for t in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
        if t.user_attrs.get("owner") == me:
            study._storage.set_trial_state_values(t._trial_id, TrialState.FAIL)
            n += 1
    return n
