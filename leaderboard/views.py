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
from dataclasses import dataclass, field
from functools import cache

import numpy as np
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
    "source",
    "stale",
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
#: what a record row needs: its scores (cost figures the older studies did not measure show "–")
RECORD_REQUIRED = REQUIRED[:7]
PERCENT = {"accuracy", "rocauc"}
INCOMPLETE = "†"  # fewer finished seeds than the sweep's final seeds
REIMPLEMENTED = "‡"  # a method rebuilt from a partial description (Method.fidelity)
EXTERNAL = "§"  # a method that learns from data beyond the dataset (Method.external_data)
MISSING = "–"  # shown for a missing cell or value (never "None")
STALE = "◦"  # a record cell not made by today's code (benchmark.runner.staleness)
STALE_NOTE = (
    f"{STALE} a record cell not made by today's code: stale (its training code or the "
    "configuration today's runner would resolve changed since it was made) or unknown (the check "
    "could not be made); its numbers may not reproduce. Reasons in its details and "
    "`kdbench status --record`; re-run it with its sweep file and `kdbench export --record`."
)
NO_RANK = MISSING  # the rank shown for a marked row: it is never ranked with honest rows
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
    "source",
    "date",
    "threads",
    "command",
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


def clean_runs(
    runs: pd.DataFrame, required: Sequence[str] = REQUIRED
) -> tuple[pd.DataFrame, list[str], int]:
    """Keep the final runs that carry every tag and metric the table needs (``required``; the
    record passes :data:`RECORD_REQUIRED`: its older studies did not measure every cost), with
    ``protocol``, ``protocol_kind`` and ``selection`` set on every run
    (:func:`benchmark.results.kinds.with_kinds`).

    Returns ``(kept, missing_columns, dropped_rows)``: ``missing_columns`` are required columns
    absent from the whole store (then nothing is kept), ``dropped_rows`` the runs with an empty one.
    """
    if runs.empty:
        return runs, [], 0
    missing = [c for c in required if c not in runs.columns]
    if missing:
        return runs.iloc[0:0], missing, 0
    ok = runs[list(required)].notna().all(axis=1) & (runs[["cell", "method", "dataset"]] != "").all(
        1
    )
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
    ``notes`` one sentence per mark and protocol of the marked rows (what each means);
    ``lower_better`` the dataset columns whose metric is an error (rmse, mae)."""

    numbers: pd.DataFrame
    text: pd.DataFrame
    best: pd.DataFrame
    second: pd.DataFrame
    cell: pd.DataFrame
    datasets: list[str]
    kind: pd.Series
    notes: list[str]
    lower_better: list[str] = field(default_factory=list)


def fmt_mean_std(mean: float, std: float, digits: int = 2) -> str:
    return f"{mean:.{digits}f} ± " + ("n/a" if pd.isna(std) else f"{std:.{digits}f}")


def fmt_cell(mean: float, std: float, seeds: float, expected: float) -> str:
    """A table cell: ``mean ± std (n=seeds)``, ``(n=seeds/expected)†`` when fewer seeds than
    expected finished, :data:`MISSING` without a result."""
    if pd.isna(mean):
        return MISSING
    if seeds >= expected:
        return f"{fmt_mean_std(mean, std)} (n={seeds:.0f})"
    return f"{fmt_mean_std(mean, std)} (n={seeds:.0f}/{expected:.0f}){INCOMPLETE}"


def _fmt(values: pd.Series, spec: str) -> pd.Series:
    """``values`` formatted with ``spec``, :data:`MISSING` where NaN (object strings)."""
    return values.map(lambda v: MISSING if pd.isna(v) else format(v, spec)).astype(object)


def row_keys(cells: pd.DataFrame) -> list[str]:
    """``ROW_KEYS`` plus ``sweep`` / ``protocol`` / ``protocol_kind`` / ``variant`` / ``source``
    when the cells span several, so that no two cells are silently merged and a reference row
    (the ``vanilla`` of a Δ) always has the row's own sweep, protocol and kind. ``protocol``
    here is :func:`benchmark.results.kinds.row_protocol` (empty for each dataset card's own);
    ``variant`` is :func:`variant`."""
    extra = ("sweep", "protocol", kinds.KIND, "variant", "source")
    return ROW_KEYS + [c for c in extra if c in cells and cells[c].nunique() > 1]


def variant(cell: str) -> str:
    """What a cell key adds to its sweep, method, dataset and backbone besides the teacher and
    the protocol: its fixed values (``distill_weight=0.0``, ``preset=ltd``, ``trials=1``), so
    that two variants of a method in one sweep are two rows ("" for none)."""
    parts = cell.split(" [", 1)[0].split("/")[4:]
    return "/".join(p for p in parts if not p.startswith(("teacher=", "protocol=")))


def honest_ranks(
    signed: pd.DataFrame, kind: pd.Series, complete: pd.DataFrame
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Per dataset column of ``signed`` (rows × datasets, higher = better): the rank of every
    row among the rows of its own kind (1 = best, ties averaged; honest rows: their rank) and
    the dense rank among honest rows only (NaN for marked rows: they get no best/second), where
    every complete cell (``complete``: all its final seeds) ranks above every incomplete one."""
    within = signed.groupby(kind.to_numpy()).rank(ascending=False, method="average")
    is_honest = (kind == kinds.HONEST).to_numpy()
    honest, full = signed[is_honest], complete[is_honest]
    top = honest.where(full).rank(ascending=False, method="dense")
    rest = honest.where(~full).rank(ascending=False, method="dense") + top.max().fillna(0)
    return within, top.fillna(rest).reindex(signed.index)


def with_reference(
    cells: pd.DataFrame, reference: pd.DataFrame, backbone: pd.Series, sign: pd.Series
) -> pd.Series:
    """Per cell, (its shown score − the shown score of the reference ``vanilla`` cell of
    ``backbone`` on the same dataset, sweep, protocol and kind) × ``sign`` (+ = better); NaN
    where ``reference`` (the whole store's cells, whatever the filters hide) has none. Both
    frames carry ``shown``, the row ``protocol`` and ``protocol_kind`` as :func:`board` sets
    them."""
    ctx = ["dataset", "sweep", "protocol", kinds.KIND]
    ref = reference.loc[
        (reference["method"] == "vanilla") & (reference["teacher"] == ""),
        [*ctx, "backbone", "shown"],
    ].drop_duplicates([*ctx, "backbone"])
    got = (
        cells[ctx]
        .assign(backbone=backbone.to_numpy())
        .merge(ref, on=[*ctx, "backbone"], how="left")
    )
    return pd.Series(
        (cells["shown"].to_numpy() - got["shown"].to_numpy()) * sign.to_numpy(), cells.index
    )


def _prepared(cells: pd.DataFrame) -> pd.DataFrame:
    """``cells`` with the row ``protocol`` (:func:`kinds.row_protocol`), ``protocol_kind`` set,
    ``shown`` / ``shown_std`` in the shown units and ``stale`` ("" where not given)."""
    s = cells["metric"].map(scale)
    stale = cells["stale"].fillna("") if "stale" in cells else ""
    return cells.assign(
        stale=stale,
        variant=cells["cell"].map(variant),
        protocol=kinds.row_protocol(cells),
        **{kinds.KIND: kinds.kinds_of(cells)},
        shown=cells["test_mean"] * s,
        shown_std=cells["test_std"] * s,
    )


def board(
    cells: pd.DataFrame,
    expected: Mapping[str, int] | None = None,
    reference: pd.DataFrame | None = None,
) -> Board:
    """The table of one family's cells (see the module docstring).

    Rows are :func:`row_keys` (the ``protocol`` column shows a protocol other than the
    datasets' card defaults, empty for those). Each cell shows ``mean ± std (n=k)``, with
    ``k/expected`` and :data:`INCOMPLETE` when fewer than the sweep's final seeds finished;
    missing cells and values show :data:`MISSING`. Best/second per dataset go to honest rows,
    complete cells before incomplete ones. Deltas are means over the row's datasets of the
    difference to the reference ``vanilla`` cell (same dataset, sweep, protocol and kind) found
    in ``reference`` (the whole store's cells of the family, default ``cells``: a filter hiding
    the vanilla rows keeps the deltas), in the shown units, signed so that + is better. Ranks are
    per dataset (1 = best) among honest rows, averaged over the datasets the row has and shown
    with how many it has (``2.33 (4/6)``). Marked rows (``paper``, ``shared-tuning``) get no
    rank and no best/second mark, and follow the honest rows, one block per kind; within a
    block rows with more datasets come first, then by average rank; their method carries the
    mark.
    """
    notes = kinds.notes(cells)
    c = _prepared(cells).assign(expected=fill_expected(cells, expected or {}))
    keys = row_keys(c)
    datasets = sorted(c["dataset"].unique())
    sign_of = {
        d: 1.0 if higher_is_better(c.loc[c["dataset"] == d, "metric"].iloc[0]) else -1.0
        for d in datasets
    }
    sign = pd.Series(sign_of)
    cell_sign = c["dataset"].map(sign_of)
    ref = c if reference is None else _prepared(reference)
    c = c.assign(
        d_vanilla=with_reference(c, ref, c["backbone"], cell_sign),
        d_mlp=with_reference(c, ref, pd.Series("MLP", index=c.index), cell_sign),
    )
    grid = c.set_index([*keys, "dataset"])
    if not grid.index.is_unique:
        raise ValueError("two cells share a table position; add sweep/protocol to the rows")

    def pivot(col: str) -> pd.DataFrame:
        return grid[col].unstack("dataset").reindex(columns=datasets)

    parts = ("shown", "shown_std", "seeds", "expected", "cell", "stale")
    mean, std, seeds, want, cell, stale = (pivot(x) for x in parts)
    kind = c.groupby(keys)[kinds.KIND].first().reindex(mean.index)
    complete = (seeds >= want) & mean.notna()
    within, dense = honest_ranks(mean * sign, kind, complete)
    has = mean.notna().sum(axis=1)

    numbers = mean.copy()
    numbers[RANK] = within.mean(axis=1).where(kind == kinds.HONEST)
    numbers[D_VANILLA] = grid["d_vanilla"].groupby(level=keys).mean()
    numbers[D_MLP] = grid["d_mlp"].groupby(level=keys).mean()
    numbers[PARAMS] = grid["num_params"].groupby(level=keys).median()
    numbers[LATENCY] = grid["inference_ms"].groupby(level=keys).median()
    order = (
        pd.DataFrame({"block": kinds.block(kind), "has": -has, "rank": within.mean(axis=1)})
        .sort_values(["block", "has", "rank"], kind="stable")
        .index
    )
    numbers = numbers.reindex(order)

    text = pd.DataFrame(MISSING, index=numbers.index, columns=numbers.columns, dtype=object)
    m, sd, n, w = (f.reindex(order) for f in (mean, std, seeds, want))
    old = stale.reindex(order).isin(["stale", "unknown"])
    for d in datasets:
        text[d] = [fmt_cell(*v) for v in zip(m[d], sd[d], n[d], w[d], strict=True)]
        text[d] = text[d].where(~old[d], text[d] + f" {STALE}")
    if old.to_numpy().any():
        notes = [*notes, STALE_NOTE]
    rank_of = has.reindex(order).map(lambda k: f" ({k}/{len(datasets)})")
    text[RANK] = (_fmt(numbers[RANK], ".2f") + rank_of).where(numbers[RANK].notna(), MISSING)
    for col, spec in ((D_VANILLA, "+.2f"), (D_MLP, "+.2f"), (PARAMS, ",.0f"), (LATENCY, ".2f")):
        text[col] = _fmt(numbers[col], spec)

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
        lower_better=[d for d in datasets if sign_of[d] < 0],
    )


