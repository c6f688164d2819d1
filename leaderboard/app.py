"""The kdbench leaderboard (Streamlit).

``streamlit run leaderboard/app.py -- --tracking-uri URI`` (or ``kdbench leaderboard``). The
store is ``--tracking-uri``, else ``$KDBENCH_TRACKING_URI``, else the runner's default
(``$MLFLOW_TRACKING_URI`` or ``runs/mlflow.db``). Tables come from the same aggregation as
``kdbench export`` (:mod:`benchmark.results.aggregate`); their layout from :mod:`leaderboard.views`.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:  # `streamlit run` puts only this folder on the path
    sys.path.insert(0, str(REPO))

import pandas as pd  # noqa: E402
import streamlit as st  # noqa: E402

from benchmark.results import kinds  # noqa: E402
from benchmark.results.aggregate import aggregate, final_runs  # noqa: E402
from benchmark.urls import mask  # noqa: E402
from leaderboard import compare_view, panels, plots, sources, store, views  # noqa: E402

FAMILIES = ["node", "graph", "molecular", "other"]


def resolve_uri() -> str:
    parser = argparse.ArgumentParser(add_help=False)
    parser.add_argument("--tracking-uri")
    args, _ = parser.parse_known_args(sys.argv[1:])
    if args.tracking_uri:
        return args.tracking_uri
    if os.environ.get("KDBENCH_TRACKING_URI"):
        return os.environ["KDBENCH_TRACKING_URI"]
    from benchmark.tracking import tracking_uri

    return tracking_uri()


def read_store(uri: str) -> tuple[pd.DataFrame, str | None]:
    """The store's final runs, or none and the sentence saying why it cannot be read."""
    try:
        store.check_server(uri)
        return final_runs(uri), None
    except store.StoreError as exc:
        return pd.DataFrame(), str(exc)
    except Exception as exc:  # any failure of the store is a message, not a traceback
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        return (
            pd.DataFrame(),
            f"Cannot read the MLflow store at {mask(uri)} ({first}). Check --tracking-uri.",
        )


Loaded = tuple[pd.DataFrame, pd.DataFrame, dict[str, int], list[str], int, str | None, float]


def record_rows(runs: pd.DataFrame) -> pd.DataFrame:
    """The rows of ``runs`` that come from the record."""
    return runs[runs[sources.SOURCE] == sources.RECORD] if len(runs) else runs


# cache_resource: one shared copy, no pickling per rerun (100k runs); read-only by convention
@st.cache_resource(ttl=300, show_spinner="Reading the final runs…")  # Refresh clears it
def load(uri: str, record: str) -> Loaded:
    """The store's final runs (cleaned) beside the record's (:mod:`leaderboard.sources`;
    ``record``: its folder, "" for none, part of the cache key), the per-cell aggregate with
    families, expected seeds per cell, required columns missing from the store, the number of
    store runs left out, why the store cannot be read (``None``: it can), and when they were
    read (a cheap cache key for what is derived from them)."""
    own, error = read_store(uri)
    own, missing, dropped = views.clean_runs(own)
    record, _, _ = views.clean_runs(sources.record_runs(record), views.RECORD_REQUIRED)
    runs = sources.combine(own, record)
    cells = views.with_family(aggregate(runs)) if not runs.empty else pd.DataFrame()
    expected = sources.expected_seeds(record_rows(runs))
    if error is None and not own.empty:
        expected.update(store.expected_seeds(uri))
    return runs, cells, expected, missing, dropped, error, time.time()


@st.cache_data(ttl=300)
def params_of(uri: str, run_ids: tuple[str, ...]) -> pd.DataFrame:
    return store.run_params(uri, list(run_ids))


def sidebar_filters(cells: pd.DataFrame) -> dict[str, list[str]]:
    st.sidebar.header("Filters")
    st.sidebar.caption("Empty = all.")
    chosen = {}
    for col in views.FILTERS:
        options = views.filter_options(cells, col)
        chosen[col] = st.sidebar.multiselect(
            col, options, key=f"f_{col.replace(' ', '_')}", format_func=lambda v: v or "(none)"
        )
    return chosen


Filters = tuple[tuple[str, tuple[str, ...]], ...]


@st.cache_data(ttl=300, show_spinner=False)
def family_board(uri: str, loaded_at: float, family: str, filters: Filters) -> views.Board:
    """The table of one family's cells that pass ``filters``, its deltas against the vanilla
    rows of the whole store (a filter may hide them). Keyed by these small arguments and
    computed from :func:`load`'s shared copy: hashing the cells and the expected-seeds dict as
    arguments cost more than a second per render with 10k cells."""
    _, cells, expected, *_ = load(uri, sources.record_key())
    everything = cells[cells["family"] == family].drop(columns="test_per_seed")
    shown = views.filter_cells(everything, dict(filters))
    return views.board(shown, expected, reference=everything)


