"""The leaderboard's tables as plain functions of the per-cell aggregate (no Streamlit).

:func:`board` turns the rows of :func:`benchmark.results.aggregate.aggregate` (one per
cell) into one table per task family: rows = method (+ backbone, teacher), columns =
datasets, each cell the mean ± unbiased std of test over the final seeds (accuracy / ROC-AUC
×100), plus the average rank, the deltas vs. the ``vanilla`` row of the same backbone and vs.
the ``vanilla`` MLP, and the median #params and inference latency over the row's datasets.
Numbers and shown text are kept side by side so the app sorts on the number and shows the
text.

Rows of a marked protocol kind (``paper``, ``shared-tuning``; :mod:`benchmark.results.kinds`)
are never ranked with honest rows: best/second marks and average ranks are computed among
honest rows only, marked rows sit in their own block under them with the mark in their label
(``lad_gnn [paper]``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import cache

import pandas as pd

from benchmark.results import kinds

ROW_KEYS = ["method", "backbone", "teacher"]
FILTERS = [
    "dataset",
    "backbone",
    "method family",
    "method",
    "teacher",
    "protocol kind",
    "protocol",
    "sweep",
]
REQUIRED = [
    "cell",
    "method",
    "dataset",
    "backbone",
    "seed",
    "m.test",
    "m.val",
    "m.num_params",
    "m.inference_ms",
    "m.train_seconds",
]
PERCENT = {"accuracy", "rocauc"}
INCOMPLETE = "†"  # fewer finished seeds than the sweep's final seeds
REIMPLEMENTED = "‡"  # a method rebuilt from a partial description (Method.fidelity)
EXTERNAL = "§"  # a method that learns from data beyond the dataset (Method.external_data)
NO_RANK = "–"  # the rank shown for a marked row: it is never ranked with honest rows
RANK, D_VANILLA, D_MLP = "avg rank", "Δ vs vanilla", "Δ vs MLP"
PARAMS, LATENCY = "#params", "latency ms"
PROVENANCE = [
    "git_sha",
    "config_hash",
    "hardware",
    "device",
    "split",
    "protocol",
    "protocol_kind",
    "selection",
    "tuning_seeds",
    "trials",
    "budget",
    "sweep",
]


def scale(metric: str) -> float:
    """Display factor: accuracy and ROC-AUC in percent, errors (rmse, mae) as they are."""
    return 100.0 if metric in PERCENT else 1.0


def higher_is_better(metric: str) -> bool:
    from benchmark.metrics import HIGHER_IS_BETTER

    return HIGHER_IS_BETTER.get(metric, True)


@cache
def family_of(dataset: str) -> str:
    """The dataset card's leaderboard family (node | graph | molecular); ``other`` if unknown."""
    from benchmark.data.card import get_card

    try:
        return get_card(dataset).family
    except Exception:  # an unknown or renamed dataset still gets a tab
        return "other"


def clean_runs(runs: pd.DataFrame) -> tuple[pd.DataFrame, list[str], int]:
    """Keep the final runs that carry every tag and metric the table needs, with ``protocol``,
    ``protocol_kind`` and ``selection`` set on every run
    (:func:`benchmark.results.kinds.with_kinds`).

    Returns ``(kept, missing_columns, dropped_rows)``: ``missing_columns`` are required columns
    absent from the whole store (then nothing is kept), ``dropped_rows`` the runs with an empty one.
    """
    if runs.empty:
        return runs, [], 0
    missing = [c for c in REQUIRED if c not in runs.columns]
    if missing:
        return runs.iloc[0:0], missing, 0
    ok = runs[REQUIRED].notna().all(axis=1) & (runs[["cell", "method", "dataset"]] != "").all(1)
    for col in ("teacher", "protocol", "sweep"):
        if col not in runs.columns:
            runs = runs.assign(**{col: ""})
    kept = runs[ok].assign(teacher=runs["teacher"].fillna(""), sweep=runs["sweep"].fillna(""))
    return kinds.with_kinds(kept), [], int((~ok).sum())


@cache
def method_family(method: str) -> str:
    """The registered method's ``family`` (vanilla, kd-baseline, distillation, mlp-student,
    pretraining, …); ``other`` for a method this checkout does not know."""
    from benchmark.registry import METHODS

    try:
        return str(getattr(METHODS.get(method), "family", "other"))
    except Exception:  # runs of a method removed or renamed since
        return "other"


