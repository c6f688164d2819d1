"""End to end: ``kdbench leaderboard`` serves the session's smoke store, headless Chromium
loads the page (over CDP, :mod:`tests.browser`), and the table and a known cell's mean ± std
(from the same aggregation as ``kdbench export``) are on it. A screenshot is saved under
``.cache/screenshots/`` (ignored by git) for a look after the run."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from leaderboard.aggregate import aggregate, final_runs
from tests import browser

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
    row = next(r for r in rows[1:] if r[header.index("method")] == "vanilla"
               and r[header.index("backbone")] == "GCN")  # fmt: skip
    assert math.isclose(float(row[header.index("Cora")]), 100 * cell.test_mean, rel_tol=1e-9)
    assert (SHOTS / "leaderboard.png").stat().st_size > 20_000  # a drawn page, not a blank one
