r"""Work on one cell: tuning trials (validation only) and final seeds (the only test figures).

Selection (:mod:`benchmark.selection`): a cell has one tuning study per final seed where its
protocol's seeds draw their own partitions (``nested``: the study of final seed :math:`r`
scores a trial by the validation score of seed :math:`r`'s split alone, so seed :math:`r`'s
hyper-parameters never saw another seed's test items), one study for all seeds where they share
one partition or the sweep asks for it (``shared``: the objective is
:math:`\frac1{|S|}\sum_{s\in S}\mathrm{val}_s` over the sweep's tuning seeds :math:`S`), and
none when its budget is one trial (``none``: the defaults). The validation curve of every
seed is reported to Optuna's pruner (step = ``k·epochs + epoch`` for the k-th seed). Test is
never computed. A trial that raises, or whose score is NaN, is a FAILED trial carrying the
error, and the grid goes on; a failure of the environment (data not available, out of memory,
a disk or network error) is marked ``env_error`` and retried by the next ``kdbench run``.

Final: final seed :math:`r` trains with the parameters of its own study's best trial (nested),
the shared study's, or the defaults, once, with ``evaluate_test``; each seed is a trial of the
cell's ``#final`` study (enqueued once), so a seed is claimed by one worker only, and a rerun
skips finished seeds. A distillation cell's seed :math:`r` uses the teacher selected for seed
:math:`r` in the same way.
"""

from __future__ import annotations

import json
import math
import statistics
import traceback
from dataclasses import dataclass, field
from typing import Any

import optuna
import torch
from optuna.trial import TrialState

from benchmark.artifacts import ArtifactCache
from benchmark.data.splits import resolve_protocol, traits
from benchmark.data.types import GraphData
from benchmark.errors import DataError, KdbenchError
from benchmark.fitting import FitPlan, SeedResult, fit_seed, result_metrics, seed_tags
from benchmark.method import resolve_params
from benchmark.metrics import evaluator_for
from benchmark.models import BACKBONES
from benchmark.registry import METHODS
from benchmark.runner.fingerprint import cell_hash
from benchmark.runner.spaces import suggest_params
from benchmark.runner.storage import Heartbeat, is_store_outage
from benchmark.runner.sweep import Cell, SweepFile, cell_trials
from benchmark.selection import Selection, protocol_kind, selection_mode


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
    """The cell's own study (its attributes; the tuning study under shared selection) and its
    ``#final`` study (one trial per final seed)."""
    return cell.key, cell.key + "#final"


def tuning_study_name(cell: Cell, seed: int | None) -> str:
    """The tuning study of final seed ``seed`` (nested) or of every seed (``None``: shared)."""
    return cell.key if seed is None else f"{cell.key}#seed{seed}"


def selection_of(env: Env, cell: Cell) -> Selection:
    """How ``cell`` selects: ``nested``, ``shared`` or ``none`` (:mod:`benchmark.selection`)."""
    return selection_mode(
        cell.resolved_protocol(), cell.selection or "nested", cell_trials(env.sweep, cell)
    )


def tuning_seeds_of(env: Env, cell: Cell) -> list[int | None]:
    """One entry per tuning study: the final seed it serves (nested), ``None`` (the one shared
    study), or no study at all (untuned)."""
    mode = selection_of(env, cell)
    if mode == "nested":
        return list(env.sweep.budget.final_seeds)
    return [None] if mode == "shared" else []


def trial_seeds(env: Env, cell: Cell, study_seed: int | None) -> list[int]:
    """The seeds whose splits a trial of the study ``study_seed`` trains and validates on."""
    return list(env.sweep.budget.tuning_seeds) if study_seed is None else [study_seed]


def selection_seeds(env: Env, cell: Cell, final_seed: int) -> list[int]:
    """The seeds whose training/validation parts chose final seed ``final_seed``'s
    hyper-parameters (its teachers' are those of :func:`teacher_cells`, selected alike)."""
    mode = selection_of(env, cell)
    if mode == "none":
        return []
    return trial_seeds(env, cell, final_seed if mode == "nested" else None)


def study_for(env: Env, cell: Cell, final_seed: int) -> str | None:
    """The name of the study whose best trial gives final seed ``final_seed`` its parameters
    (``None``: untuned, the defaults)."""
    mode = selection_of(env, cell)
    if mode == "none":
        return None
    return tuning_study_name(cell, final_seed if mode == "nested" else None)


def direction(env: Env, cell: Cell) -> str:
    from benchmark.data.card import get_card

    return "maximize" if evaluator_for(get_card(cell.dataset)).higher_is_better else "minimize"


