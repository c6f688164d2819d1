r"""Supervised losses per target kind, shared by every method.

* ``multiclass``: :math:`\mathrm{CE}(z, y)` with logits ``z`` [n, C], ``y`` [n] long.
* ``multilabel``: binary cross-entropy with logits over labelled entries only (``y`` [n, T] with
  NaN = no label), averaged over labelled entries (Hu et al. 2020; OGB).
* ``regression``: mean squared error over labelled entries.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor


def supervised_loss(target: str, logits: Tensor, y: Tensor) -> Tensor:
    """The task loss of ``logits`` against ``y`` for ``target`` kind (see module docstring)."""
    if target == "multiclass":
        return F.cross_entropy(logits, y)
    labelled = ~torch.isnan(y)
    y0 = torch.nan_to_num(y)
    if target == "multilabel":
        per = F.binary_cross_entropy_with_logits(logits, y0, reduction="none")
    elif target == "regression":
        per = (logits - y0) ** 2
    else:
        raise ValueError(f"unknown target kind '{target}'")
    w = labelled.to(per.dtype)
    return (per * w).sum() / w.sum().clamp(min=1.0)