def picked_cell(b: Board, rows: Sequence[int], cells: Sequence[Sequence]) -> str | None:
    """The cell a click on the table picks: a selected cell (row position, column) of a
    dataset column with a result, else the selected row's first cell (leftmost dataset); ``None``
    when nothing (or a stale position) is selected. Positions are the table's original ones
    (Streamlit keeps them when the user sorts)."""
    for pos, col in cells:
        if 0 <= int(pos) < len(b.cell):
            key = b.cell.at[int(pos), col] if col in b.datasets else None
            if isinstance(key, str):
                return key
            rows = [int(pos)]  # a cell without a result: its row's first cell
    for pos in rows:
        if 0 <= pos < len(b.cell):
            found = b.cell.loc[pos, b.datasets].dropna()
            if len(found):
                return str(found.iloc[0])
    return None


def styled(b: Board):
    """A pandas Styler: the numbers underneath (sorting), the text shown, best bold and shaded,
    second underlined and lightly shaded (st.dataframe renders colours and weight only), marked
    rows' labels greyed. Missing values sort as the worst (±inf underneath their
    :data:`MISSING`): Streamlit draws a null as "None" whatever the text."""
    numeric = b.numbers.select_dtypes("number").columns
    worst = {c: np.inf if c in b.lower_better or c == RANK else -np.inf for c in numeric}
    sty = b.numbers.fillna(worst).style
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
    """Per final seed of ``cell``: seed, val, test (both in the headline's units: accuracy and
    ROC-AUC ×100, :func:`scale`), best epoch, train seconds, latency, run id, experiment id."""
    g = runs[runs["cell"] == cell]
    if "metric" in g and len(g):
        s = scale(str(g["metric"].iloc[0]))
        g = g.assign(**{k: g[k].astype(float) * s for k in ("m.val", "m.test") if k in g})
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
