"""Paired comparisons: a row against a baseline row over matching seeds, per cell, corrected
for the number of cells compared.

A comparison names pairs ``(row cell, baseline cell)``, one per comparison cell (e.g. per
dataset). For one pair, with :math:`x_s` and :math:`y_s` the test scores of seed :math:`s`
in points (accuracy and ROC-AUC × 100, errors as they are) over the :math:`n` seeds both
cells have,

- :math:`\\Delta = \\frac1n \\sum_s (x_s - y_s)`, the mean of the per-seed differences;
- :math:`p`, the two-sided Wilcoxon signed-rank p of the differences (``scipy.stats.wilcoxon``,
  its defaults: exact for small :math:`n` without ties or zeros); no test with fewer than
  :data:`MIN_PAIRS` pairs (:math:`p` is ``None``), and none when every pair is equal
  (:math:`p = 1`, ``identical``).

Across the comparison's cells with a test, the :math:`m` p values are adjusted by Holm
(family-wise error: the :math:`k`-th smallest becomes :math:`\\max_{j \\le k} \\min(1, (m - j +
1) p_{(j)})`) and by Benjamini–Hochberg (false discovery rate), both by statsmodels'
``multipletests``. The functions work on the per-seed frame
(:func:`benchmark.results.aggregate.final_runs` or :func:`benchmark.results.record.load_record`
rows: ``cell``, ``seed``, ``metric``, ``m.test``), so record and store rows compare alike.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Hashable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any, TypeVar

import pandas as pd

from benchmark.errors import KdbenchError

#: fewer pairs than this: no test (with 5 pairs the exact test cannot go below p = 0.0625)
MIN_PAIRS = 5
#: metrics shown in points (× 100)
PERCENT = frozenset({"accuracy", "rocauc"})
#: two scores closer than this (points) are equal
TOL = 1e-9

K = TypeVar("K", bound=Hashable)


def points(metric: str) -> float:
    """The factor from a metric's stored value to points: 100 for accuracy and ROC-AUC, else 1."""
    return 100.0 if metric in PERCENT else 1.0


@dataclass(frozen=True)
class Paired:
    """One comparison cell: ``n`` matching seeds, ``diff`` = Δ (row − baseline, points; NaN
    without pairs), the two-sided Wilcoxon ``p`` (``None``: no test), ``identical`` (every pair
    equal, p = 1 untested), and the ``holm`` / ``bh`` adjusted p across the comparison's cells
    (``None`` without a test or before :func:`adjusted`)."""

    n: int
    diff: float
    p: float | None
    identical: bool = False
    holm: float | None = None
    bh: float | None = None

    def text(self, holm: bool = False) -> str:
        """``+d.d (p = 0.ppp)`` (``p = 1`` when every pair is equal), with ``, Holm 0.ppp``
        when ``holm``; ``–`` without a test."""
        if self.p is None:
            return "–"
        p = "1" if self.identical else f"{self.p:.3f}"
        extra = f", Holm {self.holm:.3f}" if holm and self.holm is not None else ""
        return f"{self.diff:+.1f} (p = {p}{extra})"


def paired(row: Mapping[int, float], baseline: Mapping[int, float]) -> Paired:
    """Δ and the Wilcoxon p of ``row`` − ``baseline`` over the seeds both have (seed → score
    in points); see the module docstring."""
    seeds = sorted(set(row) & set(baseline))
    xa, xb = [row[s] for s in seeds], [baseline[s] for s in seeds]
    n = len(seeds)
    if n == 0:
        return Paired(0, math.nan, None)
    diff = sum(x - y for x, y in zip(xa, xb)) / n
    if n < MIN_PAIRS:
        return Paired(n, diff, None)
    if all(abs(x - y) < TOL for x, y in zip(xa, xb)):
        return Paired(n, diff, 1.0, identical=True)
    return Paired(n, diff, wilcoxon_p(tuple(xa), tuple(xb)))


@functools.lru_cache(maxsize=4096)
def wilcoxon_p(xa: tuple[float, ...], xb: tuple[float, ...]) -> float:
    r"""``scipy.stats.wilcoxon(xa, xb).pvalue`` (two-sided, zeros dropped, exact for small n).

    With ties or zero differences and at most :data:`PERMUTATION_MAX` pairs scipy runs an
    exact permutation test over all :math:`2^n` sign flips (``permutation_test``, about half
    a second for 10 pairs); :func:`sign_flip_p` computes the same p in a millisecond
    (``tests/test_compare.py`` checks they agree). Otherwise scipy's own path."""
    import numpy as np

    d = np.asarray(xa, dtype=float) - np.asarray(xb, dtype=float)
    nonzero = d[d != 0]
    tied = len(np.unique(np.abs(nonzero))) < len(nonzero)
    if len(d) <= PERMUTATION_MAX and (tied or len(nonzero) < len(d)):
        return sign_flip_p(d)
    from scipy.stats import wilcoxon

    return float(wilcoxon(xa, xb).pvalue)


