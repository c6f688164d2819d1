"""The results tables of the docs, generated from the record by the spec ``docs/tables.yaml``.

A table (:class:`TableSpec`) names its document, the record sweep(s) it reads, its rows (the
product of ordered row fields), named cell selectors and its columns. A row field's values are
either labels matched against the cell field of the same name, or labels standing for
conditions (``setting: {tran: {protocol: [per_class_random, planetoid_public]}}``). A selector
is conditions on a cell's fields (``method``, ``dataset``, ``backbone``, ``teacher`` (``null``:
none), ``protocol``, ``protocol_kind``, ``selection``; a value or a list of allowed values;
``{field}`` fills in the row's label) and ``fixed`` (the cell's fixed values, exactly;
``"*"``: any value). For a row, a selector's conditions are the row's label conditions, the
row's plain fields the selector does not set itself, the column's ``where`` and the selector's
own; at most one cell may match (else the spec is ambiguous: an error). A row whose every data
column is empty is left out.

Columns (:class:`Column`, one kind each): ``row`` (a row label), ``static`` (published
numbers keyed by row labels ``by``), ``value`` (mean ± unbiased std of test in points over the
cell's seeds; one seed: its value; a list: joined by `` / ``), ``n`` (seeds), ``compare:
[a, b]`` (:mod:`benchmark.results.compare`: Δ = mean of per-seed differences a − b, paired
Wilcoxon p, Holm-adjusted p across the column's rows), ``gap: [a, b]`` (difference of the
means, both with ``seeds`` seeds), ``ms`` (median inference latency), ``speedup: [a, b]``
(ratio of the medians), ``extra`` (a per-seed ``extra`` metric, mean over seeds), ``param``
(a parameter of the cell's configuration). ``kind: multiplicity`` tables count the tests of one
comparison per family of rows and adjust the smallest p; ``kind: file`` tables render a
results file that is not in the record (:mod:`benchmark.results.table_files`).
"""

from __future__ import annotations

import itertools
import statistics
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, ValidationError, model_validator

from benchmark.errors import KdbenchError
from benchmark.results import compare
from benchmark.tracking import REPO

SPEC = REPO / "docs" / "tables.yaml"
MISSING = "–"
#: cell fields a row field or a selector may name
FIELDS = ("method", "dataset", "backbone", "teacher", "protocol", "protocol_kind", "selection")
KINDS = ("row", "static", "value", "n", "compare", "gap", "ms", "speedup", "extra", "param")
Conditions = dict[str, Any]


class Column(BaseModel):
    """One column: its header and exactly one of :data:`KINDS` (see the module docstring)."""

    model_config = ConfigDict(extra="forbid")
    head: str
    row: str | None = None
    static: dict[str, str] | None = None
    by: list[str] = []
    default: str = ""
    value: str | list[str] | None = None
    n: list[str] | None = None
    compare: tuple[str, str] | None = None
    holm: bool = True
    gap: tuple[str, str] | None = None
    seeds: int | None = None
    ms: str | None = None
    speedup: tuple[str, str] | None = None
    extra: str | None = None
    param: str | None = None
    of: list[str] = []
    where: Conditions = {}

    @model_validator(mode="after")
    def _one_kind(self) -> Column:
        given = [k for k in KINDS if getattr(self, k) is not None]
        if len(given) != 1:
            raise ValueError(f"column {self.head!r}: give exactly one of {KINDS}, got {given}")
        return self

    @property
    def kind(self) -> str:
        return next(k for k in KINDS if getattr(self, k) is not None)

    def selectors(self) -> list[str]:
        """The selectors this column reads."""
        v = getattr(self, self.kind)
        if self.kind in ("row", "static"):
            return []
        if self.kind in ("extra", "param"):
            return list(self.of)
        return [v] if isinstance(v, str) else list(v)


class TableSpec(BaseModel):
    """One generated table (see the module docstring)."""

    model_config = ConfigDict(extra="forbid")
    doc: str
    kind: Literal["grid", "multiplicity", "file"] = "grid"
    sweep: list[str] = []
    rows: dict[str, list[str] | dict[str, Conditions]] = {}
    select: dict[str, Conditions] = {}
    columns: list[Column] = []
    sign_tests: list[tuple[str, str]] = []
    compare: tuple[str, str] | None = None
    seeds: int | None = None
    family: str | None = None
    file: str | None = None
    render: str | None = None
    paper: dict[str, str] = {}

    @model_validator(mode="before")
    @classmethod
    def _sweeps(cls, data: Any) -> Any:
        if isinstance(data, dict) and isinstance(data.get("sweep"), str):
            data = {**data, "sweep": [data["sweep"]]}
        return data


