r"""Evaluators: one per dataset card, checking their input as OGB's ``Evaluator`` does.

Two entry points with the same meaning:

* :meth:`Evaluator.eval` — the reported figure, computed on the host by the reference
  implementation (``ogb.*.Evaluator`` for OGB cards, scikit-learn otherwise); called once per
  part at the end of a run.
* :meth:`Evaluator.score` — the same quantity as a 0-d tensor on the predictions' device, with
  no host synchronisation, used by the training loop to select the epoch on validation.

Metrics (``y_true`` / ``y_pred`` shapes):

* ``accuracy``: ``[n]`` class ids / ``[n, C]`` scores;
  :math:`\frac1n\sum_i [\arg\max_c s_{ic} = y_i]`.
* ``rocauc``: ``[n, T]`` in {0, 1, NaN} / ``[n, T]`` scores; per task the Mann–Whitney AUC over
  labelled rows, averaged over tasks that have both classes (as OGB; NaN = no label).
* ``rmse`` / ``mae``: ``[n, T]`` with NaN = no label / ``[n, T]``; per task over labelled rows,
  averaged over tasks (as OGB).
* ``nll``: ``[n]`` class ids / ``[n, C]`` logits; mean cross-entropy
  :math:`-\frac1n\sum_i \log\mathrm{softmax}(s_i)_{y_i}`, lower is better. Not a card metric:
  for methods that select on validation loss (LAD-GNN's label-attentive teacher).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor

from benchmark.errors import KdbenchError

HIGHER_IS_BETTER = {"accuracy": True, "rocauc": True, "rmse": False, "mae": False, "nll": False}


@dataclass(frozen=True)
class Evaluator:
    """Evaluates predictions for one dataset: ``metric`` ∈ accuracy | rocauc | rmse | mae."""

    metric: str
    ogb_name: str | None = None

    def __post_init__(self) -> None:
        if self.metric not in HIGHER_IS_BETTER:
            raise KdbenchError(
                f"unknown metric '{self.metric}'; expected one of {sorted(HIGHER_IS_BETTER)}"
            )

    @property
    def higher_is_better(self) -> bool:
        return HIGHER_IS_BETTER[self.metric]

    @property
    def expected_input_format(self) -> str:
        if self.metric in ("accuracy", "nll"):
            return "y_true: [n] long class ids; y_pred: [n, C] float scores or logits"
        return "y_true: [n, T] float (NaN = no label); y_pred: [n, T] float scores"

    # ------------------------------------------------------------------ checks
    def _check(self, y_true: Tensor, y_pred: Tensor) -> None:
        ok = y_true.shape[0] == y_pred.shape[0] and y_pred.dim() == 2
        if self.metric in ("accuracy", "nll"):
            ok = ok and y_true.dim() == 1
        else:
            ok = ok and y_true.dim() == 2 and y_true.shape[1] == y_pred.shape[1]
        if not ok:
            raise KdbenchError(
                f"{self.metric}: got y_true {tuple(y_true.shape)}, y_pred {tuple(y_pred.shape)}; "
                f"expected {self.expected_input_format}"
            )
        if y_true.shape[0] == 0:
            raise KdbenchError(f"{self.metric}: no rows to evaluate (empty split part)")

    # ------------------------------------------------------------------ host, reported
    def eval(self, y_true: Tensor, y_pred: Tensor) -> float:
        """The reported metric, by the reference implementation (host; syncs)."""
        self._check(y_true, y_pred)
        y_true, y_pred = y_true.detach().cpu(), y_pred.detach().float().cpu()
        if self.ogb_name is not None:
            return self._eval_ogb(y_true, y_pred)
        if self.metric == "accuracy":
            return float((y_pred.argmax(-1) == y_true).double().mean())
        if self.metric == "nll":
            return float(torch.nn.functional.cross_entropy(y_pred.double(), y_true))
        yt, yp = y_true.numpy(), y_pred.numpy()
        if self.metric == "rocauc":
            from sklearn.metrics import roc_auc_score

            aucs = []
            for t in range(yt.shape[1]):
                lab = ~np.isnan(yt[:, t])
                if lab.any() and len(np.unique(yt[lab, t])) == 2:
                    aucs.append(roc_auc_score(yt[lab, t], yp[lab, t]))
            if not aucs:
                raise KdbenchError("rocauc: no task has both a positive and a negative label")
            return float(np.mean(aucs))
        errs = []
        for t in range(yt.shape[1]):
            lab = ~np.isnan(yt[:, t])
            d = yp[lab, t] - yt[lab, t]
            errs.append(np.sqrt(np.mean(d**2)) if self.metric == "rmse" else np.mean(np.abs(d)))
        return float(np.mean(errs))

    def _eval_ogb(self, y_true: Tensor, y_pred: Tensor) -> float:
        if self.ogb_name.startswith("ogbn"):
            from ogb.nodeproppred import Evaluator as OgbEvaluator

            y_pred = y_pred.argmax(-1, keepdim=True)
            y_true = y_true.view(-1, 1)
        else:
            from ogb.graphproppred import Evaluator as OgbEvaluator
        key = {"accuracy": "acc"}.get(self.metric, self.metric)
        out = OgbEvaluator(self.ogb_name).eval({"y_true": y_true.numpy(), "y_pred": y_pred.numpy()})
        return float(out[key])

    # ------------------------------------------------------------------ device, selection
    def score(self, y_true: Tensor, y_pred: Tensor) -> Tensor:
        """The same metric as a 0-d float tensor on ``y_pred.device`` (no host sync on
        accuracy/rmse/mae; rocauc masks labels with boolean indexing, which syncs on CUDA)."""
        y_pred = y_pred.detach().float()
        if self.metric == "accuracy":
            return (y_pred.argmax(-1) == y_true).float().mean()
        if self.metric == "nll":
            return torch.nn.functional.cross_entropy(y_pred, y_true)
        if self.metric == "rocauc":
            return _rocauc_torch(y_true, y_pred)
        lab = ~torch.isnan(y_true)
        d = torch.where(lab, y_pred - torch.nan_to_num(y_true), torch.zeros_like(y_pred))
        n = lab.sum(0).clamp(min=1)
        per_task = (d**2).sum(0) / n if self.metric == "rmse" else d.abs().sum(0) / n
        return (per_task.sqrt() if self.metric == "rmse" else per_task).mean()

    def better(self, a: float, b: float) -> bool:
        """Is score ``a`` strictly better than ``b``?"""
        return a > b if self.higher_is_better else a < b


def _auc_1d(y: Tensor, s: Tensor) -> Tensor:
    """Mann–Whitney AUC with average ranks for ties; ``y`` in {0, 1}, ``s`` scores, both [n]."""
    order = torch.argsort(s)
    s_sorted, y_sorted = s[order], y[order]
    _, inverse, counts = torch.unique_consecutive(s_sorted, return_inverse=True, return_counts=True)
    ends = counts.cumsum(0).double()
    ranks = ((ends - counts.double() + 1 + ends) / 2)[inverse]
    n_pos = y_sorted.sum().double()
    n_neg = y_sorted.numel() - n_pos
    return ((ranks * y_sorted).sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg)


def _rocauc_torch(y_true: Tensor, y_pred: Tensor) -> Tensor:
    aucs = []
    for t in range(y_true.shape[1]):
        lab = ~torch.isnan(y_true[:, t])
        y, s = y_true[lab, t].double(), y_pred[lab, t]
        pos = y.sum()
        if 0 < pos < y.numel():
            aucs.append(_auc_1d(y, s))
    if not aucs:
        return torch.tensor(float("nan"), device=y_pred.device)
    return torch.stack(aucs).mean().float()


def evaluator_for(card: object) -> Evaluator:
    """The evaluator a dataset card asks for (``card.metric``, ``card.ogb_name``)."""
    return Evaluator(card.metric, getattr(card, "ogb_name", None))
