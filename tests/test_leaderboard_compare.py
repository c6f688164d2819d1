"""The leaderboard's comparisons view: a baseline row picked in the app, Δ / paired Wilcoxon /
Holm per dataset for every other row (:mod:`leaderboard.compare_view`)."""

from __future__ import annotations

from pathlib import Path

from benchmark.results.record import write_record
from tests.records import toy_cell

APP = Path(__file__).parents[1] / "leaderboard" / "app.py"


def toy_record(folder: Path) -> None:
    """Sweep ``toy``: vanilla, kd and MLP on Cora and CiteSeer, 6 seeds; kd beats vanilla on
    Cora on every seed (by 1 or 2 points) and equals it on CiteSeer; MLP has 3 seeds."""
    cells = [
        toy_cell(
            "toy",
            method,
            dataset,
            backbone,
            [
                0.5
                + 0.01 * s
                + (0.01 if (method, dataset) == ("kd", "Cora") else 0.0) * (1 + s % 2)
                for s in range(3 if backbone == "MLP" else 6)
            ],
        )
        for method, backbone in [("vanilla", "GCN"), ("kd", "GCN"), ("vanilla", "MLP")]
        for dataset in ("Cora", "CiteSeer")
    ]
    write_record(cells, folder)


def test_app_compares_every_row_with_the_picked_baseline(tmp_path, monkeypatch):
    from streamlit.testing.v1 import AppTest

    toy_record(tmp_path / "record")
    monkeypatch.setenv("KDBENCH_RECORD", str(tmp_path / "record"))
    monkeypatch.setenv("KDBENCH_TRACKING_URI", f"sqlite:///{tmp_path / 'empty.db'}")
    at = AppTest.from_file(str(APP), default_timeout=60).run()
    assert not at.exception and not at.error
    pick = at.selectbox(key="baseline_node")
    labels = list(pick.options)  # as shown (format_func applied)
    baseline = next(i for i, label in enumerate(labels) if label.startswith("vanilla · GCN"))
    pick.set_value(baseline).run()
    assert not at.exception and not at.error
    view = next(d.value for d in at.dataframe if (d.value == "baseline").any().any())
    view = view.set_index(["method", "backbone"])
    assert view.loc[("vanilla", "GCN"), "Cora"] == "baseline"
    # kd − vanilla on Cora: six positive differences, exact p = 2/64; Holm over the view's two
    # tests (Cora p = 0.031 and the identical CiteSeer p = 1) doubles it
    assert view.loc[("kd", "GCN"), "Cora"] == "+1.5 (p = 0.031, Holm 0.062)"
    assert view.loc[("kd", "GCN"), "CiteSeer"] == "+0.0 (p = 1, Holm 1.000)"
    # the MLP has seeds 0–2 only: a difference over 3 pairs, no test
    assert view.loc[("vanilla", "MLP"), "Cora"] == "+0.0 (n = 3, no test)"


def test_comparisons_without_streamlit_match_the_table_cells(tmp_path):
    from benchmark.results.aggregate import aggregate
    from benchmark.results.record import load_record
    from leaderboard import compare_view, views

    toy_record(tmp_path)
    runs = load_record(tmp_path)
    b = views.board(aggregate(runs))
    labels = compare_view.row_labels(b)
    base = labels.index(next(x for x in labels if x.startswith("kd")))
    out = compare_view.comparisons(runs, b, base).set_index(["method", "backbone"])
    assert (out.loc[("kd", "GCN"), ["Cora", "CiteSeer"]] == "baseline").all()
    assert out.loc[("vanilla", "GCN"), "Cora"] == "-1.5 (p = 0.031, Holm 0.062)"