def load_spec(path: str | Path = SPEC) -> dict[str, TableSpec]:
    """The table specs of ``path`` by name, validated."""
    try:
        raw = yaml.safe_load(Path(path).read_text()) or {}
    except OSError as exc:
        raise KdbenchError(f"cannot read the table spec {path}: {exc.strerror}") from None
    except yaml.YAMLError as exc:
        raise KdbenchError(f"{path} is not valid YAML: {str(exc).splitlines()[0]}") from None
    try:
        return {name: TableSpec.model_validate(t) for name, t in raw.get("tables", {}).items()}
    except ValidationError as exc:
        raise KdbenchError(f"{path}: {exc}") from None


@dataclass
class Cell:
    """A record cell as the tables read it: identity fields, fixed values and its seeds'
    test scores (points), latencies, ``extra`` metrics and first configuration."""

    key: str
    fields: dict[str, str]
    fixed: dict[str, Any]
    seeds: list[int]
    test: list[float]
    ms: list[float]
    extra: list[dict[str, float]]
    params: dict[str, Any] = field(default_factory=dict)

    def mean(self) -> float:
        return sum(self.test) / len(self.test)


@dataclass
class Record:
    """The record cells of some sweeps and their per-seed frame (for :mod:`compare`)."""

    cells: list[Cell]
    runs: Any  # pd.DataFrame


def read_record(folder: str | Path, sweeps: Iterable[str]) -> Record:
    """The cells of ``sweeps`` in the record under ``folder``."""
    from benchmark.results.record import read_cells, runs_frame

    raw = [c for s in sorted(set(sweeps)) for c in read_cells(folder, s)]
    cells = []
    for c in raw:
        factor = compare.points(c["metric"])
        seeds = c["seeds"]
        cells.append(
            Cell(
                key=c["cell"],
                fields={f: "" if c.get(f) is None else str(c[f]) for f in FIELDS},
                fixed=dict(c.get("fixed") or {}),
                seeds=[int(s["seed"]) for s in seeds],
                test=[factor * float(s["test"]) for s in seeds],
                ms=[float(s["inference_ms"]) for s in seeds if s.get("inference_ms") is not None],
                extra=[dict(s.get("extra") or {}) for s in seeds],
                params=dict(c["configs"][seeds[0]["config"]]["params"]) if seeds else {},
            )
        )
    return Record(cells, runs_frame(raw) if raw else None)


def fmt_cell(cell: Cell | None) -> str:
    """``mean ± std`` (unbiased) of the test scores in points, one value for one seed."""
    if cell is None:
        return MISSING
    t = cell.test
    if len(t) == 1:
        return f"{t[0]:.1f}"
    mean = sum(t) / len(t)
    std = (sum((v - mean) ** 2 for v in t) / (len(t) - 1)) ** 0.5
    return f"{mean:.1f} ± {std:.1f}"


def _fill(value: Any, row: dict[str, str]) -> Any:
    if isinstance(value, str):
        return value.format_map(row)
    if isinstance(value, list):
        return [_fill(v, row) for v in value]
    return value


def _matches(cell: Cell, conds: Conditions) -> bool:
    for k, want in conds.items():
        if k == "fixed":
            if set(cell.fixed) != set(want) or any(
                v != "*" and cell.fixed[f] != v for f, v in want.items()
            ):
                return False
            continue
        have = cell.fields[k]
        allowed = want if isinstance(want, list) else [want]
        if have not in ["" if a is None else str(a) for a in allowed]:
            return False
    return True


