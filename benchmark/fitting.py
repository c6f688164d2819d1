"""One configuration (method × dataset × backbone × params) trained on one seed or several.

:func:`fit_seed` is the one per-seed pipeline — split → dependencies (teachers, encoders,
through the artefact cache) → :class:`~benchmark.fit_context.FitContext` → ``method.fit`` —
used by ``kdbench fit`` (through :func:`fit_seeds`), the runner's tuning trials and final seeds
and the contract test. :func:`plan_fit` resolves a configuration once (method, compatibility,
parameters, protocol, teacher); :func:`fit_seeds` runs a plan on several seeds and summarises
them as mean ± unbiased std of test.
"""

from __future__ import annotations

import statistics
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import torch

from benchmark.artifacts import ArtifactCache, resolve_dependencies
from benchmark.data.splits import make_split, resolve_protocol
from benchmark.data.types import GraphData, Split
from benchmark.errors import KdbenchError
from benchmark.method import Dependency, FitContext, FitResult, Method, resolve_params
from benchmark.metrics import evaluator_for
from benchmark.models import BACKBONES
from benchmark.registry import METHODS

#: ``(dependency, seed) -> params`` of a dependency that does not fix its own.
DependencyParams = Callable[[Dependency, int], dict[str, Any]]


@dataclass
class SeedResult:
    """One seed's fit: its split's name, the result, and the validation score of every
    dependency that is a run on the same split (``{"teacher": 0.81}``; empty without one)."""

    seed: int
    split: str
    result: FitResult
    dependency_vals: dict[str, float] = field(default_factory=dict)

    @property
    def teacher_val(self) -> float | None:
        """The validation score of the seed's teacher (``None``: no teacher)."""
        return self.dependency_vals.get("teacher")


@dataclass
class FitSummary:
    """The outcome of :func:`fit_seeds`; ``std`` is the unbiased (n−1) standard deviation, as
    OGB reports, and ``None`` for a single seed. ``teacher``: the teacher's backbone."""

    method: str
    dataset: str
    backbone: str
    protocol: str
    metric: str
    params: dict[str, Any]
    seeds: list[SeedResult] = field(default_factory=list)
    teacher: str | None = None

    @property
    def tests(self) -> list[float]:
        return [s.result.test for s in self.seeds if s.result.test is not None]

    @property
    def vals(self) -> list[float]:
        return [s.result.val for s in self.seeds]

    @staticmethod
    def _mean_std(xs: list[float]) -> tuple[float | None, float | None]:
        if not xs:
            return None, None
        return statistics.fmean(xs), (statistics.stdev(xs) if len(xs) > 1 else None)

    @property
    def test_mean_std(self) -> tuple[float | None, float | None]:
        return self._mean_std(self.tests)

    @property
    def val_mean_std(self) -> tuple[float | None, float | None]:
        return self._mean_std(self.vals)

    def to_json(self) -> dict[str, Any]:
        (tm, ts), (vm, vs) = self.test_mean_std, self.val_mean_std
        return {
            "method": self.method,
            "dataset": self.dataset,
            "backbone": self.backbone,
            "teacher": self.teacher,
            "protocol": self.protocol,
            "metric": self.metric,
            "params": self.params,
            "seeds": [s.seed for s in self.seeds],
            "val": self.vals,
            "test": self.tests,
            "teacher_val": [s.teacher_val for s in self.seeds],
            "best_epoch": [s.result.best_epoch for s in self.seeds],
            "train_seconds": [round(s.result.train_seconds, 3) for s in self.seeds],
            "inference_ms": [s.result.inference_ms for s in self.seeds],
            "num_params": self.seeds[0].result.num_params if self.seeds else None,
            "extra": [s.result.extra for s in self.seeds],
            "test_mean": tm,
            "test_std": ts,
            "val_mean": vm,
            "val_std": vs,
        }


def result_metrics(r: FitResult) -> dict[str, float | None]:
    """The metrics a seed's run logs: its scores, epochs, cost figures and extras."""
    return {
        "val": r.val,
        "test": r.test,
        "best_epoch": r.best_epoch,
        "epochs_run": r.epochs_run,
        "train_seconds": r.train_seconds,
        "inference_ms": r.inference_ms,
        "num_params": r.num_params,
        "teacher_params": r.teacher_params,
        **{f"extra.{k}": v for k, v in r.extra.items()},
    }


