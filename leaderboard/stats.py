"""Statistics of the leaderboard as plain functions (no Streamlit): Friedman test across
datasets with Nemenyi post-hoc p-values for the critical-difference diagram, and paired
Wilcoxon signed-rank tests of each distilled row against its vanilla teacher.

Units of analysis (Demšar, JMLR 2006):

- **Friedman / Nemenyi**: the *dataset*. Each dataset is one block, each table row (method ·
  backbone ← teacher) one treatment, the score the cell's mean test over its final seeds. Rows
  are ranked within each dataset (1 = best, ties share the average rank); the statistic is
  scipy's :func:`scipy.stats.friedmanchisquare` (tie-corrected χ² with k − 1 degrees of
  freedom), the pairwise p-values scikit-posthocs' :func:`posthoc_nemenyi_friedman`.
- **Wilcoxon**: the *seed*. A student run and its teacher's run with the same seed (the same
  split or fold, e.g. fold *r* of 10-fold CV) form one pair; one two-sided
  :func:`scipy.stats.wilcoxon` per (student row, dataset), not corrected for multiplicity.

Protocol kinds (:mod:`benchmark.results.kinds`): the Friedman test ranks honest rows only, unless
the cells hold only marked rows (``paper``, ``shared-tuning``; then those, among themselves:
:func:`friedman_cells`); a Wilcoxon pair is a student and a teacher of the same protocol and kind.
"""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from benchmark.results import kinds
from leaderboard.views import higher_is_better

MIN_DATASETS = 3  # Friedman blocks; fewer make the χ² approximation meaningless
MIN_METHODS = 3  # scipy's friedmanchisquare needs at least three treatments
MIN_PAIRS = 2
UNIT_SENTENCE = (
    "Unit of analysis: for the Friedman test and the critical-difference diagram, the dataset "
    "(one score per row and dataset: the mean test over the final seeds); for the Wilcoxon "
    "tests, the seed (a student run and its teacher's run with the same seed, i.e. the same "
    "split or fold, form one pair). Protocol kinds: rows marked "
    f"{kinds.MARKS[kinds.PAPER]} (a paper protocol) or {kinds.MARKS[kinds.SHARED_TUNING]} "
    "(hyper-parameters shared by seeds whose partitions differ) are never ranked with honest "
    "rows; a Wilcoxon pair is a student and a teacher of the same protocol and kind."
)


class NotEnoughData(ValueError):
    """Too few datasets, rows or seeds for a test; the message is a sentence for the page."""


def stars(p: float) -> str:
    """Significance marker: ``***`` p<0.001, ``**`` p<0.01, ``*`` p<0.05, else ``n.s.``
    (empty when ``p`` is NaN, i.e. no test)."""
    if pd.isna(p):
        return ""
    return "***" if p < 0.001 else "**" if p < 0.01 else "*" if p < 0.05 else "n.s."


def row_labels(cells: pd.DataFrame) -> pd.Series:
    """``method · backbone`` (``← teacher`` when distilled), plus ``[sweep, protocol]`` when
    the cells span several (a protocol other than the dataset card's own:
    :func:`benchmark.results.kinds.row_protocol`), so that two different rows never share a label,
    plus the mark of a marked kind (``lad_gnn · GCN [paper]``)."""
    if "protocol" in cells and "dataset" in cells:
        cells = cells.assign(protocol=kinds.row_protocol(cells))
    teacher = cells["teacher"].fillna("").map(lambda t: f" ← {t}" if t else "")
    label = cells["method"] + " · " + cells["backbone"] + teacher
    extra = [c for c in ("sweep", "protocol") if c in cells and cells[c].nunique() > 1]
    if extra:
        label = label + " [" + cells[extra].astype(str).agg(", ".join, axis=1) + "]"
    return kinds.marked(label, kinds.kinds_of(cells))


def friedman_cells(cells: pd.DataFrame) -> tuple[pd.DataFrame, str]:
    """The cells the Friedman test ranks and a sentence saying which: the honest rows only
    (marked rows are never ranked with them), or, when every cell is marked, all of them
    (ranked among themselves)."""
    kind = kinds.kinds_of(cells)
    marked = kinds.is_marked(kind)
    labels = row_labels(cells)
    n_marked, n_honest = labels[marked].nunique(), labels[~marked].nunique()
    if not marked.all():
        left = (
            (
                f"; the {n_marked} marked row(s) "
                f"({', '.join(sorted({kinds.mark(k) for k in kind[marked]}))}) are left out: "
                "they are never ranked with honest rows"
            )
            if n_marked
            else ""
        )
        return cells[~marked], f"Rows used: the {n_honest} honest row(s){left}."
    shown = ", ".join(sorted({kinds.mark(k) for k in kind}))
    return cells, (
        f"Rows used: only marked rows ({shown}) are shown, so the test ranks them "
        "among themselves; its ranks are not comparable with honest rows'."
    )


