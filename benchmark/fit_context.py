"""What a fit receives and returns: :class:`FitContext`, :class:`FitResult`, the
:class:`Dependency` a method declares (resolved before ``fit``) and the training keys every
``ctx.params`` holds (:data:`TRAIN_DEFAULTS`). The data contract below both the method API
(:mod:`benchmark.method`, which re-exports these) and the shared loop
(:mod:`benchmark.train.loop`)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import Tensor

from benchmark.data.types import GraphData, Split
from benchmark.metrics import Evaluator

#: training hyper-parameters every method has, per task (backbones and methods override).
TRAIN_DEFAULTS: dict[str, dict[str, Any]] = {
    "node": {
        "lr": 0.01,
        "weight_decay": 5e-4,
        "epochs": 200,
        "patience": 100,
        "batch_size": 0,
        "ties": "first",
    },
    "graph": {
        "lr": 0.01,
        "weight_decay": 0.0,
        # Xu et al. train GIN 350 epochs; at 100 the budget bound (NCI1 GCN: best epoch 83-97
        # in 8 of 10 folds); patience 30 still ends most runs long before 300
        "epochs": 300,
        "patience": 30,
        "batch_size": 32,
        "ties": "first",
    },
}
#: loop mechanics (no effect on results): validation every k epochs, host sync every k epochs,
#: repetitions of the timed test inference.
LOOP_DEFAULTS: dict[str, int] = {"eval_every": 1, "sync_every": 10, "latency_repeats": 5}
for _task in TRAIN_DEFAULTS.values():
    _task.update(LOOP_DEFAULTS)


@dataclass(frozen=True)
class Dependency:
    """An artefact a method needs, resolved by the runner and passed as
    ``ctx.artifacts[name]``: a run of ``method`` with ``backbone`` on the same dataset, split
    and seed, with ``params`` (``None`` = that cell's tuned configuration, with ``overrides``
    applied on top: e.g. a deeper or wider teacher than the tuned one) — or, with ``build``,
    whatever ``build(cache, device)`` returns from the runner's artefact cache, for artefacts
    that are not a run on the cell's data (a pre-trained encoder: ``params`` then holds its
    configuration for display, ``method`` names the pre-training)."""

    name: str
    method: str
    backbone: str
    params: dict[str, Any] | None = None
    overrides: dict[str, Any] | None = None
    split: str | None = None  # None = the student's own split
    build: Callable[[Any, torch.device], Any] | None = field(default=None, compare=False)


@dataclass
class FitContext:
    """Everything ``Method.fit`` may use; nothing else is global.

    ``params`` is the full hyper-parameter dict (training defaults ∪ backbone defaults ∪ the
    method's changes to them ∪ its own defaults ∪ preset ∪ overrides: see
    :func:`benchmark.method.resolve_params`). ``report(epoch, value)`` receives the validation
    curve (the runner prunes through it; it may raise ``optuna.TrialPruned``).
    """

    data: GraphData
    split: Split
    backbone: str
    params: dict[str, Any]
    seed: int
    device: torch.device
    evaluator: Evaluator
    artifacts: dict[str, Any] = field(default_factory=dict)
    evaluate_test: bool = True
    export_outputs: bool = False  # fill FitResult.outputs (a teacher for other cells)
    report: Callable[[int, float], None] | None = None
    on_epoch: Callable[[int, int], None] | None = None  # progress: (epoch, max_epochs)


@dataclass
class FitResult:
    """What one ``fit`` returns. Scores are the card's metric at the epoch chosen on
    validation (``test`` is ``None`` when the test part was not evaluated)."""

    val: float
    test: float | None
    best_epoch: int
    epochs_run: int
    train_seconds: float
    num_params: int
    inference_ms: float | None = None
    teacher_params: int | None = None
    val_curve: list[float] = field(default_factory=list)
    loss_curve: list[float] = field(default_factory=list)
    val_pred: Tensor | None = None
    test_pred: Tensor | None = None
    extra: dict[str, float] = field(default_factory=dict)
    #: with ``ctx.export_outputs``: the selected model's outputs for *every* node or graph,
    #: in dataset order (``logits`` [n, C]; ``h`` [N, d] node embeddings for node tasks;
    #: ``g`` [G, d] graph embeddings for graph tasks) and its ``state_dict``, on the CPU.
    outputs: dict[str, Any] | None = None
