"""Protocol kinds in the leaderboard (issue #28): a store whose MUTAG cells are honest
(``tu_10fold``), paper (``lad_paper``, the highest test means) and one legacy run set without a
``protocol_kind`` tag (derived: shared tuning). Marked rows are never bolded or ranked with
honest rows, and their mark is shown everywhere: the table (whatever the filters), the cell
details, the statistics, the page's downloads and ``kdbench export``.

The store is written the way the runner writes it (``benchmark.runner.grid`` /
``benchmark.runner.cellrun.run_final_seed``): one ``stage=cell`` parent per cell and one
``stage=final`` run per seed through :class:`benchmark.tracking.Tracker`.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pandas as pd
import pytest

from benchmark.results import kinds
from benchmark.results.aggregate import COLUMNS, aggregate, export, final_runs
from benchmark.selection import MARKS, kind_warning
from leaderboard import plots, stats, views

SWEEP = "kinds"
SEEDS = [0, 1, 2, 3, 4]
OFFSETS = [-0.02, -0.01, 0.0, 0.01, 0.02]  # per-seed test = mean + offset (std ≈ 1.58 points)
PAPER, SHARED = MARKS["paper"], MARKS["shared-tuning"]
#: (method, backbone, teacher, protocol, {dataset: test mean}); honest cells on three sets so
#: that Friedman has a block, paper cells (higher than every honest one) on MUTAG only
HONEST_CELLS = [
    ("vanilla", "GCN", "", {"MUTAG": 0.80, "PROTEINS": 0.72, "NCI1": 0.78}),
    ("vanilla", "MLP", "", {"MUTAG": 0.70, "PROTEINS": 0.68, "NCI1": 0.65}),
    ("kd", "MLP", "GCN", {"MUTAG": 0.75, "PROTEINS": 0.70, "NCI1": 0.70}),
]
PAPER_CELLS = [
    ("vanilla", "GCN", "", {"MUTAG": 0.90}),
    ("lad_gnn", "GCN", "", {"MUTAG": 0.95}),
    ("kd", "MLP", "GCN", {"MUTAG": 0.92}),
]
LEGACY_CELL = "kinds/vanilla/MUTAG/GIN"  # no protocol, protocol_kind, selection tags; 3 trials


def cell_key(method: str, dataset: str, backbone: str, teacher: str, protocol: str) -> str:
    """As :attr:`benchmark.runner.sweep.Cell.key`."""
    parts = [SWEEP, method, dataset, backbone]
    parts += [f"teacher={teacher}"] if teacher else []
    parts += [f"protocol={protocol}"] if protocol else []
    return "/".join(parts)


def record_cell(tracker, tags: dict, mean: float, params_of) -> None:
    """A ``stage=cell`` parent and one finished ``stage=final`` run per seed."""
    parent = tracker.start(tags["cell"], {**tags, "stage": "cell"})
    tracker.log(parent, params={"budget.final_seeds": json.dumps(SEEDS)})
    for seed, offset in zip(SEEDS, OFFSETS):
        seed_tags = {
            **tags,
            "stage": "final",
            "seed": seed,
            "split": f"split{seed}",
            "hardware": "test",
            "git_sha": "abc",
        }
        if tags.get("selection") == "nested":
            seed_tags["tuning_seeds"] = json.dumps([seed])
        metrics = {
            "test": mean + offset,
            "val": mean - 0.05,
            "num_params": 1000.0,
            "inference_ms": 1.0 + len(tags["method"]) / 10,
            "train_seconds": 2.0,
            "best_epoch": 10.0 + seed,
        }
        if tags["teacher"]:
            metrics["teacher_params"] = 5000.0
        tracker.record(f"seed{seed}", seed_tags, parent, params=params_of(seed), metrics=metrics)
    tracker.finish(parent)


def write_store(folder: Path) -> str:
    """The store of the module docstring; returns its tracking URI."""
    from benchmark.tracking import Tracker

    folder.mkdir(parents=True, exist_ok=True)
    uri = f"sqlite:///{folder / 'mlflow.db'}"
    tracker = Tracker(SWEEP, uri)
    for protocol, selection, kind, trials, specs in (
        ("tu_10fold", "nested", "honest", 3, HONEST_CELLS),
        ("lad_paper", "none", "paper", 1, PAPER_CELLS),
    ):
        for method, backbone, teacher, means in specs:
            for dataset, mean in means.items():
                key = cell_key(
                    method, dataset, backbone, teacher, protocol if protocol == "lad_paper" else ""
                )
                tags = {
                    "cell": key,
                    "sweep": SWEEP,
                    "method": method,
                    "dataset": dataset,
                    "backbone": backbone,
                    "teacher": teacher,
                    "protocol": protocol,
                    "protocol_kind": kind,
                    "selection": selection,
                    "metric": "accuracy",
                    "trials": trials,
                    "budget": trials,
                }
                nested = selection == "nested"
                record_cell(
                    tracker,
                    tags,
                    mean,
                    lambda s, n=nested: {"lr": 0.01 * (s + 1) if n else 0.01, "hidden": 64},
                )
    legacy = {
        "cell": LEGACY_CELL,
        "sweep": SWEEP,
        "method": "vanilla",
        "dataset": "MUTAG",
        "backbone": "GIN",
        "teacher": "",
        "protocol": "",
        "metric": "accuracy",
        "trials": 3,
        "budget": 3,
    }
    record_cell(tracker, legacy, 0.85, lambda s: {"lr": 0.02, "hidden": 32})
    return uri


@pytest.fixture(scope="module")
def kinds_uri(tmp_path_factory) -> str:
    return write_store(tmp_path_factory.mktemp("kinds") / "runs")


@pytest.fixture(scope="module")
def cells(kinds_uri) -> pd.DataFrame:
    runs, missing, dropped = views.clean_runs(final_runs(kinds_uri))
    assert not missing and not dropped
    return views.with_family(aggregate(runs))


def is_marked_label(label: str) -> bool:
    return label.endswith((PAPER, SHARED))


# ---------------------------------------------------------------- aggregate and export
def test_cells_carry_kind_and_selection_and_legacy_runs_get_derived_ones(cells):
    assert {"protocol_kind", "selection"} <= set(COLUMNS) and list(
        cells.columns[: len(COLUMNS)]
    ) == COLUMNS
    c = cells.set_index("cell")
    assert c.at["kinds/vanilla/MUTAG/GCN", "protocol_kind"] == "honest"
    assert c.at["kinds/vanilla/MUTAG/GCN", "selection"] == "nested"
    assert c.at["kinds/lad_gnn/MUTAG/GCN/protocol=lad_paper", "protocol_kind"] == "paper"
    # legacy: the card's protocol, shared tuning (3 trials on a per-seed protocol)
    assert c.loc[LEGACY_CELL, ["protocol", "protocol_kind", "selection"]].tolist() == [
        "tu_10fold",
        "shared-tuning",
        "shared",
    ]
    assert (c["protocol"] != "").all()
    assert c["protocol kind"].tolist() == c["protocol_kind"].tolist()  # the filter's column


def test_legacy_rules_without_a_store():
    runs = pd.DataFrame(
        [
            {"dataset": "MUTAG", "protocol": "lad_paper", "trials": "1"},  # paper, untuned
            {"dataset": "MUTAG", "protocol": None, "trials": "3"},  # card: tu_10fold, shared
            {"dataset": "Cora", "protocol": "", "trials": "3"},  # planetoid_public: one partition
            {"dataset": "MUTAG", "protocol": "tu_10fold", "trials": None},  # trials unknown
            {"dataset": "NoSuchSet", "protocol": "", "trials": "3"},  # no card: no protocol
            {
                "dataset": "MUTAG",
                "protocol": "tu_10fold",
                "trials": "3",
                "protocol_kind": "honest",
                "selection": "nested",
            },  # tagged by the runner: kept
        ]
    )
    out = kinds.with_kinds(runs)
    assert out["protocol"].tolist() == [
        "lad_paper",
        "tu_10fold",
        "planetoid_public",
        "tu_10fold",
        "",
        "tu_10fold",
    ]
    assert out["protocol_kind"].tolist() == [
        "paper",
        "shared-tuning",
        "honest",
        "honest",
        "honest",
        "honest",
    ]
    assert out["selection"].tolist() == ["none", "shared", "shared", "", "shared", "nested"]
    pd.testing.assert_frame_equal(kinds.with_kinds(out), out)  # idempotent


def test_export_marks_every_non_honest_row(cells, tmp_path):
    table = cells[COLUMNS]
    export(table, "csv", str(tmp_path / "t.csv"))
    export(table, "parquet", str(tmp_path / "t.parquet"))
    for got in (pd.read_csv(tmp_path / "t.csv"), pd.read_parquet(tmp_path / "t.parquet")):
        got = got.set_index("cell")
        assert got.loc[table["cell"], "protocol_kind"].tolist() == table["protocol_kind"].tolist()
        assert got.at["kinds/vanilla/MUTAG/GCN/protocol=lad_paper", "protocol"] == "lad_paper"
    export(table, "latex", str(tmp_path / "t.tex"))
    tex = (tmp_path / "t.tex").read_text()
    body = tex[tex.index("\\midrule") : tex.index("\\bottomrule")]
    rows = [r for r in body.splitlines() if "&" in r]
    assert len(rows) == len(table) and "protocol" in tex.split("\\midrule")[0]
    paper_rows = [r for r in rows if "lad\\_paper" in r]
    assert len(paper_rows) == 3 and all(f"{PAPER} &" in r for r in paper_rows)
    shared_rows = [r for r in rows if SHARED in r]
    assert len(shared_rows) == 1 and "GIN" in shared_rows[0]
    assert sum(PAPER in r or SHARED in r for r in rows) == 4  # honest rows are not marked
    assert rows.index(paper_rows[0]) > max(i for i, r in enumerate(rows) if "[" not in r)
    notes = tex[tex.index("\\end{tabular}") :]
    assert kinds.tex(kind_warning("paper", "lad_paper")) in notes and PAPER in notes
    assert "\\texttt{lad\\_paper}" in notes and SHARED in notes and "tu\\_10fold" in notes


# ---------------------------------------------------------------- the table (views.board)
def check_marked_rows(b: views.Board) -> None:
    """No marked row has a best/second mark or a rank; all follow the honest rows; each shows
    its mark in the text and in the value (the grid's own export)."""
    marked = kinds.is_marked(b.kind).to_numpy()
    assert marked.any()
    assert not b.best[marked].any().any() and not b.second[marked].any().any()
    assert (b.text.loc[marked, views.RANK] == views.NO_RANK).all()
    assert b.numbers.loc[marked, views.RANK].isna().all()
    assert all(is_marked_label(s) for s in b.text.loc[marked, "method"])
    assert all(is_marked_label(s) for s in b.numbers.loc[marked, "method"])
    assert not any(is_marked_label(s) for s in b.text.loc[~marked, "method"])
    assert list(marked) == sorted(marked)  # honest first, marked in their own block
    for frame in (b.text.to_csv(index=False), views.latex(b)):  # the page's downloads
        assert frame.count(PAPER) + frame.count(SHARED) >= int(marked.sum())


def test_board_ranks_and_bolds_honest_rows_only(cells):
    b = views.board(cells.drop(columns="test_per_seed"))
    check_marked_rows(b)
    honest = ~kinds.is_marked(b.kind).to_numpy()
    key = dict(zip(b.text["method"] + " " + b.text["backbone"], b.text.index))
    assert b.best.at[key["vanilla GCN"], "MUTAG"]  # 80.00, although paper rows reach 95.00
    assert b.second.at[key["kd MLP"], "MUTAG"]
    assert b.numbers.loc[honest, views.RANK].tolist() == [1.0, 2.0, 3.0]  # among 3 honest rows
    assert b.text.at[key[f"lad_gnn {PAPER} GCN"], "MUTAG"] == "95.00 ± 1.58 (n=5)"
    assert "protocol_kind" in b.text.columns  # two kinds: the kind is part of the row key
    # the paper kd row's Δ is against the paper vanilla GCN, never the honest one
    assert (
        b.numbers.at[key[f"kd {PAPER} MLP"], views.D_VANILLA]
        != b.numbers.at[key["kd MLP"], views.D_VANILLA]
    )
    tex = views.latex(b)
    assert "\\textbf{80.00 $\\pm$ 1.58 (n=5)}" in tex and "\\textbf{95" not in tex
    assert kinds.tex(kind_warning("paper", "lad_paper")) in tex


def test_a_filter_never_removes_the_mark(cells):
    paper = views.filter_cells(cells, {"protocol kind": ["paper"]})
    b = views.board(paper.drop(columns="test_per_seed"))
    check_marked_rows(b)
    assert len(b.text) == 3 and kinds.is_marked(b.kind).all()
    assert not b.best.any().any() and "\\textbf" not in views.latex(b)
    assert views.filter_options(cells, "protocol kind") == ["honest", "paper", "shared-tuning"]


def test_cells_of_different_kinds_are_separate_rows(cells):
    mutag = cells[(cells["dataset"] == "MUTAG") & (cells["protocol"] == "tu_10fold")]
    twin = mutag[mutag["cell"] == "kinds/vanilla/MUTAG/GCN"].assign(
        cell="kinds/vanilla/MUTAG/GCN/selection=shared",
        protocol_kind="shared-tuning",
        test_mean=0.99,
    )  # same method, backbone, teacher, dataset and protocol
    b = views.board(pd.concat([mutag, twin]).drop(columns="test_per_seed"))
    assert len(b.text) == len(mutag) + 1
    check_marked_rows(b)
    assert b.text["method"].tolist()[-2:] == [f"vanilla {SHARED}"] * 2


def test_tradeoff_lines_never_join_kinds(cells):
    mutag = cells[cells["dataset"] == "MUTAG"]

    def joins(c: pd.DataFrame) -> int:
        fig = plots.tradeoff(c, "num_params", "#params")
        lines = [t for t in fig.data if t.mode == "lines"]
        return len(lines[0].x) // 3 if lines else 0

    assert joins(mutag) == 2  # honest kd ↔ honest GCN, paper kd ↔ paper GCN
    no_paper_teacher = mutag[mutag["cell"] != "kinds/vanilla/MUTAG/GCN/protocol=lad_paper"]
    assert joins(no_paper_teacher) == 1


# ---------------------------------------------------------------- statistics
def test_friedman_uses_honest_rows_unless_only_marked_ones_are_shown(cells):
    used, sentence = stats.friedman_cells(cells)
    assert set(used["protocol_kind"]) == {"honest"} and "3 honest row(s)" in sentence
    assert "4 marked row(s)" in sentence and PAPER in sentence and SHARED in sentence
    res = stats.friedman(stats.score_matrix(used)[0])
    assert res.n_rows == 3 and not any(is_marked_label(r) for r in res.ranks.index)
    paper = cells[cells["protocol_kind"] == "paper"]
    used, sentence = stats.friedman_cells(paper)
    assert len(used) == 3 and "only marked rows" in sentence and PAPER in sentence
    assert all(r.endswith(PAPER) for r in stats.row_labels(used))


def test_wilcoxon_pairs_within_a_protocol_kind(kinds_uri):
    runs, _, _ = views.clean_runs(final_runs(kinds_uri))
    w = stats.wilcoxon_vs_teacher(runs).set_index(["dataset", "protocol kind"])
    assert "protocol kind" in stats.WILCOXON_COLUMNS
    paper = w.loc[("MUTAG", "paper")]
    assert paper["protocol"] == "lad_paper" and paper["pairs"] == 5
    assert paper["vanilla teacher"] == pytest.approx(0.90)  # the paper GCN, not the honest one
    assert w.loc[("MUTAG", "honest"), "vanilla teacher"] == pytest.approx(0.80)
    assert len(w) == 4  # three honest datasets and one paper


# ---------------------------------------------------------------- the app (AppTest)
def styled_rows(element) -> tuple[pd.DataFrame, set[int]]:
    """A styled table's shown text and the rows with a best/second style (bold/underline)."""
    from tests.test_leaderboard import shown

    css = element.proto.arrow_data.styler.styles
    rows = set()
    for block in re.findall(r"([^{}]+)\{([^{}]*)\}", css):
        if "font-weight: bold" in block[1] or "underline" in block[1]:
            rows |= {int(r) for r in re.findall(r"_row(\d+)_col", block[0])}
    return shown(element), rows


def test_app_marks_paper_rows_everywhere(kinds_uri, monkeypatch):
    from tests.test_leaderboard import app, family_tables

    at = app(kinds_uri, monkeypatch)
    assert not at.exception and not at.error
    assert [t.label for t in at.tabs] == ["graph"]
    table, styled = styled_rows(
        next(d for d in at.dataframe if d.proto.arrow_data.HasField("styler"))
    )
    marked = [i for i, s in enumerate(table["method"]) if is_marked_label(s)]
    assert len(marked) == 4 and styled and not styled & set(marked)
    assert (table.loc[marked, views.RANK] == views.NO_RANK).all()
    assert marked == list(range(len(table) - 4, len(table)))  # under the honest rows
    captions = " ".join(c.value for c in at.caption)
    assert (
        f"{PAPER} = a paper protocol" in captions and kind_warning("paper", "lad_paper") in captions
    )
    assert "Rows used: the 3 honest row(s); the 4 marked row(s)" in captions
    ranks = next(d.value for d in at.dataframe if list(d.value.columns) == ["row", "avg rank"])
    assert len(ranks) == 3 and not any(is_marked_label(r) for r in ranks["row"])
    w = next(d.value for d in at.dataframe if "sig" in d.value.columns)
    paper = w[w["protocol kind"] == "paper"]
    assert paper["method"].tolist() == [f"kd {PAPER}"]
    assert set(w.loc[w["protocol kind"] == "honest", "method"]) == {"kd"}
    assert not at.warning  # the first cell (honest kd on MUTAG) has no warning

    # the paper-only filter keeps the marks (and the first cell is now a paper one)
    at.sidebar.multiselect(key="f_protocol_kind").set_value(["paper"]).run()
    assert not at.exception
    table, styled = styled_rows(
        next(d for d in at.dataframe if d.proto.arrow_data.HasField("styler"))
    )
    assert len(table) == 3 and all(s.endswith(PAPER) for s in table["method"]) and not styled
    assert (table[views.RANK] == views.NO_RANK).all()
    assert "only marked rows" in " ".join(c.value for c in at.caption)
    assert at.selectbox(key="cell").value == "kinds/kd/MUTAG/MLP/teacher=GCN/protocol=lad_paper"
    assert at.warning[0].value == f"{PAPER} {kind_warning('paper', 'lad_paper')}"
    w = next(d.value for d in at.dataframe if "sig" in d.value.columns)
    assert w["method"].tolist() == [f"kd {PAPER}"] and w["protocol kind"].tolist() == ["paper"]
    assert len(family_tables(at)) == 1


def test_app_cell_details_warn_and_show_parameters_per_seed(kinds_uri, monkeypatch):
    from tests.test_leaderboard import app

    at = app(kinds_uri, monkeypatch)
    at.selectbox(key="cell").set_value("kinds/kd/MUTAG/MLP/teacher=GCN").run()
    params = next(d.value for d in at.dataframe if "lr" in d.value.columns)
    assert params["seed"].tolist() == SEEDS  # nested: one row (and one lr) per final seed
    assert params["lr"].astype(float).tolist() == pytest.approx([0.01 * (s + 1) for s in SEEDS])
    assert any(kinds.SELECTION_NOTES["nested"] == c.value for c in at.caption)
    assert not at.warning

    at.selectbox(key="cell").set_value(LEGACY_CELL).run()
    assert at.warning[0].value == f"{SHARED} {kind_warning('shared-tuning', 'tu_10fold')}"
    assert "the tuning seeds" in at.warning[0].value  # a legacy run names none
    assert any(kinds.SELECTION_NOTES["shared"] == c.value for c in at.caption)


def test_app_deltas_survive_the_family_filter_and_missing_cells_show_a_dash(kinds_uri, monkeypatch):
    """The method-family filter hides the vanilla rows; the kd row's Δ still compares with
    them (issue #30): honest kd MLP ← GCN is 5, 2 and 5 points above vanilla MLP."""
    from tests.test_leaderboard import app, family_tables

    at = app(kinds_uri, monkeypatch)
    at.sidebar.multiselect(key="f_method_family").set_value(["kd-baseline"]).run()
    assert not at.exception
    table = family_tables(at)[0]
    honest = table[table["method"] == "kd"].iloc[0]
    assert honest[views.D_VANILLA] == "+4.00" and honest[views.D_MLP] == "+4.00"
    paper = table[table["method"] == f"kd {PAPER}"].iloc[0]
    assert paper["PROTEINS"] == views.MISSING and paper[views.D_VANILLA] == views.MISSING
    assert not {"", "None", "nan"} & set(table[["MUTAG", "PROTEINS", "NCI1"]].to_numpy().ravel())


def test_app_a_click_on_a_row_opens_its_details(kinds_uri, monkeypatch):
    """A row selected in the table (Streamlit's selection state, as a click sets it) opens its
    first cell in the details, a selected cell opens that cell; the details' own selectbox
    still works while the row stays selected."""
    from tests.test_leaderboard import app, family_tables

    def select(at, **selection):
        at.session_state["table_graph"] = {"selection": {"rows": [], "cells": [], **selection}}
        return at.run()

    at = app(kinds_uri, monkeypatch)
    table = family_tables(at)[0]
    mlp = int(table.index[(table["method"] == "vanilla") & (table["backbone"] == "MLP")][0])
    select(at, rows=[mlp])
    assert not at.exception
    assert at.selectbox(key="cell").value == "kinds/vanilla/MUTAG/MLP"
    seeds = next(d.value for d in at.dataframe if "run id" in d.value.columns)
    assert seeds["test"].tolist() == pytest.approx([70 + 100 * o for o in OFFSETS])

    at.selectbox(key="cell").set_value(LEGACY_CELL).run()  # the row is still selected
    assert at.selectbox(key="cell").value == LEGACY_CELL
    select(at, cells=[[mlp, "PROTEINS"]])
    assert at.selectbox(key="cell").value == "kinds/vanilla/PROTEINS/MLP"
