"""Progress of a cell: counts of its tuning studies' trials and of its final seeds, read from
the Optuna storage (what ``kdbench status``, the worker loop and the app's grid panel show).

A failed trial that was re-enqueued (``retry_of``) no longer counts against the budget; a
trial killed with its worker (FAILED without an ``error``) never does.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import optuna
from optuna.trial import FrozenTrial, TrialState

from benchmark.runner.cellrun import Env
from benchmark.runner.storage import is_killed
from benchmark.runner.studies import load
from benchmark.runner.sweep import Cell, cell_trials


@dataclass
class StudyState:
    """Counts of one tuning study's trials (``seed``: the final seed it serves, ``None`` for a
    shared study). A failed trial that was re-enqueued (``retry_of``) no longer counts."""

    seed: int | None
    budget: int
    complete: int = 0
    pruned: int = 0
    failed: int = 0
    running: int = 0
    waiting: int = 0
    seconds: float = 0.0
    best: dict[str, Any] | None = None
    best_value: float | None = None

    @property
    def used(self) -> int:
        return self.complete + self.pruned + self.failed

    @property
    def over(self) -> bool:
        return self.running == 0 and self.waiting == 0 and self.used >= self.budget


@dataclass
class CellState:
    """A cell's progress: its tuning studies (one per final seed, one shared, or none when
    untuned) and its final seeds."""

    budget: int
    studies: list[StudyState] = field(default_factory=list)
    final_done: int = 0
    final_total: int = 0
    final_running: int = 0
    final_failed: int = 0
    final_seconds: float = 0.0
    #: distinct ``error`` messages of the trials and seeds that failed by raising
    errors: list[str] = field(default_factory=list)

    def _sum(self, name: str) -> int:
        return sum(getattr(s, name) for s in self.studies)

    complete = property(lambda self: self._sum("complete"))
    pruned = property(lambda self: self._sum("pruned"))
    failed = property(lambda self: self._sum("failed"))
    running = property(lambda self: self._sum("running"))
    waiting = property(lambda self: self._sum("waiting"))
    used = property(lambda self: self._sum("used"))
    seconds = property(lambda self: sum(s.seconds for s in self.studies))

    @property
    def total_budget(self) -> int:
        return self.budget * len(self.studies)

    @property
    def tuning_over(self) -> bool:
        return all(s.over for s in self.studies)

    @property
    def done(self) -> bool:
        return self.final_done == self.final_total and self.final_total > 0

    @property
    def label(self) -> str:
        if self.done:
            return "done"
        if self.tuning_over and any(s.complete == 0 for s in self.studies):
            return "failed"
        if self.running or self.final_running:
            return "running"
        if self.final_failed:
            return "failed"
        return "pending"


def _add_error(errors: list[str], trial: FrozenTrial) -> None:
    msg = trial.user_attrs.get("error")
    if msg and msg not in errors:
        errors.append(msg)


def _retried(trials: list[FrozenTrial]) -> set[int]:
    return {t.user_attrs["retry_of"] for t in trials if "retry_of" in t.user_attrs}


def _duration(t: FrozenTrial) -> float:
    if t.datetime_complete and t.datetime_start:
        return (t.datetime_complete - t.datetime_start).total_seconds()
    return 0.0


def study_state(
    study: optuna.Study, seed: int | None, budget: int, errors: list[str]
) -> StudyState:
    """The counts of one tuning study; adds its trials' errors to ``errors``."""
    s = StudyState(seed=seed, budget=budget)
    trials = study.get_trials(deepcopy=False)
    retried = _retried(trials)
    for t in trials:
        if t.state == TrialState.COMPLETE:
            s.complete += 1
            if s.best_value is None or _better(study, t.value, s.best_value):
                s.best, s.best_value = dict(t.params), t.value
        elif t.state == TrialState.PRUNED:
            s.pruned += 1
        elif t.state == TrialState.FAIL and not is_killed(t) and t.number not in retried:
            s.failed += 1
            _add_error(errors, t)
        elif t.state == TrialState.RUNNING:
            s.running += 1
        elif t.state == TrialState.WAITING:
            s.waiting += 1
        s.seconds += _duration(t)
    return s


def _better(study: optuna.Study, a: float, b: float) -> bool:
    return a > b if study.direction == optuna.study.StudyDirection.MAXIMIZE else a < b


def cell_state(env: Env, cell: Cell) -> CellState:
    studies = load(env, cell)
    s = CellState(budget=cell_trials(env.sweep, cell))
    s.studies = [
        study_state(study, seed, s.budget, s.errors) for seed, study in studies.tuning.items()
    ]
    trials = studies.final.get_trials(deepcopy=False)
    retried, seeds_done = _retried(trials), set()
    for t in trials:
        seed = t.user_attrs.get("seed")
        if t.state == TrialState.COMPLETE:
            seeds_done.add(seed)
            s.final_seconds += _duration(t)
        elif t.state == TrialState.RUNNING:
            s.final_running += 1
    for t in trials:
        if (
            t.state == TrialState.FAIL
            and not is_killed(t)
            and t.number not in retried
            and t.user_attrs.get("seed") not in seeds_done
            and t.user_attrs.get("error") != "duplicate claim"
        ):
            s.final_failed += 1
            _add_error(s.errors, t)
    s.final_done = len(seeds_done)
    s.final_total = len(env.sweep.budget.final_seeds)
    return s
