"""Choose the device once (``--device auto|cpu|cuda:N``); everything else receives it."""

from __future__ import annotations

import torch

from benchmark.errors import KdbenchError


def resolve_device(spec: str = "auto") -> torch.device:
    """``auto`` → the first CUDA device if there is one, else CPU; ``cpu``; ``cuda[:N]``."""
    if spec == "auto":
        return torch.device("cuda:0" if torch.cuda.is_available() else "cpu")
    try:
        device = torch.device(spec)
    except RuntimeError:
        raise KdbenchError(f"unknown device '{spec}'; use auto, cpu or cuda:N") from None
    if device.type == "cuda":
        if not torch.cuda.is_available():
            raise KdbenchError(
                f"device {spec} requested but CUDA is not available; use --device cpu"
            )
        index = device.index or 0
        if index >= torch.cuda.device_count():
            raise KdbenchError(
                f"device {spec} does not exist: {torch.cuda.device_count()} CUDA device(s) visible"
            )
    elif device.type != "cpu":
        raise KdbenchError(f"unsupported device '{spec}'; use auto, cpu or cuda:N")
    return device
