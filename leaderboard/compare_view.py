"""The comparisons view: every row of a family's table against a baseline row the user picks.

Per other row and dataset: Δ = mean over the seeds both cells have of the per-seed
differences row − baseline (the table's units: accuracy and ROC-AUC ×100), the two-sided
paired Wilcoxon p over those seeds and its Holm adjustment across all the view's tests, from
:mod:`benchmark.results.compare` (the same numbers as the docs' tables). The table functions
need no Streamlit; :func:`panel` shows them.
"""

from __future__ import annotations

import pandas as pd

from benchmark.results import compare
from leaderboard import views

BASELINE = "baseline"


def row_keys(b: views.Board) -> list[str]:
    """The columns of the board that identify a row (method, backbone, teacher, …)."""
    return [c for c in b.cell.columns if c not in b.datasets]


def row_labels(b: views.Board) -> list[str]:
    """One label per board row: its shown keys (the method with its mark) joined by `` · ``."""
    shown = b.text[row_keys(b)].astype(str)
    return [" · ".join(v for v in row if v and v != views.MISSING) for row in shown.to_numpy()]


def fmt(test: compare.Paired) -> str:
    """``+d.d (p = 0.ppp, Holm 0.ppp)``; ``+d.d (n = k, no test)`` under 5 pairs; – without."""
    if test.n == 0:
        return views.MISSING
    if test.p is None:
        return f"{test.diff:+.1f} (n = {test.n}, no test)"
    return test.text(holm=True)


def comparisons(runs: pd.DataFrame, b: views.Board, baseline: int) -> pd.DataFrame:
    """The board's rows (keys as shown) × datasets: each cell compared with the baseline row's
    cell of the same dataset over their matching seeds (``runs``: the per-seed frame the board
    was built from), Holm-adjusted across every test of the view; the baseline row says so."""
    pairs = {
        (i, d): (b.cell.at[i, d], b.cell.at[baseline, d])
        for i in range(len(b.cell))
        for d in b.datasets
        if i != baseline
        and isinstance(b.cell.at[i, d], str)
        and isinstance(b.cell.at[baseline, d], str)
    }
    tests = compare.compare(runs, pairs)
    out = b.text[row_keys(b)].copy()
    for d in b.datasets:
        out[d] = [
            BASELINE if i == baseline else fmt(tests[i, d]) if (i, d) in tests else views.MISSING
            for i in range(len(b.cell))
        ]
    return out


def panel(runs: pd.DataFrame, b: views.Board, family: str) -> None:
    """The view under a family's table: pick a baseline row, see the comparisons."""
    import streamlit as st

    with st.expander("Compare with a baseline row (Δ, paired Wilcoxon, Holm)"):
        labels = row_labels(b)
        pick = st.selectbox(
            "baseline row",
            range(len(labels)),
            index=None,
            format_func=labels.__getitem__,
            key=f"baseline_{family}",
            placeholder="pick a row of the table",
        )
        if pick is None:
            return
        st.dataframe(comparisons(runs, b, pick), hide_index=True, key=f"compare_{family}")
        st.caption(
            "Per dataset: Δ = mean of the per-seed differences row − baseline over the seeds "
            "both cells have (the table's units; + = higher, which for an error is worse), "
            "the two-sided Wilcoxon signed-rank p over those seeds (p = 1 when every pair is "
            "equal; no test under 5 pairs) and the Holm-adjusted p across all the tests shown. "
            "Seeds pair only between cells of the same split protocol (seed r = the same "
            "split or fold); a row of another protocol shows –."
        )
