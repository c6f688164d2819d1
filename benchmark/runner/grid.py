"""The grid: prepare every cell's studies once, then let workers pull work until done.

``prepare`` (the launcher, before any worker starts) creates each cell's studies — one tuning
study per final seed under nested selection, one shared study, or none for an untuned cell
(:mod:`benchmark.selection`), each with the default configuration enqueued as trial 0 — its
``#final`` study and its MLflow parent run; it recovers trials of dead workers and re-enqueues
the trials and seeds that failed for a reason of the environment (data not available, out of
memory, storage) — or, with ``retry_failed``, every failed one. A worker loops over the cells in
order (teachers first): it starts a tuning trial in the first of the cell's studies whose budget
is not used up (RUNNING and WAITING trials count, so the budget holds across workers), then
claims final seeds once every study is over, and returns when every cell is done, waiting while
other workers hold the last pieces. If the storage's database goes away (a restart, a network
cut), the worker says so in one line and retries with back-off until it is back
(``KDBENCH_STORE_PATIENCE`` seconds, default 3600); a trial interrupted by the outage is
recovered like a dead worker's.
"""

from __future__ import annotations

import os
import sys
import time
from typing import Any

import optuna
from optuna.trial import FrozenTrial, TrialState

from benchmark.errors import KdbenchError
from benchmark.runner.cellrun import (
    Env,
    cell_tags,
    default_trial,
    direction,
    run_final_seed,
    run_trial,
    selection_of,
    study_names,
    tuning_seeds_of,
    tuning_study_name,
)
from benchmark.runner.progress import cell_state
from benchmark.runner.storage import is_store_outage, reap_stale, release_own, retry
from benchmark.runner.studies import Studies, load
from benchmark.runner.sweep import Cell, cell_trials, teacher_cells


def prepare(env: Env, cells: list[Cell], retry_failed: bool = False) -> None:
    """Create studies and parent runs (idempotent); recover trials of dead workers; re-enqueue
    failed trials and seeds (those of the environment, or all with ``retry_failed``)."""
    for cell in cells:
        own_name, final_name = study_names(cell)
        mode = selection_of(env, cell)
        own = optuna.create_study(
            study_name=own_name,
            storage=env.storage,
            direction=direction(env, cell),
            load_if_exists=True,
        )
        if "selection" not in own.user_attrs:
            if own.trials and mode != "shared":
                raise KdbenchError(
                    f"{cell.key} was tuned by an earlier kdbench with one study shared by all "
                    f"seeds (it leaks test across seeds; its MLflow rows are marked shared "
                    f"tuning); move runs/{env.sweep.name} away, or rename the sweep, to tune "
                    "it again with nested selection"
                )
            own.set_user_attr("selection", mode)
            own.set_user_attr("budget", env.sweep.budget.model_dump())
        for seed in tuning_seeds_of(env, cell):
            study = (
                own
                if seed is None
                else optuna.create_study(
                    study_name=tuning_study_name(cell, seed),
                    storage=env.storage,
                    direction=direction(env, cell),
                    load_if_exists=True,
                )
            )
            if not study.trials:
                defaults = default_trial(env, cell)
                if defaults:
                    study.enqueue_trial(defaults, user_attrs={"default": True})
            _recover(study, retry_failed)
        final = optuna.create_study(
            study_name=final_name,
            storage=env.storage,
            direction=direction(env, cell),
            load_if_exists=True,
        )
        if not final.trials:
            for seed in env.sweep.budget.final_seeds:
                final.enqueue_trial({}, user_attrs={"seed": seed})
        _recover(final, retry_failed, done=_finished_seeds(final))
        if env.tracker is not None and "mlflow_run" not in own.user_attrs:
            run = env.tracker.start(cell.key, {**cell_tags(env, cell), "stage": "cell"})
            env.tracker.log(
                run,
                params={f"budget.{k}": v for k, v in env.sweep.budget.model_dump().items()}
                | {"budget.cell_trials": cell_trials(env.sweep, cell)},
            )
            own.set_user_attr("mlflow_run", run)


def _recover(study: optuna.Study, retry_failed: bool, done: set[int] | None = None) -> None:
    reap_stale(study)
    retry(study, lambda t: is_retryable(t, retry_failed, done))


