r"""Work on one cell: tuning trials (validation only) and final seeds (the only test figures).

Tuning: a trial's objective is :math:`\frac1{|S|}\sum_{s\in S}\mathrm{val}_s` over the sweep's
tuning seeds :math:`S` (each seed its own split: a fold for TU, a draw for random splits); the
validation curve of every seed is reported to Optuna's pruner (step = ``k·epochs + epoch`` for
the k-th seed). Test is never computed. A trial that raises, or whose score is NaN, is a
FAILED trial carrying the error, and the grid goes on.

Final: the best trial's parameters, trained once per final seed with ``evaluate_test``; each
seed is a trial of the cell's ``#final`` study (enqueued once), so a seed is claimed by one
worker only, and a rerun skips finished seeds.
"""

from __future__ import annotations

import math
import statistics
import traceback
from dataclasses import dataclass, field
from typing import Any

import optuna
import torch
from optuna.trial import TrialState

from benchmark.data.splits import make_split, resolve_protocol
from benchmark.data.types import GraphData
from benchmark.method import FitContext, FitResult, resolve_params
from benchmark.metrics import evaluator_for
from benchmark.models import BACKBONES
from benchmark.registry import METHODS
from benchmark.runner.artifacts import ArtifactCache, resolve_dependencies
from benchmark.runner.storage import Heartbeat, is_store_outage
from benchmark.runner.sweep import Cell, SweepFile


@dataclass
class Env:
    """What a worker shares across cells: sweep, storage, tracker, cache, device, data."""

    sweep: SweepFile
    storage: Any
    tracker: Any  # benchmark.tracking.Tracker or None
    cache: ArtifactCache
    device: torch.device
    data_root: Any = None
    mirror: str | None = None
    worker: int = 0  # index of this worker process (seeds its samplers apart from the others')
    datasets: dict[str, GraphData] = field(default_factory=dict)
    failures: dict[str, Exception] = field(default_factory=dict)
    studies: dict[str, Any] = field(default_factory=dict)

    def data(self, name: str) -> GraphData:
        """The dataset, loaded once per worker; a load that failed fails again at once."""
        if name in self.failures:
            raise self.failures[name]
        if name not in self.datasets:
            from benchmark.data.loaders import load_dataset

            try:
                self.datasets[name] = load_dataset(name, self.data_root, self.mirror)
            except Exception as exc:
                self.failures[name] = exc
                raise
        return self.datasets[name]


def study_names(cell: Cell) -> tuple[str, str]:
    return cell.key, cell.key + "#final"


def direction(env: Env, cell: Cell) -> str:
    from benchmark.data.card import get_card

    return "maximize" if evaluator_for(get_card(cell.dataset)).higher_is_better else "minimize"


def cell_params(env: Env, cell: Cell, tuned: dict[str, Any]) -> dict[str, Any]:
    """Defaults ∪ the sweep's fixed values ∪ the grid entry's ∪ tuned values, with the sweep's
    epoch cap."""
    from benchmark.data.card import get_card

    method = METHODS.get(cell.method)()
    task = get_card(cell.dataset).task  # the card, not the data: preparing loads nothing
    over = {**env.sweep.fixed.get("*", {}), **env.sweep.fixed.get(cell.method, {}),
            **dict(cell.fixed), **tuned}  # fmt: skip
    params = resolve_params(method, BACKBONES.get(cell.backbone), task, over)
    if env.sweep.budget.epochs is not None:
        params["epochs"] = min(int(params["epochs"]), env.sweep.budget.epochs)
    return params


def default_trial(env: Env, cell: Cell) -> dict[str, Any]:
    """The paper defaults restricted to the tuned keys (enqueued as trial 0)."""
    space = env.sweep.search_spaces.get(cell.method)
    if space is None:
        return {}
    defaults = cell_params(env, cell, {})
    return {k: defaults[k] for k, spec in space.items()
            if k in defaults and spec.contains(defaults[k])}  # fmt: skip


def suggest(env: Env, cell: Cell, trial: optuna.Trial) -> dict[str, Any]:
    space = env.sweep.search_spaces.get(cell.method)
    if space is not None:
        return {name: spec.suggest(trial, name) for name, spec in space.items()}
    from benchmark.data.card import get_card

    return METHODS.get(cell.method)().search_space(trial, get_card(cell.dataset).task)


def best_params(env: Env, cell: Cell) -> dict[str, Any]:
    """The full parameters of the cell's best finished trial."""
    study = optuna.load_study(study_name=study_names(cell)[0], storage=env.storage)
    return cell_params(env, cell, study.best_trial.params)


def fit_one(env: Env, cell: Cell, params: dict[str, Any], seed: int, evaluate_test: bool,
            report: Any = None) -> tuple[FitResult, str]:  # fmt: skip
    data = env.data(cell.dataset)
    method = METHODS.get(cell.method)()
    protocol, args = resolve_protocol(data, cell.protocol, method.paper_protocol, method.name)
    split = make_split(data, protocol, seed, args)
    artifacts = resolve_dependencies(
        env.cache, method, data, split, seed, cell.backbone, cell.teacher, env.device,
        lambda dep: best_params(env, cell.dependency(dep.method, dep.backbone)),
        params,
    )
    ctx = FitContext(data, split, cell.backbone, params, seed, env.device,
                     evaluator_for(data.card), artifacts=artifacts, evaluate_test=evaluate_test,
                     report=report)  # fmt: skip
    return method.fit(ctx), split.name


