"""The optimiser every method uses unless its hooks say otherwise."""

from __future__ import annotations

from typing import Any

import torch


def adam(params: Any, lr: float, weight_decay: float = 0.0) -> torch.optim.Optimizer:
    """Adam with the fused kernel (one kernel per step on CPU and CUDA: ~7× faster than the
    per-tensor loop on CPU for GNN-sized models), falling back where it is unsupported."""
    params = list(params)
    try:
        return torch.optim.Adam(params, lr=lr, weight_decay=weight_decay, fused=True)
    except (RuntimeError, ValueError):
        return torch.optim.Adam(params, lr=lr, weight_decay=weight_decay)
