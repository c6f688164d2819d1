"""Streamlit panels of the leaderboard beyond the tables: statistics and grid progress.

The numbers come from :mod:`leaderboard.stats` (Friedman, Nemenyi, Wilcoxon) and from the
runner's own status (:func:`benchmark.runner.launch.status_rows`, what ``kdbench status``
prints); these functions only lay them out.
"""

from __future__ import annotations

from collections.abc import Hashable
from pathlib import Path

import pandas as pd
import streamlit as st

from benchmark.results import kinds
from benchmark.tracking import runs_root
from leaderboard import stats, store
from leaderboard.views import scale

SWEEPS = Path(__file__).resolve().parents[1] / "sweeps"
MAX_CD_ROWS = 30  # beyond this the diagram's labels overlap: ask for a filter instead


# The cached functions below are keyed by ``key`` alone (Streamlit does not hash arguments
# whose name starts with "_"): hashing 100k runs on every render cost a few tenths of a second.
KEY_COLS = [
    "dataset",
    "method",
    "backbone",
    "teacher",
    "sweep",
    "protocol",
    kinds.KIND,
    "metric",
    "test_mean",
]


@st.cache_data(ttl=60, show_spinner=False)
def _friedman(key: Hashable, _cells: pd.DataFrame):
    matrix, dropped_rows = stats.score_matrix(_cells.reindex(columns=KEY_COLS))
    posthoc = matrix.shape[1] <= MAX_CD_ROWS
    try:
        return stats.friedman(matrix, posthoc=posthoc), dropped_rows
    except stats.NotEnoughData as exc:
        raise stats.NotEnoughData(f"{exc} {left_out(dropped_rows)}".strip()) from None


def left_out(dropped_rows: list[str]) -> str:
    """The sentence naming the rows left out of the Friedman block (empty when none)."""
    if not dropped_rows:
        return ""
    return (
        f"Left out: {len(dropped_rows)} row(s) missing a dataset (the test needs every row on "
        f"every dataset): {'; '.join(dropped_rows)}."
    )


@st.cache_data(ttl=60, show_spinner=False)
def _wilcoxon(key: Hashable, _runs: pd.DataFrame, _cells: pd.DataFrame) -> pd.DataFrame:
    teachers = (_runs["method"] == "vanilla") & (_runs["teacher"] == "")
    return stats.wilcoxon_vs_teacher(_runs[_runs["cell"].isin(_cells["cell"]) | teachers])


def statistics(runs: pd.DataFrame, cells: pd.DataFrame, key: Hashable) -> None:
    """Friedman + critical-difference diagram over the shown cells' honest rows (or, when all
    are marked, over those: :func:`stats.friedman_cells`), and the paired Wilcoxon tests of
    the shown distilled rows against their vanilla teachers of the same protocol and kind.
    ``key`` must change whenever ``runs`` or ``cells`` do (the app passes the store, its read
    time and the filters)."""
    st.header("Statistics")
    st.caption(stats.UNIT_SENTENCE)
    st.subheader("Friedman test and critical-difference diagram")
    ranked, used = stats.friedman_cells(cells)
    st.caption(used)
    try:
        res, dropped_rows = _friedman(key, ranked)
    except (stats.NotEnoughData, ValueError) as exc:
        st.info(str(exc))
    else:
        verdict = "the rows differ" if res.pvalue < 0.05 else "no difference detected"
        st.markdown(
            f"Friedman χ² = **{res.statistic:.2f}**, p = **{res.pvalue:.3g}** "
            f"({res.n_rows} rows × {res.n_datasets} datasets; at α = 0.05: {verdict})."
        )
        if dropped_rows:
            st.caption(left_out(dropped_rows))
        if res.n_rows <= MAX_CD_ROWS:
            import matplotlib.pyplot as plt

            fig = stats.cd_diagram(res)
            st.pyplot(fig, clear_figure=True)
            plt.close(fig)
        else:
            st.info(
                f"{res.n_rows} rows: the critical-difference diagram is drawn for at most "
                f"{MAX_CD_ROWS}; filter methods or backbones to see it."
            )
        ranks = res.ranks.rename("avg rank").rename_axis("row").reset_index()
        st.dataframe(ranks, hide_index=True, key="friedman_ranks")

    st.subheader("Paired Wilcoxon: each distilled row vs. its vanilla teacher")
    w = _wilcoxon(key, runs, cells)
    if w.empty:
        st.info(
            "No distilled row among the shown cells has its vanilla teacher (the `vanilla` "
            "row of the teacher backbone, same dataset, sweep, protocol and protocol kind) "
            "in the store."
        )
        return
    s = cells.drop_duplicates("dataset").set_index("dataset")["metric"].map(scale)
    shown = w.assign(
        **{c: w[c] * w["dataset"].map(s) for c in ("student", "vanilla teacher", "mean diff")},
        method=kinds.marked(w["method"], w["protocol kind"]),
    )
    st.dataframe(
        shown,
        hide_index=True,
        key="wilcoxon",
        column_config={
            c: st.column_config.NumberColumn(format="%.2f")
            for c in ("student", "vanilla teacher", "mean diff")
        }
        | {"p": st.column_config.NumberColumn(format="%.4f")},
    )
    fewest = int(w["pairs"].min())
    st.caption(
        "Two-sided Wilcoxon signed-rank over the seeds both runs finished (pairs): exact, or "
        "the normal approximation when differences are zero or tie; mean diff = "
        "student − teacher in the shown units, + = better. *** p<0.001, ** p<0.01, * p<0.05, "
        "n.s. otherwise; no correction for the number of tests. With n pairs the exact test "
        f"cannot go below p = 2/2ⁿ (n = {fewest}: {stats.min_attainable_p(fewest):.3g}). "
        "Each student is paired with the vanilla teacher of its own protocol and protocol kind; "
        f"a row of a marked kind ({kinds.MARKS[kinds.PAPER]}: a paper protocol, e.g. test chose "
        f"the epoch; {kinds.MARKS[kinds.SHARED_TUNING]}: hyper-parameters shared by seeds whose "
        "partitions differ) compares two marked results and is not an honest estimate."
    )