def is_retryable(t: FrozenTrial, everything: bool, done: set[int] | None = None) -> bool:
    """A failed trial (or seed) to run again: one the environment failed (``env_error``), or
    any that raised when ``everything``; never a final seed already finished (``done``)."""
    if t.state != TrialState.FAIL or "error" not in t.user_attrs:
        return False
    if str(t.user_attrs["error"]).startswith("duplicate"):  # a lost race, not a failure
        return False
    if done is not None and t.user_attrs.get("seed") in done:
        return False
    return everything or bool(t.user_attrs.get("env_error"))


def _finished_seeds(final: optuna.Study) -> set[int]:
    return {
        t.user_attrs.get("seed")
        for t in final.get_trials(deepcopy=False)
        if t.state == TrialState.COMPLETE
    }


def step(env: Env, cell: Cell) -> str:
    """Do one piece of work on ``cell``: ``worked``, ``blocked`` (others hold the rest, or a
    teacher cell is not tuned yet) or ``done``."""
    for dep in teacher_cells(cell):
        if not cell_state(env, dep).tuning_over:
            return "blocked"
    studies = load(env, cell)
    s = cell_state(env, cell)
    parent = studies.cell.user_attrs.get("mlflow_run")
    for st in s.studies:
        if st.waiting or st.used + st.running < st.budget:
            study = studies.tuning[st.seed]
            run_trial(env, cell, study, study.ask(), parent, st.seed)
            return "worked"
    if not s.tuning_over:
        return "blocked"
    if any(st.complete == 0 for st in s.studies):  # a study's trials all failed or were pruned
        return "done"
    if s.done:
        _finish_parent(env, cell, studies)
        return "done"
    final = studies.final
    waiting = [t for t in final.get_trials(deepcopy=False) if t.state == TrialState.WAITING]
    if not waiting:
        return "blocked" if s.final_running else "done"
    trial = final.ask()
    seed = trial.user_attrs.get("seed")
    if seed is None or seed in _finished_seeds(final):  # lost a race, or a duplicate retry
        trial.set_user_attr("error", "duplicate claim")
        final.tell(trial, state=TrialState.FAIL)
        return "worked"
    used = next((st.used for st in s.studies if st.seed == seed), s.used)
    run_final_seed(env, cell, final, trial, parent, used)
    return "worked"


def _finish_parent(env: Env, cell: Cell, studies: Studies) -> None:
    """Log the cell's summary on its parent run, once: test and validation over the final
    seeds, the trials used and each study's best parameters (``best.seed<r>.<name>`` when
    nested, ``best.<name>`` when shared)."""
    import statistics

    own, final = studies.cell, studies.final
    if env.tracker is None or own.user_attrs.get("summarised"):
        return
    done = [t for t in final.trials if t.state == TrialState.COMPLETE]
    tests = [t.value for t in done]
    vals = [t.user_attrs.get("val") for t in done]
    run = own.user_attrs.get("mlflow_run")
    if run is None:
        return
    best: dict[str, Any] = {}
    for seed, study in studies.tuning.items():
        prefix = "best." if seed is None else f"best.seed{seed}."
        best |= {prefix + k: v for k, v in study.best_trial.params.items()}

    def summarise() -> bool:
        env.tracker.log(
            run,
            params=best,
            metrics={
                "test_mean": statistics.fmean(tests),
                "test_std": statistics.stdev(tests) if len(tests) > 1 else None,
                "val_mean": statistics.fmean(vals),
                "trials": sum(len(s.trials) for s in studies.tuning.values()),
            },
        )
        env.tracker.finish(run)
        return True

    # the store down: the summary waits for the next pass (the final runs are in already)
    if env.tracker.safely(f"the summary of {cell.key}", summarise):
        own.set_user_attr("summarised", True)


def retrying(env: Env, fn, *args):
    """``fn(*args)``, retried with back-off while the storage is unreachable."""
    from benchmark.urls import mask

    patience = float(os.environ.get("KDBENCH_STORE_PATIENCE", "3600"))
    deadline, delay, outage = time.monotonic() + patience, 1.0, False
    while True:
        try:
            if outage:  # back: our trials cut short by the outage are retried like a dead
                for study in (s for c in env.studies.values() for s in c.all()):  # worker's
                    release_own(study)
                    reap_stale(study)
            return fn(*args)
        except Exception as exc:
            if not is_store_outage(exc) or time.monotonic() > deadline:
                raise
            url = str(getattr(getattr(env.storage, "engine", None), "url", "the storage"))
            print(
                f"warning: Optuna storage {mask(url)} unreachable; retrying in {delay:.0f} s",
                file=sys.stderr,
                flush=True,
            )
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
        for study in load(env, cell).all():
            reap_stale(study)