def seed_tags(sr: SeedResult) -> dict[str, Any]:
    """The tags of a seed's run on top of its configuration's: the seed, its split and, for
    a method with a teacher, the teacher's validation score on that split."""
    tags: dict[str, Any] = {"seed": sr.seed, "split": sr.split}
    if sr.teacher_val is not None:
        tags["teacher_val"] = sr.teacher_val
    return tags


def check_compatible(method: Method, data: GraphData, backbone: str) -> None:
    """Raise a one-line error if ``method`` cannot run on this dataset or backbone."""
    if data.task not in method.tasks:
        raise KdbenchError(
            f"method '{method.name}' supports {'/'.join(method.tasks)} tasks, but {data.name} is "
            f"a {data.task} task; pick a {'/'.join(method.tasks)} dataset (`kdbench datasets`)"
        )
    if method.families is not None and data.card.family not in method.families:
        raise KdbenchError(
            f"method '{method.name}' applies to {'/'.join(method.families)} datasets only, and "
            f"{data.name} is in the '{data.card.family}' family; pick another dataset "
            "(`kdbench datasets`)"
        )
    BACKBONES.get(backbone)
    if method.backbones is not None and backbone not in method.backbones:
        raise KdbenchError(
            f"method '{method.name}' does not run on backbone {backbone}; "
            f"use one of {', '.join(method.backbones)}"
        )


@dataclass
class FitPlan:
    """One configuration, resolved once: the method, its data, backbone and full parameters,
    the concrete split protocol with its arguments, and the teacher backbone the method was
    asked for (``None``: its default, the student's). ``dependency_params(dep, seed)`` gives
    the parameters of a dependency that does not fix its own (``kdbench fit``: the defaults;
    the runner: the tuned configuration of the teacher's cell for that seed)."""

    method: Method
    data: GraphData
    backbone: str
    params: dict[str, Any]
    protocol: str
    protocol_args: dict[str, Any]
    teacher: str | None = None
    dependency_params: DependencyParams | None = None

    def dependencies(self) -> list[Dependency]:
        """What the method needs before ``fit`` (empty for a method without dependencies)."""
        return list(
            self.method.dependencies(self.data.task, self.backbone, self.teacher, self.params)
        )

    def teacher_backbone(self) -> str | None:
        """The backbone of the dependency named ``teacher`` (``None``: the method has none)."""
        return next((d.backbone for d in self.dependencies() if d.name == "teacher"), None)

    def params_of(self, dep: Dependency, seed: int) -> dict[str, Any]:
        """The parameters of ``dep`` (when it does not fix its own) for ``seed``."""
        if self.dependency_params is not None:
            return self.dependency_params(dep, seed)
        return default_dependency_params(self.data, self.params, dep)


def default_dependency_params(
    data: GraphData, params: dict[str, Any], dep: Dependency
) -> dict[str, Any]:
    """A dependency's defaults, with what it inherits from its student's parameters: the
    preset (a paper's teacher settings come with its student's)."""
    inherited = {"preset": params["preset"]} if params.get("preset") else {}
    return resolve_params(
        METHODS.get(dep.method)(), BACKBONES.get(dep.backbone), data.task, inherited
    )


def plan_fit(
    method_name: str,
    data: GraphData,
    backbone: str,
    overrides: dict[str, Any] | None = None,
    protocol: str | None = None,
    protocol_args: dict[str, Any] | None = None,
    teacher: str | None = None,
) -> FitPlan:
    """Resolve a configuration once: check that ``method_name`` runs on ``data`` with
    ``backbone``, resolve its parameters (defaults ∪ ``overrides``) and its protocol (the
    card's, a named one or ``paper``; ``protocol_args`` replaces the protocol's arguments)."""
    method = METHODS.get(method_name)()
    check_compatible(method, data, backbone)
    params = resolve_params(method, BACKBONES.get(backbone), data.task, overrides)
    protocol, args = resolve_protocol(data, protocol, method.paper_protocol, method.name)
    if protocol_args is not None:
        args = dict(protocol_args)
    return FitPlan(method, data, backbone, params, protocol, args, teacher)


