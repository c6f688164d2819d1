"""The protocol kind of every run and cell, and how the leaderboard marks it.

A cell's **protocol kind** (:mod:`benchmark.selection`) is ``honest``, ``paper`` (a paper
protocol: what an official code did, e.g. ``lad_paper`` where test chose the epoch) or
``shared-tuning`` (one tuning study shared by seeds whose partitions differ: leaks test across
seeds). The runner tags every run with ``protocol`` (the concrete one), ``selection``
(``nested`` | ``shared`` | ``none``), ``protocol_kind`` and ``tuning_seeds`` (a JSON list).
Runs logged before these tags existed get them here: an empty ``protocol`` is the dataset
card's default, the kind :func:`benchmark.selection.legacy_kind` of the protocol and the
``trials`` tag, the selection ``shared`` when more than one trial ran (every tuned cell then
shared one study), else ``none``.

Marked rows (:data:`benchmark.selection.MARKS`) are never ranked, bolded or tested with
honest rows; their label carries the mark wherever it is shown or exported.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from functools import cache

import pandas as pd

from benchmark.selection import (
    HONEST,
    KINDS,
    MARKS,
    PAPER,
    SHARED_TUNING,
    kind_warning,
    legacy_kind,
)

KIND, SELECTION = "protocol_kind", "selection"
#: how bad a kind is, for a cell whose seeds disagree (the worst wins)
SEVERITY = {HONEST: 0, SHARED_TUNING: 1, PAPER: 2}
SELECTION_NOTES = {
    "nested": "Nested selection: each final seed's hyper-parameters were chosen on that seed's "
    "own training and validation parts (one tuning study per seed), so they may "
    "differ from seed to seed.",
    "shared": "Shared selection: one tuning study, scored on the validation parts of the "
    "tuning seeds, chose the hyper-parameters of every final seed.",
    "none": "Untuned: a budget of one trial runs the method's defaults (with the sweep's fixed "
    "values) on every seed.",
}


@cache
def default_protocol(dataset: str) -> str:
    """The dataset card's protocol (what a run with an empty ``protocol`` tag ran); empty for
    a dataset this checkout has no card for."""
    from benchmark.data.card import get_card

    try:
        return get_card(dataset).protocol
    except Exception:  # a dataset removed or renamed since
        return ""


def legacy_selection(trials: float | None) -> str:
    """The selection of a run logged before ``selection`` was a tag: ``shared`` above one
    trial (one study served every seed), ``none`` for one trial, empty when unknown."""
    if trials is None:
        return ""
    return "shared" if trials > 1 else "none"


def _number(tag: str) -> float | None:
    """A numeric tag (``"3"``, ``"3.0"``) as a float; ``None`` when empty or not a number."""
    try:
        value = float(tag)
    except ValueError:
        return None
    return None if value != value else value  # NaN


def _column(runs: pd.DataFrame, name: str) -> pd.Series:
    """``runs[name]`` as strings, empty where missing (or everywhere if the tag never was)."""
    if name not in runs:
        return pd.Series("", index=runs.index, dtype=object)
    return runs[name].fillna("").astype(str)


def with_kinds(runs: pd.DataFrame) -> pd.DataFrame:
    """``runs`` (one row per run, tags as columns) with ``protocol`` always naming the protocol
    and ``protocol_kind`` and ``selection`` set on every row (derived for legacy runs, see the
    module docstring). Idempotent; vectorised over the distinct (protocol, trials) pairs."""
    if runs.empty:
        return runs.assign(**{c: pd.Series(dtype=object) for c in ("protocol", KIND, SELECTION)})
    protocol = _column(runs, "protocol")
    empty = protocol == ""
    if empty.any():
        defaults = {d: default_protocol(d) for d in runs.loc[empty, "dataset"].dropna().unique()}
        protocol = protocol.where(~empty, runs["dataset"].map(defaults).fillna(""))
    kind, selection = _column(runs, KIND), _column(runs, SELECTION)
    legacy = (kind == "") | (selection == "")
    if legacy.any():
        pairs = pd.DataFrame({"protocol": protocol, "trials": _column(runs, "trials")})[legacy]
        derived = {
            (p, t): (legacy_kind(p, _number(t)), legacy_selection(_number(t)))
            for p, t in pairs.drop_duplicates().itertuples(index=False)
        }
        got = pd.DataFrame(
            [derived[pt] for pt in pairs.itertuples(index=False, name=None)],
            index=pairs.index,
            columns=["kind", "selection"],
        )
        kind[legacy] = kind[legacy].where(kind[legacy] != "", got["kind"])
        selection[legacy] = selection[legacy].where(selection[legacy] != "", got["selection"])
    return runs.assign(protocol=protocol, **{KIND: kind, SELECTION: selection})


def row_protocol(cells: pd.DataFrame) -> pd.Series:
    """The protocol as part of a table row's identity: empty where it is the dataset card's
    default (a row spans datasets, each run under its own card's protocol), else the protocol
    the sweep chose instead (``lad_paper``)."""
    protocol = cells["protocol"].fillna("")
    defaults = {d: default_protocol(d) for d in cells["dataset"].unique()}
    return protocol.where(protocol != cells["dataset"].map(defaults), "")


def worst(kind: pd.Series, by: pd.Series) -> pd.Series:
    """Per group of ``by``, the most severe kind among ``kind`` (:data:`SEVERITY`): a cell
    one of whose seeds is marked is marked."""
    names = {v: k for k, v in SEVERITY.items()}
    return kind.map(SEVERITY).fillna(0).groupby(by).max().map(names)


def kinds_of(cells: pd.DataFrame) -> pd.Series:
    """The cells' ``protocol_kind`` column; ``honest`` for frames without one (hand-made)."""
    if KIND not in cells:
        return pd.Series(HONEST, index=cells.index, dtype=object)
    return cells[KIND].fillna(HONEST).replace("", HONEST)


def block(kind: pd.Series) -> pd.Series:
    """The block a row of each kind sits in, in table order: honest rows first, then one
    block per marked kind (:data:`benchmark.selection.KINDS` order), unknown kinds last."""
    return kind.map(lambda k: KINDS.index(k) if k in KINDS else len(KINDS))


def mark(kind: str) -> str:
    """The label mark of ``kind`` (``[paper]``, ``[shared tuning]``); empty for honest."""
    return MARKS.get(kind, "")


def marked(labels: pd.Series, kinds: Iterable[str]) -> pd.Series:
    """``labels`` with the mark of their kind appended (``lad_gnn [paper]``)."""
    return pd.Series(
        [f"{s} {mark(k)}" if mark(k) else s for s, k in zip(labels, kinds)],
        index=labels.index,
        dtype=object,
    )


def is_marked(kinds: pd.Series) -> pd.Series:
    return kinds.map(lambda k: bool(mark(k)))


def notes(cells: pd.DataFrame) -> list[str]:
    """One sentence per (kind, protocol) of the marked cells among ``cells``: the mark, then
    :func:`benchmark.selection.kind_warning` (what test chose, or what leaks)."""
    k = cells.assign(_kind=kinds_of(cells))
    k = k[is_marked(k["_kind"])]
    if k.empty:
        return []
    pairs = k[["_kind", "protocol"]].drop_duplicates()
    pairs = pairs.assign(_order=block(pairs["_kind"])).sort_values(["_order", "protocol"])
    return [
        f"{mark(kind)} {kind_warning(kind, protocol)}"
        for kind, protocol in zip(pairs["_kind"], pairs["protocol"])
    ]


def legend() -> str:
    """What every mark means, in one sentence (the table's caption)."""
    return (
        "Protocol kinds: "
        + "; ".join(
            [
                f"{MARKS[PAPER]} = a paper protocol (what an official code did, e.g. choosing the "
                "epoch on test)",
                f"{MARKS[SHARED_TUNING]} = hyper-parameters shared by seeds whose partitions "
                "differ (leaks test across seeds)",
            ]
        )
        + ". Marked rows sit below the honest rows, get no "
        "bold/shade and no rank, and never enter the honest rows' ranks."
    )


def tuning_seeds(values: Iterable[object]) -> list[int]:
    """The union of the ``tuning_seeds`` tags of a cell's runs (JSON lists); empty when no run
    has one or none parses."""
    seeds: set[int] = set()
    for v in values:
        if not isinstance(v, str) or not v.strip():
            continue
        try:
            parsed = json.loads(v)
        except ValueError:
            continue
        if isinstance(parsed, list):
            seeds.update(int(s) for s in parsed if isinstance(s, int | float))
    return sorted(seeds)


def selection_note(selection: str) -> str:
    """What the selection mode of a cell means for its hyper-parameters (the drill-down)."""
    return SELECTION_NOTES.get(selection, "Selection mode not recorded.")


_TEX = {
    "±": "$\\pm$",
    "†": "$^\\dagger$",
    "‡": "$^\\ddagger$",
    "§": "$^\\S$",
    "◦": "$^\\circ$",
    "Δ": "$\\Delta$",
    "–": "--",
    "_": "\\_",
    "#": "\\#",
    "%": "\\%",
    "&": "\\&",
    "$": "\\$",
    "{": "\\{",
    "}": "\\}",
    "~": "\\textasciitilde{}",
    "^": "\\^{}",
    "\\": "\\textbackslash{}",
}


def tex(s: str) -> str:
    """Escape the LaTeX specials of a shown string; ``code`` spans become ``\\texttt``."""
    parts = str(s).split("`")
    out = ["".join(_TEX.get(ch, ch) for ch in p) for p in parts]
    return "".join(p if i % 2 == 0 else f"\\texttt{{{p}}}" for i, p in enumerate(out))


def tex_notes(lines: list[str]) -> str:
    """LaTeX footnote lines for below a table (one paragraph per mark used)."""
    return "".join(f"\\par\\noindent{{\\footnotesize {tex(s)}}}\n" for s in lines)
