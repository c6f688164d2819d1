"""Train one configuration (method × dataset × backbone × params) on several seeds.

This is ``kdbench fit`` without the printing, and the unit the runner's final stage reuses:
for each seed it draws the split of the dataset card's protocol, trains with the method's
``fit`` and collects a :class:`SeedResult`; the summary is mean ± unbiased std of test.
"""

from __future__ import annotations

import statistics
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import torch

from benchmark.artifacts import resolve_dependencies
from benchmark.data.splits import make_split, resolve_protocol
from benchmark.data.types import GraphData
from benchmark.errors import KdbenchError
from benchmark.method import FitContext, FitResult, Method, resolve_params
from benchmark.metrics import evaluator_for
from benchmark.models import BACKBONES
from benchmark.registry import METHODS


@dataclass
class SeedResult:
    seed: int
    split: str
    result: FitResult


@dataclass
class FitSummary:
    """The outcome of :func:`fit_seeds`; ``std`` is the unbiased (n−1) standard deviation, as
    OGB reports, and ``None`` for a single seed."""

    method: str
    dataset: str
    backbone: str
    protocol: str
    metric: str
    params: dict[str, Any]
    seeds: list[SeedResult] = field(default_factory=list)

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
            "method": self.method, "dataset": self.dataset, "backbone": self.backbone,
            "protocol": self.protocol, "metric": self.metric, "params": self.params,
            "seeds": [s.seed for s in self.seeds], "val": self.vals, "test": self.tests,
            "best_epoch": [s.result.best_epoch for s in self.seeds],
            "train_seconds": [round(s.result.train_seconds, 3) for s in self.seeds],
            "inference_ms": [s.result.inference_ms for s in self.seeds],
            "num_params": self.seeds[0].result.num_params if self.seeds else None,
            "extra": [s.result.extra for s in self.seeds],
            "test_mean": tm, "test_std": ts, "val_mean": vm, "val_std": vs,
        }  # fmt: skip


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


def _inherited(params: dict[str, Any]) -> dict[str, Any]:
    """What a dependency inherits from its student's parameters: the preset (a paper's
    teacher settings come with its student's)."""
    return {"preset": params["preset"]} if params.get("preset") else {}


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
    """Train ``method_name`` with ``backbone`` on ``data`` once per seed (no tuning).

    The split of seed ``r`` comes from the card's protocol (or ``protocol``); the epoch is
    chosen on validation by the method; test is evaluated once per seed. A distillation
    method's teacher (backbone ``teacher``, default the student's) is trained with its default
    configuration, once per split and seed, through the artefact cache under ``runs/``
    (the runner uses the teacher cell's tuned configuration instead).
    ``on_seed_start(seed)`` may return an ``(epoch, epochs)`` progress callback.
    """
    method = METHODS.get(method_name)()
    check_compatible(method, data, backbone)
    params = resolve_params(method, BACKBONES.get(backbone), data.task, overrides)
    protocol, args = resolve_protocol(data, protocol, method.paper_protocol, method.name)
    if protocol_args is not None:
        args = dict(protocol_args)
    cache = None
    if method.dependencies(data.task, backbone, teacher, params):
        from benchmark.artifacts import ArtifactCache
        from benchmark.tracking import runs_dir

        cache = ArtifactCache(runs_dir() / "artifacts")
    summary = FitSummary(method_name, data.name, backbone, protocol, data.card.metric, params)
    evaluator = evaluator_for(data.card)
    for seed in seeds:
        split = make_split(data, protocol, seed, args)
        progress = on_seed_start(seed) if on_seed_start else None
        artifacts = {} if cache is None else resolve_dependencies(
            cache, method, data, split, seed, backbone, teacher, device,
            lambda dep: resolve_params(METHODS.get(dep.method)(), BACKBONES.get(dep.backbone),
                                       data.task, _inherited(params)),
            params,
        )  # fmt: skip
        ctx = FitContext(data=data, split=split, backbone=backbone, params=params, seed=seed,
                         device=device, evaluator=evaluator, artifacts=artifacts,
                         on_epoch=progress)  # fmt: skip
        seed_result = SeedResult(seed, split.name, method.fit(ctx))
        summary.seeds.append(seed_result)
        if on_seed_end:
            on_seed_end(seed_result)
    return summary
