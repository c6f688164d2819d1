"""End to end: ``kdbench leaderboard`` serves the session's smoke store, headless Chromium
loads the page (over CDP, :mod:`tests.browser`), and the table and a known cell's mean ± std
(from the same aggregation as ``kdbench export``) are on it. On a store with honest and paper
cells (:mod:`tests.test_leaderboard_kinds`), the marked rows keep their mark and get no rank in
the table, under the paper-only filter, in the cell details, the Wilcoxon table and the page's
CSV/LaTeX downloads; a click on a row opens its cell details. Screenshots are saved under
``.cache/screenshots/`` (ignored by git) for a look after the run."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from benchmark.results.aggregate import aggregate, final_runs
from benchmark.selection import MARKS, kind_warning
from tests import browser
from tests.test_leaderboard_kinds import write_store

REPO = Path(__file__).resolve().parents[1]
SHOTS = REPO / ".cache" / "screenshots"
CELL = "smoke/vanilla/Cora/GCN"

pytestmark = pytest.mark.skipif(
    browser.chromium() is None,
    reason="chromium is not on PATH (Debian: apt-get install chromium; .ci/run installs it)",
)

#: the rows of the first table's accessible grid (Streamlit draws the cells on a canvas and
#: mirrors the values, not the styled text, in an ARIA grid)
GRID_ROWS = """Array.from(document.querySelector('[data-testid="stDataFrame"]')
  .querySelectorAll('[role=row]')).map(r => Array.from(
  r.querySelectorAll('[role=columnheader],[role=gridcell]')).map(c => c.textContent))"""
#: the rows of every data grid on the page, one list per grid
ALL_GRIDS = """Array.from(document.querySelectorAll('[data-testid="stDataFrame"]')).map(g =>
  Array.from(g.querySelectorAll('[role=row]')).map(r => Array.from(
  r.querySelectorAll('[role=columnheader],[role=gridcell]')).map(c => c.textContent)))"""
PAPER, SHARED = MARKS["paper"], MARKS["shared-tuning"]


def test_leaderboard_renders_in_headless_chromium(smoke_runs):
    uri = f"sqlite:///{smoke_runs / 'mlflow.db'}"
    cell = aggregate(final_runs(uri)).set_index("cell").loc[CELL]
    expected = f"{100 * cell.test_mean:.2f} ± {100 * cell.test_std:.2f}"
    with browser.leaderboard(uri) as url, browser.browser() as page:
        text = browser.open_page(page, url, '[data-testid="stDataFrame"]')
        rows = page.eval(GRID_ROWS)
        page.screenshot(SHOTS / "leaderboard.png")
    assert "kdbench leaderboard" in text and "Traceback" not in text
    assert expected in text  # the drill-down of the first cell, Cora · GCN, selected by default
    header = rows[0]
    row = next(
        r
        for r in rows[1:]
        if r[header.index("method")] == "vanilla" and r[header.index("backbone")] == "GCN"
    )
    assert math.isclose(float(row[header.index("Cora")]), 100 * cell.test_mean, rel_tol=1e-9)
    assert (SHOTS / "leaderboard.png").stat().st_size > 20_000  # a drawn page, not a blank one


def table_rows(rows: list[list[str]]) -> list[dict[str, str]]:
    """A grid's rows as dicts keyed by its header."""
    return [dict(zip(rows[0], r)) for r in rows[1:] if r]


def check_marked(rows: list[dict[str, str]]) -> list[bool]:
    """Every marked row (its method ends with its mark) has no rank and follows the honest
    rows, which are all ranked; returns which rows are marked."""
    marked = [r["method"].endswith((PAPER, SHARED)) for r in rows]
    # the grid mirrors values: a marked row's rank is +inf underneath its shown "–"
    assert all(float(r["avg rank"]) == math.inf for r, m in zip(rows, marked) if m)
    assert all(1 <= float(r["avg rank"]) < math.inf for r, m in zip(rows, marked) if not m)
    assert marked == sorted(marked)
    return marked


def check_downloads(page: browser.Page, folder, n_paper: int, n_shared: int) -> None:
    """The page's CSV and LaTeX downloads carry every marked row's mark (and LaTeX a note)."""
    csv = page.download("CSV", folder / "csv").read_text()
    assert sum(PAPER in line for line in csv.splitlines()) == n_paper
    assert sum(SHARED in line for line in csv.splitlines()) == n_shared
    tex = page.download("LaTeX", folder / "tex").read_text()
    body = tex[: tex.index("\\end{tabular}")]
    assert body.count(PAPER) == n_paper and body.count(SHARED) == n_shared
    assert "\\texttt{lad\\_paper}" in tex[tex.index("\\end{tabular}") :]


@pytest.fixture(scope="module")
def kinds_uri(tmp_path_factory) -> str:
    return write_store(tmp_path_factory.mktemp("kinds-e2e") / "runs")


def test_marked_rows_keep_their_mark_in_chromium(kinds_uri, tmp_path):
    with browser.leaderboard(kinds_uri) as url, browser.browser() as page:
        text = browser.open_page(page, url, '[data-testid="stDataFrame"]')
        rows = table_rows(page.eval(GRID_ROWS))
        marked = check_marked(rows)
        assert sum(marked) == 4 and len(rows) == 7
        assert "Rows used: the 3 honest row(s); the 4 marked row(s)" in text
        assert f"{PAPER} = a paper protocol" in text
        check_downloads(page, tmp_path / "all", n_paper=3, n_shared=1)

        page.choose("protocol kind", "paper")
        text = page.eval("document.body.innerText")
        page.screenshot(SHOTS / "leaderboard-paper.png", full_height=True)
        grids = [table_rows(g) for g in page.eval(ALL_GRIDS)]
        rows = grids[0]
        assert len(rows) == 3 and all(check_marked(rows))
        assert kind_warning("paper", "lad_paper").replace("`", "") in text  # the cell details
        wilcoxon = next(g for g in grids if g and "protocol kind" in g[0])
        assert [(r["method"], r["protocol kind"]) for r in wilcoxon] == [(f"kd {PAPER}", "paper")]
        assert "only marked rows" in text and "Traceback" not in text
        check_downloads(page, tmp_path / "paper", n_paper=3, n_shared=0)


#: the value of the cell details' selectbox
DETAILS_CELL = "document.querySelector('input[role=combobox][aria-label=\"cell\"]').value"


def test_a_click_on_a_row_opens_its_details_in_chromium(kinds_uri):
    """A real click on a row's selection box of the table opens that row's first cell in the
    cell details below (issue #30)."""
    with browser.leaderboard(kinds_uri) as url, browser.browser() as page:
        browser.open_page(page, url, '[data-testid="stDataFrame"]')
        rows = table_rows(page.eval(GRID_ROWS))
        first = page.eval(DETAILS_CELL)
        picks = {}
        for method, backbone in (("vanilla", "MLP"), (f"kd {PAPER}", "MLP")):
            i = next(
                i for i, r in enumerate(rows) if (r["method"], r["backbone"]) == (method, backbone)
            )
            page.click_row(0, i)
            picks[method] = page.eval(DETAILS_CELL)
        text = page.eval("document.body.innerText")
    assert first == "kinds/kd/MUTAG/MLP/teacher=GCN"  # the first cell, before any click
    assert picks == {
        "vanilla": "kinds/vanilla/MUTAG/MLP",
        f"kd {PAPER}": f"kinds/kd/MUTAG/MLP/teacher=GCN/protocol=lad_paper {PAPER}",
    }
    assert kind_warning("paper", "lad_paper").replace("`", "") in text  # its details shown
