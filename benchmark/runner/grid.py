"""The grid: prepare every cell's studies once, then let workers pull work until done.

``prepare`` (the launcher, before any worker starts) creates each cell's tuning study (with the
default configuration enqueued as trial 0), its ``#final`` study and its MLflow parent run, and
recovers trials of dead workers. A worker loops over the cells in order (teachers first):
it starts a tuning trial while the cell's budget is not used up (RUNNING and WAITING trials
count, so the budget holds across workers), then claims final seeds once tuning is over, and
returns when every cell is done, waiting while other workers hold the last pieces. If the
storage's database goes away (a restart, a network cut), the worker says so in one line and
retries with back-off until it is back (``KDBENCH_STORE_PATIENCE`` seconds, default 3600);
a trial interrupted by the outage is recovered like a dead worker's.
"""

from __future__ import annotations

import os
import sys
import time
import zlib
from dataclasses import dataclass, field

import optuna
from optuna.trial import TrialState

from benchmark.runner.cellrun import (
    Env,
    best_params,
    cell_tags,
    default_trial,
    direction,
    run_final_seed,
    run_trial,
    study_names,
)
from benchmark.runner.storage import is_killed, is_store_outage, reap_stale, release_own
from benchmark.runner.sweep import Cell, teacher_cells

optuna.logging.set_verbosity(optuna.logging.WARNING)


def _sampler(env: Env, cell: Cell) -> optuna.samplers.BaseSampler:
    """TPE seeded by the sweep's seed, the cell and the worker: reproducible with one worker,
    and two workers never draw the same random start-up configurations."""
    seed = env.sweep.sampler_seed + zlib.crc32(cell.key.encode()) + 1_000_003 * env.worker
    return optuna.samplers.TPESampler(seed=seed % 2**32)


def _pruner(env: Env) -> optuna.pruners.BasePruner:
    if env.sweep.pruner == "none":
        return optuna.pruners.NopPruner()
    return optuna.pruners.MedianPruner(n_startup_trials=3, n_warmup_steps=10)


def load(env: Env, cell: Cell) -> tuple[optuna.Study, optuna.Study]:
    """The cell's two studies, loaded once per worker: the sampler keeps its random state
    from one trial to the next (a fresh seeded sampler per trial would repeat itself)."""
    if cell.key not in env.studies:
        tune, final = study_names(cell)
        env.studies[cell.key] = (
            optuna.load_study(study_name=tune, storage=env.storage,
                              sampler=_sampler(env, cell), pruner=_pruner(env)),
            optuna.load_study(study_name=final, storage=env.storage),
        )  # fmt: skip
    return env.studies[cell.key]


def prepare(env: Env, cells: list[Cell]) -> None:
    """Create studies and parent runs (idempotent); recover trials of dead workers."""
    for cell in cells:
        tune_name, final_name = study_names(cell)
        tune = optuna.create_study(study_name=tune_name, storage=env.storage,
                                   direction=direction(env, cell),
                                   load_if_exists=True)  # fmt: skip
        if not tune.trials:
            tune.set_user_attr("budget", env.sweep.budget.model_dump())
            defaults = default_trial(env, cell)
            if defaults:
                tune.enqueue_trial(defaults, user_attrs={"default": True})
        final = optuna.create_study(study_name=final_name, storage=env.storage,
                                    direction=direction(env, cell),
                                    load_if_exists=True)  # fmt: skip
        if not final.trials:
            for seed in env.sweep.budget.final_seeds:
                final.enqueue_trial({}, user_attrs={"seed": seed})
        if env.tracker is not None and "mlflow_run" not in tune.user_attrs:
            run = env.tracker.start(cell.key, {**cell_tags(cell), "stage": "cell"})
            env.tracker.log(run, params={f"budget.{k}": v for k, v in
                                         env.sweep.budget.model_dump().items()})  # fmt: skip
            tune.set_user_attr("mlflow_run", run)
        reap_stale(tune)
        reap_stale(final)


@dataclass
class CellState:
    """Counts of a cell's tuning trials and final seeds."""

    budget: int
    complete: int = 0
    pruned: int = 0
    failed: int = 0
    running: int = 0
    waiting: int = 0
    final_done: int = 0
    final_total: int = 0
    final_running: int = 0
    final_failed: int = 0
    seconds: float = 0.0
    #: distinct ``error`` messages of the trials and seeds that failed by raising
    errors: list[str] = field(default_factory=list)

    @property
    def used(self) -> int:
        return self.complete + self.pruned + self.failed

    @property
    def tuning_over(self) -> bool:
        return self.running == 0 and self.waiting == 0 and self.used >= self.budget

    @property
    def done(self) -> bool:
        return self.final_done == self.final_total and self.final_total > 0

    @property
    def label(self) -> str:
        if self.done:
            return "done"
        if self.tuning_over and self.complete == 0:
            return "failed"
        if self.running or self.final_running:
            return "running"
        return "pending"


def _add_error(s: CellState, trial: optuna.trial.FrozenTrial) -> None:
    msg = trial.user_attrs.get("error")
    if msg and msg not in s.errors:
        s.errors.append(msg)