def score_matrix(cells: pd.DataFrame) -> tuple[pd.DataFrame, list[str]]:
    """Datasets × rows of mean test scores, signed so that higher is better, restricted to the
    rows measured on every dataset of ``cells`` (Friedman needs a complete block): incomplete
    rows are dropped, never datasets. Cells come from
    :func:`benchmark.results.aggregate.aggregate`. Returns ``(matrix, dropped_rows)``, the
    dropped rows' labels each with the datasets it has (``kd · MLP ← GCN (2/3 datasets)``).
    """
    c = cells.assign(row=row_labels(cells).to_numpy())
    sign = c["metric"].map(lambda m: 1.0 if higher_is_better(m) else -1.0)
    c = c.assign(score=c["test_mean"].astype(float) * sign)
    if c.duplicated(["dataset", "row"]).any():
        raise ValueError("two cells share a (dataset, row); filter to one sweep or protocol")
    m = c.pivot(index="dataset", columns="row", values="score")
    has = m.notna().sum(axis=0)
    full = has == len(m)
    dropped = [f"{r} ({has[r]}/{len(m)} datasets)" for r in m.columns[~full.to_numpy()]]
    m = m.loc[:, full.to_numpy()]
    m.columns.name = None
    return m, dropped


@dataclass
class Friedman:
    """Friedman test over a datasets × rows block and its Nemenyi post-hoc comparisons.

    ``ranks``: each row's average rank over the datasets (1 = best), ascending; ``nemenyi``:
    rows × rows p-values (diagonal 1); ``statistic``, ``pvalue``: scipy's χ² and its p."""

    statistic: float
    pvalue: float
    ranks: pd.Series
    nemenyi: pd.DataFrame
    n_datasets: int
    n_rows: int


def friedman(matrix: pd.DataFrame, posthoc: bool = True) -> Friedman:
    """Friedman test and (with ``posthoc``) Nemenyi p-values of ``matrix`` (datasets × rows,
    higher = better, no missing value; see :func:`score_matrix`); without ``posthoc``
    ``nemenyi`` is empty (it costs O(rows²)). Raises :class:`NotEnoughData` below
    ``MIN_DATASETS`` datasets or ``MIN_METHODS`` rows."""
    import scikit_posthocs as sp
    from scipy.stats import friedmanchisquare

    n, k = matrix.shape
    if n < MIN_DATASETS or k < MIN_METHODS:
        raise NotEnoughData(
            f"The Friedman test needs at least {MIN_METHODS} rows measured on the same "
            f"{MIN_DATASETS} or more datasets; the shown cells give a complete block of {k} "
            f"row(s) × {n} dataset(s). Widen the filters or run more of the grid."
        )
    stat, p = friedmanchisquare(*(matrix[col].to_numpy() for col in matrix.columns))
    ranks = matrix.rank(axis=1, ascending=False, method="average").mean(axis=0)
    nemenyi = pd.DataFrame()
    if posthoc:
        nemenyi = sp.posthoc_nemenyi_friedman(matrix.to_numpy())
        nemenyi.index = nemenyi.columns = list(matrix.columns)
    return Friedman(
        statistic=float(stat),
        pvalue=float(p),
        ranks=ranks.sort_values(kind="stable"),
        nemenyi=nemenyi,
        n_datasets=n,
        n_rows=k,
    )