def run_trial(env: Env, cell: Cell, study: optuna.Study, trial: optuna.Trial,
              parent_run: str | None) -> None:  # fmt: skip
    """One tuning trial, told to the study (COMPLETE, PRUNED or FAIL with its error)."""
    with Heartbeat(study, trial):
        _run_trial(env, cell, study, trial, parent_run)


def _run_trial(env: Env, cell: Cell, study: optuna.Study, trial: optuna.Trial,
               parent_run: str | None) -> None:  # fmt: skip
    run_id = None
    try:
        tuned = suggest(env, cell, trial)
        params = cell_params(env, cell, tuned)
        if env.tracker is not None:
            run_id = env.tracker.safely(
                f"trial {trial.number} of {cell.key}", env.tracker.start, f"trial{trial.number}",
                {**cell_tags(cell), "stage": "hpo", "trial": trial.number}, parent_run)  # fmt: skip
        epochs = int(params["epochs"])
        vals: list[float] = []
        for k, seed in enumerate(env.sweep.budget.tuning_seeds):

            def report(epoch: int, value: float, k: int = k) -> None:
                trial.report(value, k * epochs + epoch)
                if trial.should_prune():
                    raise optuna.TrialPruned()

            result, _ = fit_one(env, cell, params, seed, evaluate_test=False, report=report)
            vals.append(result.val)
        value = statistics.fmean(vals)
        if not math.isfinite(value):
            raise ValueError(f"validation score is {value}")
        trial.set_user_attr("val_per_seed", vals)
        study.tell(trial, value)
        _close(env, run_id, tuned, {"objective": value}, "FINISHED")
    except optuna.TrialPruned:
        study.tell(trial, state=TrialState.PRUNED)
        _close(env, run_id, {}, {}, "KILLED")
    except Exception as exc:  # a crashed trial is recorded, the grid goes on
        if is_store_outage(exc):  # not the trial's fault: the worker waits and retries it
            raise
        msg = f"{type(exc).__name__}: {exc}".splitlines()[0][:500]
        trial.set_user_attr("error", msg)
        trial.set_user_attr("traceback", traceback.format_exc()[-2000:])
        study.tell(trial, state=TrialState.FAIL)
        _close(env, run_id, {}, {}, "FAILED")


def run_final_seed(env: Env, cell: Cell, study: optuna.Study, trial: optuna.Trial,
                   params: dict[str, Any], parent_run: str | None,
                   trials_used: int) -> None:  # fmt: skip
    """One final seed (claimed as a trial of the ``#final`` study): train, test, log with
    provenance (config hash, hardware, versions, trials used and budget)."""
    seed = int(trial.user_attrs["seed"])
    try:
        with Heartbeat(study, trial):
            result, split_name = fit_one(env, cell, params, seed, evaluate_test=True)
        if _seed_finished(study, seed):  # a retry of a trial that was not dead after all
            trial.set_user_attr("error", "duplicate: seed already finished")
            study.tell(trial, state=TrialState.FAIL)
            return
        if env.tracker is not None:
            from benchmark.tracking import config_hash, hardware, versions

            tags = {**cell_tags(cell), "stage": "final", "seed": seed, "split": split_name,
                    "config_hash": config_hash({"cell": cell.key, "params": params}),
                    "hardware": hardware(env.device), "device": str(env.device),
                    "trials": trials_used, "budget": env.sweep.budget.trials,
                    **{f"version.{k}": v for k, v in versions().items()}}  # fmt: skip
            curves = {"val_curve": result.val_curve, "train_loss": result.loss_curve}
            env.tracker.record(f"seed{seed}", tags, parent_run, params=params,
                               metrics=result_metrics(result), curves=curves)  # fmt: skip
        trial.set_user_attr("val", result.val)
        study.tell(trial, result.test)
    except Exception as exc:
        if is_store_outage(exc):
            raise
        trial.set_user_attr("error", f"{type(exc).__name__}: {exc}".splitlines()[0][:500])
        study.tell(trial, state=TrialState.FAIL)


def _seed_finished(study: optuna.Study, seed: int) -> bool:
    return any(t.state == TrialState.COMPLETE and t.user_attrs.get("seed") == seed
               for t in study.get_trials(deepcopy=False))  # fmt: skip


def result_metrics(r: FitResult) -> dict[str, float | None]:
    return {"val": r.val, "test": r.test, "best_epoch": r.best_epoch, "epochs_run": r.epochs_run,
            "train_seconds": r.train_seconds, "inference_ms": r.inference_ms,
            "num_params": r.num_params, "teacher_params": r.teacher_params,
            **{f"extra.{k}": v for k, v in r.extra.items()}}  # fmt: skip


def cell_tags(cell: Cell) -> dict[str, Any]:
    from benchmark.data.card import get_card
    from benchmark.tracking import git_sha

    return {"cell": cell.key, "metric": get_card(cell.dataset).metric, "sweep": cell.sweep,
            "method": cell.method, "dataset": cell.dataset, "backbone": cell.backbone,
            "teacher": cell.teacher or "", "protocol": cell.protocol or "",
            "git_sha": git_sha()}  # fmt: skip


def _close(env: Env, run_id: str | None, params: dict[str, Any], metrics: dict[str, float],
           status: str) -> None:  # fmt: skip
    if env.tracker is not None and run_id is not None:
        what = f"the tuning trial run {run_id}"
        env.tracker.safely(what, env.tracker.log, run_id, params=params, metrics=metrics)
        env.tracker.safely(what, env.tracker.finish, run_id, status)