def default_cache() -> ArtifactCache:
    """The artefact cache under the runs folder (``<runs>/artifacts``)."""
    from benchmark.tracking import runs_dir

    return ArtifactCache(runs_dir() / "artifacts")


def fit_seed(
    plan: FitPlan,
    seed: int,
    device: torch.device,
    cache: ArtifactCache | None = None,
    *,
    split: Split | None = None,
    evaluate_test: bool = True,
    export_outputs: bool = False,
    report: Callable[[int, float], None] | None = None,
    on_epoch: Callable[[int, int], None] | None = None,
) -> SeedResult:
    """Train ``plan`` on seed ``seed``: the split of the plan's protocol for that seed (or
    ``split``), its dependencies trained once through ``cache`` (default: :func:`default_cache`,
    opened only when the method has dependencies), then ``method.fit``. ``evaluate_test=False``
    (tuning, dependencies) never touches the test part; ``report`` receives the validation
    curve (pruning), ``on_epoch`` the progress."""
    data = plan.data
    if split is None:
        split = make_split(data, plan.protocol, seed, plan.protocol_args)
    artifacts: dict[str, Any] = {}
    if plan.dependencies():
        artifacts = resolve_dependencies(
            cache if cache is not None else default_cache(),
            plan.method,
            data,
            split,
            seed,
            plan.backbone,
            plan.teacher,
            device,
            lambda dep: plan.params_of(dep, seed),
            plan.params,
        )
    ctx = FitContext(
        data=data,
        split=split,
        backbone=plan.backbone,
        params=plan.params,
        seed=seed,
        device=device,
        evaluator=evaluator_for(data.card),
        artifacts=artifacts,
        evaluate_test=evaluate_test,
        export_outputs=export_outputs,
        report=report,
        on_epoch=on_epoch,
    )
    dependency_vals = {
        name: art.val for name, art in artifacts.items() if isinstance(art, FitResult)
    }
    return SeedResult(seed, split.name, plan.method.fit(ctx), dependency_vals)


def fit_plan(
    plan: FitPlan,
    seeds: list[int],
    device: torch.device,
    on_seed_start: Callable[[int], Callable[[int, int], None] | None] | None = None,
    on_seed_end: Callable[[SeedResult], None] | None = None,
) -> FitSummary:
    """Train ``plan`` once per seed with :func:`fit_seed` (no tuning; test evaluated once
    per seed). ``on_seed_start(seed)`` may return an ``(epoch, epochs)`` progress callback."""
    data = plan.data
    summary = FitSummary(
        plan.method.name,
        data.name,
        plan.backbone,
        plan.protocol,
        data.card.metric,
        plan.params,
        teacher=plan.teacher_backbone(),
    )
    cache = default_cache() if plan.dependencies() else None
    for seed in seeds:
        progress = on_seed_start(seed) if on_seed_start else None
        seed_result = fit_seed(plan, seed, device, cache, on_epoch=progress)
        summary.seeds.append(seed_result)
        if on_seed_end:
            on_seed_end(seed_result)
    return summary


def fit_seeds(
    method_name: str,
    data: GraphData,
    backbone: str,
    seeds: list[int],
    device: torch.device,
    overrides: dict[str, Any] | None = None,
    protocol: str | None = None,
    protocol_args: dict[str, Any] | None = None,
    on_seed_start: Callable[[int], Callable[[int, int], None] | None] | None = None,
    on_seed_end: Callable[[SeedResult], None] | None = None,
    teacher: str | None = None,
) -> FitSummary:
    """Train ``method_name`` with ``backbone`` on ``data`` once per seed (no tuning):
    :func:`plan_fit`, then :func:`fit_plan`.

    The split of seed ``r`` comes from the card's protocol (or ``protocol``); the epoch is
    chosen on validation by the method; test is evaluated once per seed. A distillation
    method's teacher (backbone ``teacher``, default the student's) is trained with its default
    configuration, once per split and seed, through the artefact cache under ``runs/``
    (the runner uses the teacher cell's tuned configuration instead).
    """
    plan = plan_fit(method_name, data, backbone, overrides, protocol, protocol_args, teacher)
    return fit_plan(plan, seeds, device, on_seed_start, on_seed_end)