def cell_params(env: Env, cell: Cell, tuned: dict[str, Any]) -> dict[str, Any]:
    """Defaults ∪ the sweep's fixed values ∪ the grid entry's ∪ tuned values, with the sweep's
    epoch cap."""
    from benchmark.data.card import get_card

    method = METHODS.get(cell.method)()
    task = get_card(cell.dataset).task  # the card, not the data: preparing loads nothing
    over = {
        **env.sweep.fixed.get("*", {}),
        **env.sweep.fixed.get(cell.method, {}),
        **dict(cell.fixed),
        **tuned,
    }
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
    return {
        k: defaults[k] for k, spec in space.items() if k in defaults and spec.contains(defaults[k])
    }


def suggest(env: Env, cell: Cell, trial: optuna.Trial) -> dict[str, Any]:
    """The tuned values ``trial`` suggests for ``cell``, from the one source of its space
    (:func:`benchmark.runner.spaces.space_source`)."""
    from benchmark.data.card import get_card

    method = METHODS.get(cell.method)()
    return suggest_params(env.sweep.search_spaces, method, get_card(cell.dataset).task, trial)


def space_names(env: Env, cell: Cell) -> set[str] | None:
    """The names ``cell``'s sweep space tunes; ``None`` on the method's own space (the
    fallback), whose names may depend on the values a trial draws."""
    space = env.sweep.search_spaces.get(cell.method)
    return None if space is None else set(space)


def best_params(env: Env, cell: Cell, seed: int) -> dict[str, Any]:
    """The full parameters final seed ``seed`` of ``cell`` runs with: the best finished trial
    of its study (:func:`study_for`), or the defaults when the cell is untuned. A study tuned
    over other names than the cell's space has now (a parameter renamed or removed since) is
    refused: its values would be passed on under names that no longer mean the same."""
    name = study_for(env, cell, seed)
    if name is None:
        return cell_params(env, cell, {})
    study = optuna.load_study(study_name=name, storage=env.storage)
    tuned = study.best_trial.params
    names = space_names(env, cell)
    stale = [] if names is None else sorted(set(tuned) ^ names)
    if stale:
        raise KdbenchError(
            f"study '{name}' was tuned over {', '.join(sorted(tuned))}, but the cell's search "
            f"space now differs in {', '.join(stale)} (renamed or changed since); move the "
            "store away or rename the sweep to tune it afresh"
        )
    return cell_params(env, cell, tuned)


def cell_plan(env: Env, cell: Cell, params: dict[str, Any]) -> FitPlan:
    """``cell`` with ``params`` as a :class:`~benchmark.fitting.FitPlan`: its protocol, and
    its teachers' parameters those selected for the same seed (:func:`best_params` of the
    teacher's cell)."""
    data = env.data(cell.dataset)
    method = METHODS.get(cell.method)()
    protocol, args = resolve_protocol(data, cell.protocol, method.paper_protocol, method.name)
    return FitPlan(
        method,
        data,
        cell.backbone,
        params,
        protocol,
        args,
        cell.teacher,
        lambda dep, seed: best_params(env, cell.dependency(dep.method, dep.backbone), seed),
    )


def fit_one(
    env: Env, cell: Cell, params: dict[str, Any], seed: int, evaluate_test: bool, report: Any = None
) -> SeedResult:
    """Train ``cell`` with ``params`` on seed ``seed``'s split (:func:`~benchmark.fitting.
    fit_seed`); its teachers are those selected for the same seed."""
    return fit_seed(
        cell_plan(env, cell, params),
        seed,
        env.device,
        env.cache,
        evaluate_test=evaluate_test,
        report=report,
    )


def is_environment_error(exc: BaseException) -> bool:
    """A failure of the environment, not of the method: data not available, out of memory,
    a disk or network error. Such a trial or seed does not use the budget: the next
    ``kdbench run`` retries it once the cause is fixed."""
    oom = getattr(torch, "OutOfMemoryError", MemoryError)
    return isinstance(exc, DataError | MemoryError | oom | OSError | ConnectionError)


def _record_failure(trial: optuna.Trial, exc: Exception) -> None:
    trial.set_user_attr("error", f"{type(exc).__name__}: {exc}".splitlines()[0][:500])
    trial.set_user_attr("traceback", traceback.format_exc()[-2000:])
    if is_environment_error(exc):
        trial.set_user_attr("env_error", True)


def run_trial(
    env: Env,
    cell: Cell,
    study: optuna.Study,
    trial: optuna.Trial,
    parent_run: str | None,
    study_seed: int | None = None,
) -> None:
    """One tuning trial of the study of ``study_seed`` (:func:`tuning_study_name`), told to
    the study (COMPLETE, PRUNED or FAIL with its error)."""
    with Heartbeat(study, trial):
        _run_trial(env, cell, study, trial, parent_run, study_seed)