class Grid:
    """Looks up a table's cells: selector × row (× column conditions) → at most one cell."""

    def __init__(self, name: str, spec: TableSpec, record: Record):
        self.name, self.spec, self.record = name, spec, record
        self.used: dict[str, int] = {s: 0 for s in spec.select}
        for k, conds in spec.select.items():
            bad = set(conds) - {*FIELDS, "fixed"}
            if bad:
                raise KdbenchError(f"table {name}: selector {k} names unknown fields {sorted(bad)}")
        for col in spec.columns:
            needs = [col.row] if col.row else col.by
            if any(f not in spec.rows for f in needs):
                raise KdbenchError(
                    f"table {name}: column {col.head!r} reads row fields {needs}, "
                    f"the rows have {list(spec.rows)}"
                )

    def rows(self) -> list[dict[str, str]]:
        names = list(self.spec.rows)
        labels = [list(v) for v in self.spec.rows.values()]
        return [dict(zip(names, combo)) for combo in itertools.product(*labels)]

    def cell(self, sel: str, row: dict[str, str], where: Conditions | None = None) -> Cell | None:
        if sel not in self.spec.select:
            raise KdbenchError(f"table {self.name}: no selector {sel!r} under select:")
        own = self.spec.select[sel]
        where = where or {}
        conds: Conditions = {}
        for f, values in self.spec.rows.items():
            if isinstance(values, dict):
                conds.update(values[row[f]])
            elif f in FIELDS and f not in own and f not in where:
                conds[f] = row[f]
        conds.update(where)
        conds.update(own)
        conds = {k: _fill(v, row) for k, v in conds.items()}
        found = [c for c in self.record.cells if _matches(c, conds)]
        if len(found) > 1:
            raise KdbenchError(
                f"table {self.name}: selector {sel} matches {len(found)} cells for row {row} "
                f"({', '.join(c.key for c in found)}); add conditions that tell them apart"
            )
        if found:
            self.used[sel] += 1
        return found[0] if found else None

    def check_used(self, selectors: Iterable[str]) -> None:
        """Each of ``selectors`` matched some cell (else the spec or the record is wrong)."""
        for sel in dict.fromkeys(selectors):
            if not self.used.get(sel):
                raise KdbenchError(
                    f"table {self.name}: selector {sel} {self.spec.select[sel]} matches no cell "
                    f"of record sweep(s) {', '.join(self.spec.sweep)}"
                )


def _median_ms(cell: Cell | None) -> float | None:
    return statistics.median(cell.ms) if cell is not None and cell.ms else None


def _column(grid: Grid, col: Column, rows: list[dict[str, str]]) -> list[str]:
    """The texts of one column over ``rows``."""
    kind = col.kind
    if kind == "row":
        return [row[col.row or ""] for row in rows]
    if kind == "static":
        table = col.static or {}
        return [table.get("/".join(row[f] for f in col.by), col.default) for row in rows]
    look = [{s: grid.cell(s, row, col.where) for s in col.selectors()} for row in rows]
    if kind == "value":
        return [" / ".join(fmt_cell(c) for c in got.values()) for got in look]
    if kind == "compare":
        a, b = col.compare or ("", "")
        pairs = {
            i: (got[a].key if got[a] else None, got[b].key if got[b] else None)
            for i, got in enumerate(look)
        }
        tests = compare.compare(grid.record.runs, pairs)
        return [tests[i].text(holm=col.holm) for i in range(len(rows))]
    if kind == "gap":
        a, b = col.gap or ("", "")
        out = []
        for got in look:
            ca, cb = got[a], got[b]
            ok = ca and cb and (col.seeds is None or len(ca.seeds) == len(cb.seeds) == col.seeds)
            out.append(f"{ca.mean() - cb.mean():+.1f}" if ok and ca and cb else MISSING)
        return out
    if kind == "ms":
        ms = [_median_ms(got[col.ms or ""]) for got in look]
        return [f"{m:.2f}" if m else MISSING for m in ms]
    if kind == "speedup":
        a, b = col.speedup or ("", "")
        ratios = [(_median_ms(got[a]), _median_ms(got[b])) for got in look]
        return [f"{x / y:.1f}×" if x and y else MISSING for x, y in ratios]
    first = [next((c for c in got.values() if c is not None), None) for got in look]
    if kind == "n":
        return [str(len(c.seeds)) if c else MISSING for c in first]
    if kind == "param":
        return [str(c.params.get(col.param or "", MISSING)) if c else MISSING for c in first]
    key = col.extra or ""
    out = []
    for c in first:
        vals = [e[key] for e in c.extra if key in e] if c else []
        out.append(f"{sum(vals) / len(vals):.2f}" if vals and len(vals) == len(c.test) else MISSING)
    return out


def _sign_test(grid: Grid, rows: list[dict[str, str]], a: str, b: str) -> str:
    """Across ``rows``: how often selector ``a``'s mean beats ``b``'s, the mean difference and
    a two-sided sign test over rows (rows share datasets: indicative only)."""
    from scipy.stats import binomtest

    diffs = []
    for row in rows:
        ca, cb = grid.cell(a, row), grid.cell(b, row)
        if ca and cb:
            diffs.append(ca.mean() - cb.mean())
    if not diffs:
        return ""
    wins, ties = sum(d > 0 for d in diffs), sum(d == 0 for d in diffs)
    p = binomtest(wins, len(diffs) - ties).pvalue if len(diffs) > ties else 1.0
    return (
        f"{a} − {b} over {len(diffs)} rows: higher in {wins}, mean "
        f"{sum(diffs) / len(diffs):+.2f} points, sign test p = {p:.3f}.  "
    )