def cell_state(env: Env, cell: Cell) -> CellState:
    tune, final = load(env, cell)
    s = CellState(budget=env.sweep.budget.trials)
    for t in tune.get_trials(deepcopy=False):
        if t.state == TrialState.COMPLETE:
            s.complete += 1
        elif t.state == TrialState.PRUNED:
            s.pruned += 1
        elif t.state == TrialState.FAIL and not is_killed(t):
            s.failed += 1
            _add_error(s, t)
        elif t.state == TrialState.RUNNING:
            s.running += 1
        elif t.state == TrialState.WAITING:
            s.waiting += 1
        if t.datetime_complete and t.datetime_start:
            s.seconds += (t.datetime_complete - t.datetime_start).total_seconds()
    seeds_done = set()
    for t in final.get_trials(deepcopy=False):
        seed = t.user_attrs.get("seed")
        if t.state == TrialState.COMPLETE:
            seeds_done.add(seed)
        elif t.state == TrialState.RUNNING:
            s.final_running += 1
        elif t.state == TrialState.FAIL and not is_killed(t):
            s.final_failed += 1
            _add_error(s, t)
    s.final_done = len(seeds_done)
    s.final_total = len(env.sweep.budget.final_seeds)
    return s


def step(env: Env, cell: Cell) -> str:
    """Do one piece of work on ``cell``: ``worked``, ``blocked`` (others hold the rest, or a
    teacher cell is not tuned yet) or ``done``."""
    for dep in teacher_cells(cell):
        if not cell_state(env, dep).tuning_over:
            return "blocked"
    tune, final = load(env, cell)
    s = cell_state(env, cell)
    parent = tune.user_attrs.get("mlflow_run")
    if s.waiting or s.used + s.running < s.budget:
        trial = tune.ask()
        run_trial(env, cell, tune, trial, parent)
        return "worked"
    if not s.tuning_over:
        return "blocked"
    if s.complete == 0:  # every trial failed or was pruned: nothing to finalise
        return "done"
    if s.done:
        _finish_parent(env, cell, tune, final)
        return "done"
    waiting = [t for t in final.get_trials(deepcopy=False) if t.state == TrialState.WAITING]
    if not waiting:
        return "blocked" if s.final_running else "done"
    trial = final.ask()
    seed = trial.user_attrs.get("seed")
    finished = {t.user_attrs.get("seed") for t in final.get_trials(deepcopy=False)
                if t.state == TrialState.COMPLETE}  # fmt: skip
    if seed is None or seed in finished:  # lost a race for the last seed, or a duplicate retry
        trial.set_user_attr("error", "duplicate claim")
        final.tell(trial, state=TrialState.FAIL)
        return "worked"
    run_final_seed(env, cell, final, trial, best_params(env, cell), parent, s.used)
    return "worked"


def _finish_parent(env: Env, cell: Cell, tune: optuna.Study, final: optuna.Study) -> None:
    """Log the cell's summary on its parent run, once."""
    if env.tracker is None or tune.user_attrs.get("summarised"):
        return
    import statistics

    tests = [t.value for t in final.trials if t.state == TrialState.COMPLETE]
    vals = [t.user_attrs.get("val") for t in final.trials if t.state == TrialState.COMPLETE]
    run = tune.user_attrs.get("mlflow_run")
    if run is None:
        return
    def summarise() -> bool:
        env.tracker.log(run, params={f"best.{k}": v for k, v in tune.best_trial.params.items()},
                        metrics={"test_mean": statistics.fmean(tests),
                                 "test_std": statistics.stdev(tests) if len(tests) > 1 else None,
                                 "val_mean": statistics.fmean(vals),
                                 "trials": len(tune.trials)})  # fmt: skip
        env.tracker.finish(run)
        return True

    # the store down: the summary waits for the next pass (the final runs are in already)
    if env.tracker.safely(f"the summary of {cell.key}", summarise):
        tune.set_user_attr("summarised", True)


def retrying(env: Env, fn, *args):
    """``fn(*args)``, retried with back-off while the storage is unreachable."""
    from benchmark.runner.urls import mask

    patience = float(os.environ.get("KDBENCH_STORE_PATIENCE", "3600"))
    deadline, delay, outage = time.monotonic() + patience, 1.0, False
    while True:
        try:
            if outage:  # back: our trials cut short by the outage are retried like a dead
                for study in (s for pair in env.studies.values() for s in pair):  # worker's
                    release_own(study)
                    reap_stale(study)
            return fn(*args)
        except Exception as exc:
            if not is_store_outage(exc) or time.monotonic() > deadline:
                raise
            url = str(getattr(getattr(env.storage, "engine", None), "url", "the storage"))
            print(f"warning: Optuna storage {mask(url)} unreachable; retrying in "
                  f"{delay:.0f} s", file=sys.stderr, flush=True)  # fmt: skip
            time.sleep(delay)
            delay, outage = min(2 * delay, 30.0), True


def work(env: Env, cells: list[Cell], poll: float = 2.0, on_progress=None) -> None:
    """Pull work from ``cells`` until all are done (the worker loop)."""
    while True:
        states = []
        for cell in cells:
            while (state := retrying(env, step, env, cell)) == "worked":
                if on_progress is not None:
                    on_progress()
            states.append(state)
        if all(s == "done" for s in states):
            return
        for cell in cells:  # waiting on others: recover the trials of workers that died
            retrying(env, _reap, env, cell)
        time.sleep(poll)


def _reap(env: Env, cell: Cell) -> None:
    if not cell_state(env, cell).done:
        for study in load(env, cell):
            reap_stale(study)