def _run_trial(
    env: Env,
    cell: Cell,
    study: optuna.Study,
    trial: optuna.Trial,
    parent_run: str | None,
    study_seed: int | None,
) -> None:
    run_id = None
    seeds = trial_seeds(env, cell, study_seed)
    try:
        if traits(cell.resolved_protocol()).selects_on_test:  # the sweep check refuses it too
            raise KdbenchError(
                f"{cell.key}: protocol {cell.resolved_protocol()} selects on "
                "its test part; it is never tuned"
            )
        tuned = suggest(env, cell, trial)
        params = cell_params(env, cell, tuned)
        trial.set_user_attr("seeds", seeds)
        if env.tracker is not None:
            name = (
                f"trial{trial.number}"
                if study_seed is None
                else f"seed{study_seed}/trial{trial.number}"
            )
            run_id = env.tracker.safely(
                f"trial {trial.number} of {cell.key}",
                env.tracker.start,
                name,
                {
                    **cell_tags(env, cell),
                    "stage": "hpo",
                    "trial": trial.number,
                    "tuned_for_seed": "all" if study_seed is None else study_seed,
                },
                parent_run,
            )
        epochs = int(params["epochs"])
        vals: list[float] = []
        for k, seed in enumerate(seeds):

            def report(epoch: int, value: float, k: int = k) -> None:
                trial.report(value, k * epochs + epoch)
                if trial.should_prune():
                    raise optuna.TrialPruned()

            fitted = fit_one(env, cell, params, seed, evaluate_test=False, report=report)
            vals.append(fitted.result.val)
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
        _record_failure(trial, exc)
        study.tell(trial, state=TrialState.FAIL)
        _close(env, run_id, {}, {}, "FAILED")


def run_final_seed(
    env: Env,
    cell: Cell,
    study: optuna.Study,
    trial: optuna.Trial,
    parent_run: str | None,
    trials_used: int,
) -> None:
    """One final seed (claimed as a trial of the ``#final`` study): train with the parameters
    selected for it (:func:`best_params`), test, log with provenance (config hash, hardware,
    versions, selection, trials used and budget)."""
    seed = int(trial.user_attrs["seed"])
    try:
        with Heartbeat(study, trial):
            params = best_params(env, cell, seed)
            fitted = fit_one(env, cell, params, seed, evaluate_test=True)
        result = fitted.result
        if _seed_finished(study, seed):  # a retry of a trial that was not dead after all
            trial.set_user_attr("error", "duplicate: seed already finished")
            study.tell(trial, state=TrialState.FAIL)
            return
        if env.tracker is not None:
            tags = {
                **cell_tags(env, cell, {"cell": cell.key, "params": params}, env.device),
                "stage": "final",
                **seed_tags(fitted),
                "trials": trials_used,
                "budget": cell_trials(env.sweep, cell),
                "tuning_seeds": json.dumps(selection_seeds(env, cell, seed)),
            }
            curves = {"val_curve": result.val_curve, "train_loss": result.loss_curve}
            env.tracker.record(
                f"seed{seed}",
                tags,
                parent_run,
                params=params,
                metrics=result_metrics(result),
                curves=curves,
            )
        trial.set_user_attr("val", result.val)
        study.tell(trial, result.test)
    except Exception as exc:
        if is_store_outage(exc):
            raise
        _record_failure(trial, exc)
        study.tell(trial, state=TrialState.FAIL)


def _seed_finished(study: optuna.Study, seed: int) -> bool:
    return any(
        t.state == TrialState.COMPLETE and t.user_attrs.get("seed") == seed
        for t in study.get_trials(deepcopy=False)
    )


def cell_tags(
    env: Env, cell: Cell, config: dict[str, Any] | None = None, device: Any = None
) -> dict[str, Any]:
    """The tags of every run of ``cell``: the provenance tags (:func:`~benchmark.tracking.
    provenance_tags`; ``config`` and ``device`` as there) and the cell's own: its key and
    sweep, how it selects, the protocol kind that follows (``honest``, ``paper``,
    ``shared-tuning``) and the hash of its code files (:func:`~benchmark.runner.fingerprint.
    cell_hash`)."""
    from benchmark.data.card import get_card
    from benchmark.tracking import provenance_tags

    protocol, selection = cell.resolved_protocol(), selection_of(env, cell)
    return {
        **provenance_tags(
            cell.method,
            cell.dataset,
            cell.backbone,
            cell.teacher,
            protocol,
            get_card(cell.dataset).metric,
            config=config,
            device=device,
        ),
        "cell": cell.key,
        "sweep": cell.sweep,
        "selection": selection,
        "protocol_kind": protocol_kind(protocol, selection),
        "code_hash": cell_hash(cell.method, cell.dataset, cell.backbone, cell.teacher),
    }


def _close(
    env: Env, run_id: str | None, params: dict[str, Any], metrics: dict[str, float], status: str
) -> None:
    if env.tracker is not None and run_id is not None:
        what = f"the tuning trial run {run_id}"
        env.tracker.safely(what, env.tracker.log, run_id, params=params, metrics=metrics)
        env.tracker.safely(what, env.tracker.finish, run_id, status)