#: at most this many pairs, scipy's ``wilcoxon`` with ties or zeros is an exact permutation test
PERMUTATION_MAX = 13


def sign_flip_p(d: Any) -> float:
    r"""The two-sided p of the signed-rank statistic :math:`T^+ = \sum_{d_s > 0} r_s` (ranks of
    :math:`|d_s|` among the non-zero differences, ties averaged) against its null distribution
    over all sign flips of the non-zero differences, as ``scipy.stats.permutation_test``
    computes it: :math:`p = \min(1, 2 \min(P(T \le t), P(T \ge t)))` with scipy's relative
    tolerance ``100 · eps`` on :math:`t`."""
    import numpy as np
    from scipy.stats import rankdata

    d = np.asarray(d, dtype=float)
    nz = d[d != 0]
    ranks = rankdata(np.abs(nz), method="average")
    observed = float(ranks[nz > 0].sum())
    flips = (np.arange(2 ** len(nz))[:, None] >> np.arange(len(nz))) & 1
    null = flips @ ranks
    gamma = abs(np.finfo(float).eps * 100 * observed)
    less = float(np.mean(null <= observed + gamma))
    greater = float(np.mean(null >= observed - gamma))
    return min(1.0, 2 * min(less, greater))


def adjust(ps: Sequence[float], method: str) -> list[float]:
    """``ps`` adjusted for their number by statsmodels' ``multipletests`` (``holm``,
    ``fdr_bh``, …), in the same order."""
    if not ps:
        return []
    try:
        from statsmodels.stats.multitest import multipletests
    except ImportError:
        raise KdbenchError(
            "multiplicity corrections need statsmodels: pip install statsmodels"
        ) from None
    return [float(p) for p in multipletests(list(ps), method=method)[1]]


def adjusted(cells: Mapping[K, Paired]) -> dict[K, Paired]:
    """``cells`` with their Holm and Benjamini–Hochberg p, adjusted over the cells that have a
    test (an identical cell counts, with p = 1)."""
    tested = [k for k, c in cells.items() if c.p is not None]
    ps = [float(cells[k].p or 0.0) for k in tested]
    holm, bh = adjust(ps, "holm"), adjust(ps, "fdr_bh")
    out = dict(cells)
    for k, h, b in zip(tested, holm, bh):
        out[k] = replace(cells[k], holm=h, bh=b)
    return out


def seed_scores(runs: pd.DataFrame, cell: str) -> dict[int, float]:
    """Seed → test score in points of ``cell``'s rows in the per-seed frame ``runs``."""
    rows = runs[runs["cell"] == cell]
    if rows.empty:
        return {}
    factor = points(str(rows["metric"].iloc[0])) if "metric" in rows else 1.0
    return {
        int(s): factor * float(t) for s, t in zip(rows["seed"], rows["m.test"]) if not pd.isna(t)
    }


def compare(
    runs: pd.DataFrame, pairs: Mapping[K, tuple[str | None, str | None]]
) -> dict[K, Paired]:
    """One comparison: per comparison cell ``k``, ``pairs[k]`` = (row cell key, baseline cell
    key) in ``runs`` (``None``: no such cell), its :class:`Paired` with the Holm and BH p
    adjusted across the comparison's cells. Seed *r* of two cells is one pair only when both
    ran the same split protocol (then seed *r* is the same split or fold of the same dataset);
    cells of different protocols have no pairs (``n = 0``)."""
    needed = {c for pair in pairs.values() for c in pair if c is not None}
    if runs.empty or not needed:
        by_cell: dict[str, pd.DataFrame] = {}
    else:
        by_cell = dict(iter(runs[runs["cell"].isin(needed)].groupby("cell", sort=False)))

    def scores(cell: str | None) -> dict[int, float]:
        return seed_scores(by_cell[cell], cell) if cell in by_cell else {}

    def split_of(cell: str | None) -> tuple[str, ...]:
        rows = by_cell.get(cell) if cell is not None else None
        if rows is None or rows.empty:
            return ()
        return tuple(str(rows[c].iloc[0]) for c in ("dataset", "protocol") if c in rows)

    def one(a: str | None, b: str | None) -> Paired:
        if split_of(a) != split_of(b):
            return paired({}, {})
        return paired(scores(a), scores(b))

    return adjusted({k: one(a, b) for k, (a, b) in pairs.items()})