MAX_PLOT_CELLS = 400  # above, the trade-off plots show one dataset at a time


def family_tab(family: str, cells: pd.DataFrame, b: views.Board) -> None:
    """One family's table, downloads and trade-off plots (``cells``: the shown ones). A click
    on a row (or a cell) of the table opens its cell in the details below."""
    event = st.dataframe(
        views.styled(b),
        hide_index=True,
        width="stretch",
        key=f"table_{family}",
        on_select="rerun",
        selection_mode=["single-row", "single-cell"],
    )
    picked = views.picked_cell(b, event.selection.rows, event.selection.cells)
    if picked and st.session_state.get(f"picked_{family}") != picked:  # a new click only
        st.session_state["cell"] = picked  # before the details' selectbox exists in this run
    st.session_state[f"picked_{family}"] = picked
    st.caption(
        f"Test mean ± std over the final seeds (accuracy and ROC-AUC ×100), n = finished seeds "
        f"(n=k/m and {views.INCOMPLETE} = fewer than the sweep's m final seeds); "
        f"{views.MISSING} = no result. Bold = best per dataset, shaded = second (underlined in "
        "the LaTeX export), complete cells before incomplete ones. Avg rank over the datasets "
        "the row has (1 = best), with how many of the table's it has; rows with more datasets "
        "come first. Δ = mean difference to the vanilla row of the same backbone (or the MLP) "
        "over the row's datasets, from the whole store whatever the filters, + = better; "
        "#params and latency = medians. Click a row or cell for its details. "
        f"{views.REIMPLEMENTED} = re-implemented from a partial description of the method (no "
        f"official code): see its docstring and reproduction doc. {views.EXTERNAL} = learns from "
        "external data (a pre-training corpus), as OGB's external-data flag. "
        + kinds.legend()
        + "".join(f" {n}" for n in b.notes)
    )
    left, right = st.columns(2)  # files built on click only; a download does not rerun
    left.download_button(
        "CSV",
        lambda: b.text.to_csv(index=False),
        f"kdbench-{family}.csv",
        "text/csv",
        key=f"csv_{family}",
        on_click="ignore",
    )
    right.download_button(
        "LaTeX",
        lambda: views.latex(b),
        f"kdbench-{family}.tex",
        "text/x-tex",
        key=f"tex_{family}",
        on_click="ignore",
    )
    plotted = cells
    if len(cells) > MAX_PLOT_CELLS:
        ds = st.selectbox("trade-off plots: dataset", b.datasets, key=f"plot_ds_{family}")
        plotted = cells[cells["dataset"] == ds]
    left, right = st.columns(2)
    left.plotly_chart(
        plots.tradeoff(plotted, "inference_ms", "inference latency (ms)"), key=f"lat_{family}"
    )
    right.plotly_chart(plots.tradeoff(plotted, "num_params", "#params"), key=f"par_{family}")