@st.cache_data(ttl=10, show_spinner="Reading the grid's Optuna storage…")
def _status(path: str, storage: str) -> list[dict]:
    from benchmark.runner.launch import status_rows

    return status_rows(path, storage)


def progress(uri: str) -> None:
    """Cells done / running / failed / pending of a sweep, with the failures' errors: the
    runner's ``status_rows`` for the sweep file and Optuna storage chosen in the sidebar."""
    from benchmark.errors import KdbenchError
    from benchmark.runner.launch import STATES, status_counts
    from benchmark.runner.sweep import load_sweep

    st.header("Grid progress")
    root = runs_root(uri)
    found = store.sweep_files(root, SWEEPS)
    st.sidebar.header("Grid progress")
    path = st.sidebar.text_input(
        "sweep file",
        value=str(found[0]) if found else "",
        key="sweep_file",
        help="the YAML given to `kdbench run`",
    )
    storage = st.sidebar.text_input(
        "Optuna storage",
        value="",
        key="storage",
        type="password",
        placeholder=f"journal:{root}/<sweep>/optuna.journal",
        help="as `kdbench run --storage`; empty = the journal beside the tracking store",
    )
    if not path.strip():
        st.info(
            f"No sweep file under {SWEEPS} matches a grid started on this store (a "
            f"`<sweep>/optuna.journal` in {root}); enter one in the sidebar."
        )
        return
    try:
        sweep = load_sweep(path.strip())
        if not storage.strip():
            journal = root / sweep.name / "optuna.journal"
            if not journal.exists():
                st.info(
                    f"Sweep {sweep.name} has not started on this store: no Optuna journal at "
                    f"{journal}. Start it with `kdbench run {path.strip()}`, or give its "
                    "storage in the sidebar."
                )
                return
            storage = f"journal:{journal}"
        rows = _status(path.strip(), storage.strip())
    except KdbenchError as exc:
        st.error(str(exc))
        return
    counts = status_counts(rows)
    from benchmark.urls import mask

    st.caption(
        f"Sweep `{sweep.name}` ({path.strip()}), storage `{mask(storage.strip())}`; as "
        f"`kdbench status {path.strip()}` reports it."
    )
    for col, state in zip(st.columns(len(STATES)), STATES):
        col.metric(state, f"{counts[state]} / {len(rows)}")
    st.progress(counts["done"] / max(1, len(rows)))
    table = pd.DataFrame(rows)
    st.dataframe(table.drop(columns="errors"), hide_index=True, key="progress")
    failures = [{"cell": r["cell"], "error": e} for r in rows for e in r["errors"]]
    if failures:
        st.subheader("Failures")
        st.dataframe(pd.DataFrame(failures), hide_index=True, key="failures")