@cache
def method_label(method: str) -> str:
    """The method's name as the table shows it: marked :data:`REIMPLEMENTED` when the
    registered method is a re-implementation (``Method.fidelity``) and :data:`EXTERNAL` when it
    learns from external data (``Method.external_data``)."""
    from benchmark.registry import METHODS

    try:
        cls = METHODS.get(method)
    except Exception:  # runs of a method removed or renamed since
        return method
    marks = [REIMPLEMENTED] if getattr(cls, "fidelity", "faithful") == "reimplementation" else []
    if getattr(cls, "external_data", None):
        marks.append(EXTERNAL)
    return " ".join([method, *marks])


def with_family(cells: pd.DataFrame) -> pd.DataFrame:
    """Add ``family`` (the dataset's task family: the table tab), ``method family`` and
    ``protocol kind`` (the cells' ``protocol_kind``: honest / paper / shared-tuning)."""
    return cells.assign(
        family=[family_of(d) for d in cells["dataset"]],
        **{
            "method family": [method_family(m) for m in cells["method"]],
            "protocol kind": kinds.kinds_of(cells),
        },
    )


def filter_options(cells: pd.DataFrame, col: str) -> list[str]:
    """The values a sidebar filter offers: those of the cells, and for ``protocol kind`` every
    kind (honest, paper, shared-tuning) in that order."""
    present = sorted(cells[col].astype(str).unique())
    if col != "protocol kind":
        return present
    return list(kinds.KINDS) + [k for k in present if k not in kinds.KINDS]


def run_link(tracking_uri: str, experiment_id: str, run_id: str) -> str | None:
    """The MLflow UI address of a run on an HTTP(S) tracking server; ``None`` for a local
    store (SQLite, files), which has no UI until ``mlflow ui`` serves it (:func:`ui_command`)."""
    if not tracking_uri.startswith(("http://", "https://")):
        return None
    return f"{tracking_uri.rstrip('/')}/#/experiments/{experiment_id}/runs/{run_id}"


def ui_command(tracking_uri: str) -> str:
    """The command that serves a local store in the MLflow UI."""
    return f"mlflow ui --backend-store-uri {tracking_uri}"


def filter_cells(cells: pd.DataFrame, chosen: Mapping[str, Sequence[str]]) -> pd.DataFrame:
    """Rows whose value in each filtered column is among the chosen ones (empty = all)."""
    keep = pd.Series(True, index=cells.index)
    for col, values in chosen.items():
        if values:
            keep &= cells[col].isin(list(values))
    return cells[keep]


def fill_expected(cells: pd.DataFrame, expected: Mapping[str, int]) -> pd.Series:
    """Final seeds each cell should have: its sweep's ``budget.final_seeds`` when known,
    else the most seeds any cell of the same sweep has."""
    fallback = cells.groupby("sweep")["seeds"].transform("max")
    return pd.Series(
        [expected.get(c, f) for c, f in zip(cells["cell"], fallback)], index=cells.index, dtype=int
    )


@dataclass
class Board:
    """One family's table: ``numbers`` (sortable values) and ``text`` (what is shown) share
    index and columns; ``best``/``second`` mark the dataset columns' top two honest rows;
    ``cell`` holds each (row, dataset)'s cell key; ``kind`` each row's protocol kind;
    ``notes`` one sentence per mark and protocol of the marked rows (what each means)."""

    numbers: pd.DataFrame
    text: pd.DataFrame
    best: pd.DataFrame
    second: pd.DataFrame
    cell: pd.DataFrame
    datasets: list[str]
    kind: pd.Series
    notes: list[str]


def fmt_mean_std(mean: float, std: float, digits: int = 2) -> str:
    return f"{mean:.{digits}f} ± " + ("n/a" if pd.isna(std) else f"{std:.{digits}f}")


def row_keys(cells: pd.DataFrame) -> list[str]:
    """``ROW_KEYS`` plus ``sweep`` / ``protocol`` / ``protocol_kind`` when the cells span
    several, so that no two cells are silently merged and a reference row (the ``vanilla`` of
    a Δ) always has the row's own sweep, protocol and kind. ``protocol`` here is
    :func:`benchmark.results.kinds.row_protocol` (empty for each dataset card's own)."""
    return ROW_KEYS + [c for c in ("sweep", "protocol", kinds.KIND) if cells[c].nunique() > 1]


