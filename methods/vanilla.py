"""``vanilla``: a GNN (or MLP) trained with the task loss alone — the teachers of the grid.

Loss: cross-entropy for classification (masked binary cross-entropy for multi-label, masked
MSE for regression) on the training rows; the epoch is chosen on validation by the shared
loop. Faithful to the standard recipes (Kipf & Welling 2017 for GCN on Planetoid; Errica et
al. 2020's honest 10-fold protocol for TU graph classification); the backbone defaults are in
``benchmark/models/backbones.py``.
"""

from __future__ import annotations

from typing import Any

from benchmark.registry import register_method
from benchmark.train.loop_method import LoopMethod


@register_method("vanilla")
class Vanilla(LoopMethod):
    """A backbone trained on labels only (no teacher). All hooks are the loop's defaults."""

    tasks = ("node", "graph")
    family = "vanilla"
    description = "GNN or MLP backbone trained on labels only; the teacher of distillation rows"

    def search_space(self, trial: Any, task: str) -> dict[str, Any]:
        return {
            "lr": trial.suggest_float("lr", 1e-3, 5e-2, log=True),
            "weight_decay": trial.suggest_float("weight_decay", 1e-6, 1e-3, log=True),
            "hidden": trial.suggest_categorical("hidden", [32, 64, 128, 256]),
            "dropout": trial.suggest_float("dropout", 0.0, 0.7),
        }