def cd_diagram(result: Friedman, alpha: float = 0.05):
    """The critical-difference diagram (scikit-posthocs) of ``result`` as a matplotlib
    figure: rows on the average-rank axis, a bar joins rows whose Nemenyi p ≥ ``alpha``."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import scikit_posthocs as sp

    fig, ax = plt.subplots(figsize=(8, 0.6 + 0.28 * len(result.ranks)))
    sp.critical_difference_diagram(result.ranks, result.nemenyi, alpha=alpha, ax=ax)
    ax.set_title(
        f"Average rank over {result.n_datasets} datasets (1 = best); bars: Nemenyi p ≥ {alpha}",
        fontsize=9,
    )
    fig.tight_layout()
    return fig


WILCOXON_COLUMNS = [
    "method",
    "backbone",
    "teacher",
    "dataset",
    "sweep",
    "protocol",
    "protocol kind",
    "pairs",
    "student",
    "vanilla teacher",
    "mean diff",
    "p",
    "sig",
]


def wilcoxon_vs_teacher(runs: pd.DataFrame) -> pd.DataFrame:
    """Paired two-sided Wilcoxon signed-rank test of every distilled row (``teacher`` tag set)
    against its teacher: the ``vanilla`` row whose backbone is the student's teacher backbone,
    on the same dataset, sweep, protocol and protocol kind, paired by seed.

    ``runs``: final runs, one per seed (:func:`leaderboard.views.clean_runs` rows: ``method``,
    ``backbone``, ``teacher``, ``dataset``, ``sweep``, ``protocol``, ``protocol_kind`` (honest
    if absent), ``metric``, ``seed``, ``m.test``). One output row per student cell whose teacher
    cell exists, with its ``protocol kind``: ``pairs`` = seeds
    both finished, ``student`` / ``vanilla teacher`` = their mean test over those seeds,
    ``mean diff`` = student − teacher signed so that + is better, ``p`` and ``sig``
    (:func:`stars`). ``p`` is scipy's exact null distribution when the differences have no zero
    and no tie, else its normal approximation with tie correction (``method="approx"``, zeros
    dropped); NaN below ``MIN_PAIRS`` pairs or when every difference is zero. Tests are batched
    by number of pairs (thousands of cells take well under a second).
    """
    if runs.empty or "teacher" not in runs:
        return pd.DataFrame(columns=WILCOXON_COLUMNS)
    r = runs.assign(
        seed=runs["seed"].astype(int),
        test=runs["m.test"].astype(float),
        teacher=runs["teacher"].fillna(""),
    )
    for col in ("sweep", "protocol"):
        if col not in r:
            r[col] = ""
    r["protocol kind"] = kinds.kinds_of(r)
    ctx = ["dataset", "sweep", "protocol", "protocol kind"]
    keys = ["method", "backbone", "teacher", *ctx]
    teachers = r.loc[
        (r["method"] == "vanilla") & (r["teacher"] == ""), [*ctx, "backbone", "seed", "test"]
    ].drop_duplicates([*ctx, "backbone", "seed"])
    students = r[r["teacher"] != ""].drop_duplicates([*keys, "seed"])
    has_teacher = students.merge(
        teachers[[*ctx, "backbone"]].drop_duplicates().rename(columns={"backbone": "teacher"}),
        on=[*ctx, "teacher"],
    )
    if has_teacher.empty:
        return pd.DataFrame(columns=WILCOXON_COLUMNS)
    pairs = has_teacher.merge(
        teachers.rename(columns={"backbone": "teacher", "test": "ref"}),
        on=[*ctx, "teacher", "seed"],
        how="left",
    )
    sign = (
        pairs.groupby(keys, sort=True)["metric"]
        .first()
        .map(lambda m: 1.0 if higher_is_better(str(m)) else -1.0)
    )
    pairs = pairs.dropna(subset=["ref"]).sort_values([*keys, "seed"])
    g = pairs.groupby(keys, sort=True)
    out = pd.DataFrame(
        {"pairs": g.size(), "student": g["test"].mean(), "vanilla teacher": g["ref"].mean()}
    ).reindex(sign.index)
    out["pairs"] = out["pairs"].fillna(0).astype(int)
    out["mean diff"] = (out["student"] - out["vanilla teacher"]) * sign
    out["p"] = _signed_rank_p(pairs.assign(pos=g.cumcount()), keys).reindex(out.index)
    out["sig"] = out["p"].map(stars)
    return out.reset_index()[WILCOXON_COLUMNS]


def _signed_rank_p(pairs: pd.DataFrame, keys: list[str]) -> pd.Series:
    """Two-sided Wilcoxon p per group of ``pairs`` (``test`` vs ``ref``; ``pos`` = the pair's
    position in its group), batched over groups with the same number of pairs."""
    import numpy as np
    from scipy.stats import wilcoxon

    a = pairs.pivot_table(index=keys, columns="pos", values="test", aggfunc="first")
    b = pairs.pivot_table(index=keys, columns="pos", values="ref", aggfunc="first")
    n = a.notna().sum(axis=1).to_numpy()
    p = np.full(len(a), np.nan)
    for k in np.unique(n):
        if k < MIN_PAIRS:
            continue
        rows = np.flatnonzero(n == k)
        d = a.to_numpy()[rows, :k] - b.to_numpy()[rows, :k]
        tested = (d != 0).any(axis=1)
        plain = (
            tested
            & (d != 0).all(axis=1)
            & (np.diff(np.sort(np.abs(d), axis=1), axis=1) != 0).all(axis=1)
        )
        for chosen, method in ((plain, "exact"), (tested & ~plain, "approx")):
            if chosen.any():
                p[rows[chosen]] = wilcoxon(d[chosen], axis=1, method=method).pvalue
    return pd.Series(p, index=a.index)


def min_attainable_p(pairs: int) -> float:
    """The smallest two-sided p an exact Wilcoxon test can give with ``pairs`` pairs and no
    ties: 2 / 2**pairs (so fewer than 6 seeds can never reach p < 0.05)."""
    return min(1.0, 2.0 / 2**pairs)