def honest_ranks(signed: pd.DataFrame, kind: pd.Series) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Per dataset column of ``signed`` (rows × datasets, higher = better): the rank of every
    row among the rows of its own kind (1 = best, ties averaged; honest rows: their rank) and
    the dense rank among honest rows only (NaN for marked rows: they get no best/second)."""
    within = signed.groupby(kind.to_numpy()).rank(ascending=False, method="average")
    honest = (kind == kinds.HONEST).to_numpy()
    dense = signed[honest].rank(ascending=False, method="dense").reindex(signed.index)
    return within, dense


def board(cells: pd.DataFrame, expected: Mapping[str, int] | None = None) -> Board:
    """The table of one family's cells (see the module docstring).

    Rows are :func:`row_keys` (the ``protocol`` column shows a protocol other than the
    datasets' card defaults, empty for those). Deltas are means over the datasets both rows
    have, in the shown units, signed so that + is better; ranks are per dataset (1 = best) among
    honest rows, averaged over the datasets the row has. Marked rows (``paper``,
    ``shared-tuning``) get no rank (``NO_RANK``) and no best/second mark, and follow the honest
    rows, one block per kind, each ordered by its rank among its own kind; their method
    carries the mark.
    """
    notes = kinds.notes(cells)
    cells = cells.assign(protocol=kinds.row_protocol(cells), **{kinds.KIND: kinds.kinds_of(cells)})
    keys = row_keys(cells)
    c = cells.assign(
        shown=cells["test_mean"] * cells["metric"].map(scale),
        shown_std=cells["test_std"] * cells["metric"].map(scale),
        expected=fill_expected(cells, expected or {}),
    )
    datasets = sorted(c["dataset"].unique())
    grid = c.set_index([*keys, "dataset"])
    if not grid.index.is_unique:
        raise ValueError("two cells share a table position; add sweep/protocol to the rows")

    def pivot(col: str) -> pd.DataFrame:
        return grid[col].unstack("dataset").reindex(columns=datasets)

    parts = ("shown", "shown_std", "seeds", "expected", "cell")
    mean, std, seeds, want, cell = (pivot(x) for x in parts)
    kind = c.groupby(keys)[kinds.KIND].first().reindex(mean.index)
    sign = pd.Series(
        {
            d: 1.0 if higher_is_better(c.loc[c["dataset"] == d, "metric"].iloc[0]) else -1.0
            for d in datasets
        }
    )
    within, dense = honest_ranks(mean * sign, kind)

    def delta(backbone_of) -> pd.Series:
        """Mean over shared datasets of (row − its reference row) × sign; NaN without one."""
        frame = mean.index.to_frame(index=False)
        ref = frame.assign(method="vanilla", teacher="", backbone=backbone_of(frame))
        ref_mean = mean.reindex(pd.MultiIndex.from_frame(ref[keys]))
        diff = (mean.to_numpy() - ref_mean.to_numpy()) * sign.to_numpy()
        return pd.DataFrame(diff, index=mean.index).mean(axis=1)

    numbers = mean.copy()
    numbers[RANK] = within.mean(axis=1).where(kind == kinds.HONEST)
    numbers[D_VANILLA] = delta(lambda f: f["backbone"])
    numbers[D_MLP] = delta(lambda f: "MLP")
    numbers[PARAMS] = grid["num_params"].groupby(level=keys).median()
    numbers[LATENCY] = grid["inference_ms"].groupby(level=keys).median()
    order = (
        pd.DataFrame({"block": kinds.block(kind), "rank": within.mean(axis=1)})
        .sort_values(["block", "rank"], kind="stable")
        .index
    )
    numbers = numbers.reindex(order)

    text = pd.DataFrame("", index=numbers.index, columns=numbers.columns, dtype=object)
    m, sd = mean.reindex(order), std.reindex(order)
    mark = (seeds.reindex(order) < want.reindex(order)).replace({True: INCOMPLETE, False: ""})
    shown = (
        m.map(lambda v: f"{v:.2f}", na_action="ignore")
        + " ± "
        + sd.map(lambda v: f"{v:.2f}", na_action="ignore").fillna("n/a")
        + mark
    )
    text[datasets] = shown.where(m.notna(), "")
    text[RANK] = numbers[RANK].map(lambda v: NO_RANK if pd.isna(v) else f"{v:.2f}")
    for col in (D_VANILLA, D_MLP):
        text[col] = numbers[col].map(lambda v: "" if pd.isna(v) else f"{v:+.2f}")
    text[PARAMS] = numbers[PARAMS].map(lambda v: f"{v:,.0f}")
    text[LATENCY] = numbers[LATENCY].map(lambda v: f"{v:.2f}")

    best = (dense.reindex(order) == 1) & m.notna()
    second = (dense.reindex(order) == 2) & m.notna()
    numbers.columns.name = text.columns.name = None
    flat = [f.reset_index() for f in (numbers, text)]
    row_kind = kind.reindex(order).reset_index(drop=True)
    # the kind's mark is part of the value too: the grid's own CSV export and sorting keep it
    flat[0]["method"] = kinds.marked(flat[0]["method"], row_kind)
    flat[1]["method"] = kinds.marked(flat[1]["method"].map(method_label), row_kind)
    return Board(
        numbers=flat[0],
        text=flat[1],
        best=best.reset_index(drop=True),
        second=second.reset_index(drop=True),
        cell=cell.reindex(order).reset_index(),
        datasets=datasets,
        kind=row_kind,
        notes=notes,
    )


def styled(b: Board):
    """A pandas Styler: the numbers underneath (sorting), the text shown, best bold and shaded,
    second underlined and lightly shaded (st.dataframe renders colours and weight only), marked
    rows' labels greyed."""
    sty = b.numbers.style
    # One display function per cell (Styler.format(subset=...) per cell is ~2 ms each); keys are
    # the (row, column) positions Styler renders with.
    for ci, col in enumerate(b.text.columns):
        for ri, s in enumerate(b.text[col]):
            sty._display_funcs[(ri, ci)] = lambda _v, s=s: s
    css = pd.DataFrame("", index=b.numbers.index, columns=b.numbers.columns)
    for d in b.datasets:
        css.loc[b.best[d].to_numpy(), d] = "font-weight: bold; background-color: #d9f2d9"
        css.loc[b.second[d].to_numpy(), d] = "text-decoration: underline; background-color: #f0f9f0"
    css.loc[kinds.is_marked(b.kind).to_numpy(), "method"] = "color: #8a5a00"
    return sty.apply(lambda _: css, axis=None)


def latex(b: Board) -> str:
    """The shown table as LaTeX: best ``\\textbf``, second ``\\underline``; marked rows keep
    their mark, and a footnote line per mark says what it means."""
    t = b.text.map(kinds.tex)
    for d in b.datasets:
        t[d] = [
            f"\\textbf{{{s}}}" if bo else f"\\underline{{{s}}}" if se else s
            for s, bo, se in zip(t[d], b.best[d], b.second[d])
        ]
    t.columns = [kinds.tex(str(c)) for c in t.columns]
    return t.to_latex(index=False, escape=False) + kinds.tex_notes(b.notes)


def seed_table(runs: pd.DataFrame, cell: str) -> pd.DataFrame:
    """Per final seed of ``cell``: seed, val, test, best epoch, train seconds, latency, run id,
    experiment id."""
    g = runs[runs["cell"] == cell]
    cols = {
        "seed": "seed",
        "m.val": "val",
        "m.test": "test",
        "m.best_epoch": "best epoch",
        "m.train_seconds": "train s",
        "m.inference_ms": "latency ms",
        "run_id": "run id",
        "experiment_id": "experiment",
    }
    g = g[[c for c in cols if c in g.columns]].rename(columns=cols)
    return g.assign(seed=g["seed"].astype(int)).sort_values("seed").reset_index(drop=True)


def provenance(runs: pd.DataFrame, cell: str) -> pd.DataFrame:
    """The provenance tags of ``cell``'s final runs, one row per tag (distinct values joined)."""
    g = runs[runs["cell"] == cell]
    keys = [k for k in PROVENANCE if k in g.columns] + sorted(
        k for k in g.columns if str(k).startswith("version.")
    )
    vals = [", ".join(sorted({str(v) for v in g[k].dropna()})) for k in keys]
    return pd.DataFrame({"tag": keys, "value": vals})


def seed_params(params: pd.DataFrame, seeds: pd.DataFrame) -> pd.DataFrame:
    """The hyper-parameters of each final run of a cell, one row per run with its ``seed``
    first, by seed (nested selection gives each seed its own). ``params``: one row per run,
    index = run id (:func:`leaderboard.store.run_params`); ``seeds``: :func:`seed_table`."""
    seed_of = dict(zip(seeds["run id"], seeds["seed"]))
    out = params.rename_axis("run id").reset_index()
    out.insert(0, "seed", out["run id"].map(seed_of))
    cols = ["seed", *sorted(c for c in out.columns if c not in ("seed", "run id"))]
    return out.sort_values("seed", kind="stable")[cols].reset_index(drop=True)


def cell_warning(runs: pd.DataFrame, row: pd.Series) -> str:
    """The warning of a marked cell (:func:`benchmark.selection.kind_warning` with the tuning
    seeds its runs' ``tuning_seeds`` tags name); empty for an honest cell."""
    from benchmark.selection import kind_warning

    tags = runs.loc[runs["cell"] == row["cell"], "tuning_seeds"] if "tuning_seeds" in runs else []
    return kind_warning(str(row[kinds.KIND]), str(row["protocol"]), kinds.tuning_seeds(tags))