def _markdown(head: list[str], body: list[list[str]]) -> list[str]:
    return [
        "| " + " | ".join(head) + " |",
        "|" + " --- |" * len(head),
        *("| " + " | ".join(r) + " |" for r in body),
    ]


def grid_table(name: str, spec: TableSpec, record: Record) -> str:
    """The markdown of a ``grid`` table (see the module docstring)."""
    grid = Grid(name, spec, record)
    rows = grid.rows()
    data = [c for c in spec.columns if c.kind not in ("row", "static")]
    texts = {id(c): _column(grid, c, rows) for c in spec.columns}
    shown = [i for i in range(len(rows)) if any(texts[id(c)][i] != MISSING for c in data)]
    # Holm is over the shown rows' tests: the hidden ones have no cells, hence no test
    body = [[texts[id(c)][i] for c in spec.columns] for i in shown]
    lines = _markdown([c.head for c in spec.columns], body)
    notes = [_sign_test(grid, [rows[i] for i in shown], a, b) for a, b in spec.sign_tests]
    grid.check_used([s for c in spec.columns for s in c.selectors()])
    if notes:
        lines += ["", *notes]
    return "\n".join(lines)


def multiplicity_table(name: str, spec: TableSpec, record: Record) -> str:
    """Markdown: the paired tests of ``compare`` over the rows whose cells both have
    ``seeds`` matching seeds, one line per value of the ``family`` row field and one for all:
    the number m of tests, how many have p < 0.05, m · 0.05 (the count chance alone gives when
    no cell differs), the smallest p with its row, and that p adjusted by Holm and by
    Benjamini–Hochberg over the family."""
    grid = Grid(name, spec, record)
    a, b = spec.compare or ("", "")
    rows = grid.rows()
    pairs = {}
    for row in rows:
        ca, cb = grid.cell(a, row), grid.cell(b, row)
        pairs["/".join(row.values())] = (ca.key if ca else None, cb.key if cb else None)
    tests = {
        k: t
        for k, t in compare.compare(record.runs, pairs).items()
        if t.p is not None and (spec.seeds is None or t.n == spec.seeds)
    }
    grid.check_used([a, b])
    fam = spec.family or ""
    labels = list(spec.rows[fam]) if fam else []
    lines = _markdown(
        [
            "protocol" if fam == "protocol" else fam or "family",
            "cells m",
            "p < 0.05",
            "expected by chance (m · 0.05)",
            "smallest p",
            "Holm-adjusted",
            "Benjamini–Hochberg-adjusted",
        ],
        [],
    )
    position = list(spec.rows).index(fam) if fam else 0
    groups = [(lab, {lab}) for lab in labels] + [
        ("both" if len(labels) == 2 else "all", set(labels))
    ]
    for label, members in groups:
        family = {k: t for k, t in tests.items() if not fam or k.split("/")[position] in members}
        if not family:
            continue
        keys = list(family)
        ps = [float(family[k].p or 0.0) for k in keys]
        low = min(range(len(ps)), key=ps.__getitem__)
        holm, bh = compare.adjust(ps, "holm")[low], compare.adjust(ps, "fdr_bh")[low]
        lines.append(
            f"| {label} | {len(ps)} | {sum(p < 0.05 for p in ps)} | {0.05 * len(ps):.1f} | "
            f"{ps[low]:.3f} ({keys[low]}) | {holm:.3f} | {bh:.3f} |"
        )
    return "\n".join(lines)


def render(name: str, spec: TableSpec, record_dir: str | Path) -> str:
    """The markdown of table ``name``."""
    if spec.kind == "file":
        from benchmark.results import table_files

        return table_files.render(name, spec)
    missing = [s for s in spec.sweep if not (Path(record_dir) / f"{s}.jsonl").is_file()]
    if missing or not spec.sweep:
        raise KdbenchError(
            f"table {name}: the record under {record_dir} has no sweep "
            f"{', '.join(missing) or '(none named)'}"
        )
    record = read_record(record_dir, spec.sweep)
    if spec.kind == "multiplicity":
        return multiplicity_table(name, spec, record)
    return grid_table(name, spec, record)


def render_all(record_dir: str | Path, spec_path: str | Path = SPEC) -> dict[str, str]:
    """Every table of the spec by name."""
    return {name: render(name, t, record_dir) for name, t in load_spec(spec_path).items()}