def drill_down(uri: str, runs: pd.DataFrame, cells: pd.DataFrame) -> None:
    st.header("Cell details")
    marks = dict(zip(cells["cell"], cells[kinds.KIND].map(kinds.mark)))
    cell = st.selectbox(
        "cell",
        sorted(cells["cell"]),
        key="cell",
        format_func=lambda c: f"{c} {marks.get(c, '')}".rstrip(),
    )
    row = cells[cells["cell"] == cell].iloc[0]
    warning = views.cell_warning(runs, row)
    if warning:
        st.warning(f"{kinds.mark(row[kinds.KIND])} {warning}")
    if row.get("stale") in ("stale", "unknown"):
        st.warning(f"{views.STALE} {row['stale']} against today's code: {row['stale_why']}")
    st.caption(
        f"Protocol `{row['protocol']}` · kind {row[kinds.KIND]} · selection "
        f"{row['selection'] or 'not recorded'}"
    )
    s = views.scale(row["metric"])
    a, b, c = st.columns(3)
    a.metric(
        f"test ({row['metric']})", views.fmt_mean_std(row["test_mean"] * s, row["test_std"] * s)
    )
    b.metric("final seeds", int(row["seeds"]))
    c.metric("trials / budget", f"{row['trials']} / {row['budget']}")
    seeds = views.seed_table(runs, cell)
    from_record = row["source"] == sources.RECORD
    st.subheader("Per seed")
    links = [views.run_link(uri, e, r) for e, r in zip(seeds["experiment"], seeds["run id"])]
    if from_record:
        links = [None] * len(seeds)
    if all(links):
        seeds = seeds.assign(**{"MLflow run": links})
    st.dataframe(
        seeds.drop(columns="experiment"),
        hide_index=True,
        key="seeds",
        column_config={
            "MLflow run": st.column_config.LinkColumn(display_text="open"),
            "val": st.column_config.NumberColumn(format="%.2f"),
            "test": st.column_config.NumberColumn(format="%.2f"),
        },
    )
    st.caption(
        f"val and test in the headline's units ({row['metric']}{' ×100' if s != 1 else ''})."
    )
    if from_record:
        st.caption(
            f"From the record (docs/results/record/{row['sweep']}.jsonl): provenance below "
            "names the commit and command each seed was made with."
        )
    elif not all(links):
        st.caption("MLflow runs: this store has no web UI of its own; serve it with")
        st.code(views.ui_command(uri), language="bash")
        st.caption(f"then open experiment {seeds['experiment'].iloc[0]} and the run ids above.")
    st.plotly_chart(plots.seed_spread(seeds, row["metric"], cell), key="seed_plot")
    st.subheader("Hyper-parameters of the final runs")
    ids = list(seeds["run id"])
    kept = sources.record_params(runs, ids) if from_record else params_of(uri, tuple(ids))
    params = views.seed_params(kept, seeds)
    st.dataframe(params, hide_index=True, key="params")
    st.caption(kinds.selection_note(row["selection"]))
    st.subheader("Provenance")
    st.dataframe(views.provenance(runs, cell), hide_index=True, key="provenance")
    with st.expander("Optuna optimisation history"):
        studies = None if from_record else store.load_studies(uri, row["sweep"], cell)
        if from_record:
            st.info("A record cell: the record keeps its chosen parameters, not its studies.")
        elif studies is None:
            st.info(f"The Optuna journal of sweep {row['sweep']} is not on this machine.")
        elif not studies:
            st.info("Untuned: this cell ran its defaults; no tuning study.")
        else:
            from optuna.visualization import plot_optimization_history

            if len(studies) > 1:
                st.caption(
                    f"{len(studies)} tuning studies, one per final seed (nested "
                    "selection); each line is one seed's study."
                )
            st.plotly_chart(
                plot_optimization_history(studies if len(studies) > 1 else studies[0]),
                key="history",
            )


def leaderboard(uri: str) -> None:
    """The tables, statistics and drill-down of the store's final runs (or why there are none)."""
    runs, cells, _, missing, dropped, error, loaded_at = load(uri, sources.record_key())
    if error:
        load.clear()  # not cached: the next rerun tries the store again (server back up)
        (st.warning if not cells.empty else st.error)(error)
        if cells.empty:
            return
    if missing:
        st.error(
            f"The final runs in {mask(uri)} lack the tags or metrics "
            f"{', '.join(missing)}, so no table can be built from them. Were they written by "
            "`kdbench run`?"
        )
        if cells.empty:
            return
    if cells.empty:
        st.info(
            f"No finished final runs in {mask(uri)} yet. Run a sweep (e.g. `kdbench run "
            "sweeps/smoke.yaml`), then press Refresh."
        )
        return
    if (cells["source"] == sources.RECORD).any():
        st.caption(
            "Rows of source `record` are the committed record (docs/results/record/: each "
            "cell with the commit, machine and command it was made with); `your runs` are "
            f"those of {mask(uri)}. Filter by source in the sidebar."
        )
    if dropped:
        st.warning(f"{dropped} final runs lack a required tag or metric and are left out.")
    chosen = sidebar_filters(cells)
    shown = views.filter_cells(cells, chosen)
    if shown.empty:
        st.info("No cell matches the filters; clear some in the sidebar.")
        return
    filters = tuple((col, tuple(values)) for col, values in chosen.items())
    present = [f for f in FAMILIES if f in set(shown["family"])]
    for family, tab in zip(present, st.tabs(present)):
        with tab:
            board = family_board(uri, loaded_at, family, filters)
            family_tab(family, shown[shown["family"] == family], board)
            compare_view.panel(runs, board, family)
    panels.statistics(runs, shown, (uri, loaded_at, filters))
    drill_down(uri, runs, shown)


def main() -> None:
    st.set_page_config(page_title="kdbench leaderboard", layout="wide")
    st.title("kdbench leaderboard")
    uri = resolve_uri()
    top, button = st.columns([5, 1])
    top.caption(f"Tracking store: `{mask(uri)}`")
    if button.button("Refresh", key="refresh"):
        st.cache_resource.clear()  # the runs
        st.cache_data.clear()  # params, tables, statistics and grid status
    leaderboard(uri)
    panels.progress(uri)  # also while no cell has finished yet


main()
