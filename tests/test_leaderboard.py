"""The leaderboard: table logic without Streamlit, the app under AppTest against a store made by
running the real smoke sweep once per session, and the ``kdbench leaderboard`` command line."""

from __future__ import annotations

import argparse
import math
import socket
from pathlib import Path

import pandas as pd
import pytest

from benchmark.results.aggregate import aggregate, export, final_runs
from leaderboard import views

REPO = Path(__file__).resolve().parents[1]
APP = REPO / "leaderboard" / "app.py"


@pytest.fixture(scope="session")
def smoke_uri(smoke_runs: Path) -> str:
    """The tracking URI of the session's store holding the real smoke sweep."""
    return f"sqlite:///{smoke_runs / 'mlflow.db'}"


def app(uri: str, monkeypatch: pytest.MonkeyPatch):
    from streamlit.testing.v1 import AppTest

    monkeypatch.setenv("KDBENCH_TRACKING_URI", uri)
    if uri.startswith("sqlite:///"):  # as `kdbench leaderboard` does (its server_env)
        monkeypatch.setenv("KDBENCH_RUNS", str(Path(uri[len("sqlite:///") :]).parent))
    return AppTest.from_file(str(APP), default_timeout=60).run()


def shown(element) -> pd.DataFrame:
    """The text a styled ``st.dataframe`` shows (its Styler display values)."""
    from streamlit.dataframe_util import convert_arrow_bytes_to_pandas_df

    return convert_arrow_bytes_to_pandas_df(element.proto.arrow_data.styler.display_values)


def family_tables(at) -> list[pd.DataFrame]:
    return [shown(d) for d in at.dataframe if d.proto.arrow_data.HasField("styler")]


# ---------------------------------------------------------------- views, without Streamlit
def synthetic_cells() -> pd.DataFrame:
    rows = []
    spec = {
        ("vanilla", "GCN", ""): [0.80, 0.70],
        ("vanilla", "MLP", ""): [0.60, 0.65],
        ("kd", "MLP", "GCN"): [0.75, 0.72],
    }
    for (method, backbone, teacher), means in spec.items():
        for dataset, mean in zip(["A", "B"], means):
            seeds = 1 if (method, dataset) == ("kd", "B") else 2
            rows.append(
                {
                    "cell": f"s/{method}/{dataset}/{backbone}/{teacher}",
                    "sweep": "s",
                    "method": method,
                    "dataset": dataset,
                    "backbone": backbone,
                    "teacher": teacher,
                    "protocol": "",
                    "metric": "accuracy",
                    "seeds": seeds,
                    "test_mean": mean,
                    "test_std": 0.01 if seeds > 1 else float("nan"),
                    "num_params": 100.0,
                    "inference_ms": 1.0,
                }
            )
    return pd.DataFrame(rows)


def test_board_ranks_deltas_marks_without_streamlit():
    b = views.board(synthetic_cells())
    key = dict(zip(zip(b.text["method"], b.text["backbone"]), b.text.index))
    gcn, mlp, kd = key[("vanilla", "GCN")], key[("vanilla", "MLP")], key[("kd", "MLP")]
    assert b.text.at[gcn, "A"] == "80.00 ± 1.00 (n=2)"
    assert b.text.at[kd, "B"] == "72.00 ± n/a (n=1/2)†"  # one seed where the sweep has two
    assert b.best.at[gcn, "A"] and b.second.at[kd, "A"]
    # kd's 72.00 on B has one seed of two: the complete 70.00 and 65.00 are marked, not it
    assert b.best.at[gcn, "B"] and b.second.at[mlp, "B"] and not b.best.at[kd, "B"]
    assert b.numbers.at[gcn, views.RANK] == 1.5 and b.numbers.at[mlp, views.RANK] == 3.0
    assert b.numbers.at[kd, views.D_MLP] == pytest.approx((15 + 7) / 2)
    assert b.numbers.at[kd, views.D_VANILLA] == pytest.approx((15 + 7) / 2)  # its backbone: MLP
    assert b.numbers.at[gcn, views.D_MLP] == pytest.approx((20 + 5) / 2)
    assert b.numbers[views.RANK].is_monotonic_increasing
    tex = views.latex(b)
    assert "\\textbf{80.00 $\\pm$ 1.00 (n=2)}" in tex and "$^\\dagger$" in tex
    assert len(views.filter_cells(synthetic_cells(), {"backbone": ["MLP"], "method": []})) == 4
    fam = views.with_family(synthetic_cells())
    assert set(fam["method family"]) == {"vanilla", "kd-baseline"}
    assert set(views.filter_cells(fam, {"method family": ["kd-baseline"]})["method"]) == {"kd"}
    assert set(fam["protocol kind"]) == {"honest"}  # no protocol_kind column: honest
    tagged = synthetic_cells().assign(protocol_kind=["paper"] * 2 + ["honest"] * 4)
    assert views.with_family(tagged)["protocol kind"].tolist() == tagged["protocol_kind"].tolist()


def test_reimplemented_methods_are_marked_in_the_table_only():
    cells = synthetic_cells()
    cells.loc[cells["method"] == "kd", "method"] = "freekd"  # Method.fidelity: reimplementation
    b = views.board(cells)
    assert set(b.text["method"]) == {"vanilla", f"freekd {views.REIMPLEMENTED}"}
    assert set(b.numbers["method"]) == {"vanilla", "freekd"}  # filters and links use the name
    assert "$^\\ddagger$" in views.latex(b)
    assert views.method_label("gone_method") == "gone_method"
    assert views.method_label("pretrain_attrmask") == f"pretrain_attrmask {views.EXTERNAL}"
    cells.loc[cells["method"] == "freekd", "method"] = "pretrain_contextpred"
    assert "$^\\S$" in views.latex(views.board(cells))


# ---------------------------------------------------------------- the board's defects (issue #30)
def rows_of(b: views.Board) -> dict[tuple[str, str], int]:
    """(method, backbone) → the row's position in ``b``."""
    return dict(zip(zip(b.text["method"], b.text["backbone"]), b.text.index))


def test_cells_show_n_and_incomplete_cells_never_beat_complete_ones():
    cells = synthetic_cells()
    cells.loc[cells["cell"] == "s/kd/B/MLP/GCN", "test_mean"] = 0.99  # the top score, 1 of 2 seeds
    b = views.board(cells)
    r = rows_of(b)
    assert b.text.at[r["vanilla", "GCN"], "B"] == "70.00 ± 1.00 (n=2)"
    assert b.text.at[r["kd", "MLP"], "B"] == "99.00 ± n/a (n=1/2)†"
    assert b.best.at[r["vanilla", "GCN"], "B"] and b.second.at[r["vanilla", "MLP"], "B"]
    assert not b.best.at[r["kd", "MLP"], "B"] and not b.second.at[r["kd", "MLP"], "B"]
    # no complete cell on a dataset: its incomplete cells are marked by score
    b_only = cells[cells["dataset"] == "B"].assign(seeds=1)
    b = views.board(b_only, dict.fromkeys(b_only["cell"], 2))
    assert b.best.at[rows_of(b)["kd", "MLP"], "B"]
    assert b.text.at[rows_of(b)["vanilla", "GCN"], "B"] == "70.00 ± 1.00 (n=1/2)†"


def test_avg_rank_is_over_the_rows_datasets_and_says_how_many():
    cells = synthetic_cells()
    b = views.board(cells[cells["cell"] != "s/vanilla/B/GCN/"])  # vanilla GCN: A only
    r = rows_of(b)
    assert b.text.at[r["vanilla", "GCN"], views.RANK] == "1.00 (1/2)"  # first on A, its only one
    assert b.text.at[r["kd", "MLP"], views.RANK] == "1.50 (2/2)"  # 2nd on A, 1st on B
    assert b.text.at[r["vanilla", "MLP"], views.RANK] == "2.50 (2/2)"
    assert b.text["method"].tolist() == ["kd", "vanilla", "vanilla"]  # rows on both sets first
    assert b.text["backbone"].tolist() == ["MLP", "MLP", "GCN"]


def test_deltas_come_from_the_whole_store_whatever_the_filters():
    cells = synthetic_cells()
    kd_only = views.filter_cells(cells, {"method family": [], "method": ["kd"]})
    assert views.board(kd_only).text.at[0, views.D_MLP] == views.MISSING  # no vanilla row shown
    b = views.board(kd_only, reference=cells)
    full = views.board(cells)
    assert b.numbers.at[0, views.D_MLP] == pytest.approx((15 + 7) / 2)
    assert b.numbers.at[0, views.D_MLP] == full.numbers.at[rows_of(full)["kd", "MLP"], views.D_MLP]
    assert b.text.at[0, views.D_VANILLA] == "+11.00"
    # a vanilla row of another sweep is never the reference
    other = cells.assign(sweep=["t" if m == "vanilla" else "s" for m in cells["method"]])
    assert views.board(kd_only, reference=other).numbers[views.D_MLP].isna().all()


def test_tradeoff_lines_stay_within_one_protocol_and_sweep():
    from leaderboard import plots

    a = synthetic_cells().query("dataset == 'A'")  # vanilla GCN 80, vanilla MLP 60, kd 75 on A
    kd, gcn = a[a["method"] == "kd"], a[(a["method"] == "vanilla") & (a["backbone"] == "GCN")]
    others = [
        kd.assign(cell="t/kd", sweep="t", test_mean=0.50),  # a student of another sweep
        kd.assign(cell="s/kd/p", protocol="lad_paper", test_mean=0.40),  # of another protocol
        gcn.assign(cell="u/vanilla", sweep="u", test_mean=0.30),  # a teacher of another sweep
    ]
    fig = plots.tradeoff(pd.concat([a, *others]), "num_params", "#params")
    lines = [t for t in fig.data if t.mode == "lines"]
    assert len(lines) == 1 and len(lines[0].y) == 3  # one (teacher, student, gap) segment
    assert list(lines[0].y[:2]) == pytest.approx([80.0, 75.0])


def test_missing_cells_and_values_show_a_dash_never_none():
    cells = synthetic_cells()
    cells = cells[(cells["backbone"] != "MLP") | (cells["method"] == "kd")]  # no vanilla MLP
    b = views.board(cells[cells["cell"] != "s/vanilla/B/GCN/"])
    r = rows_of(b)
    assert views.MISSING == "–" and b.text.at[r["vanilla", "GCN"], "B"] == "–"
    assert b.text.at[r["kd", "MLP"], views.D_VANILLA] == "–"  # no vanilla MLP: no Δ
    assert (b.text[views.D_MLP] == "–").all()
    shown_cols = [*b.datasets, views.RANK, views.D_VANILLA, views.D_MLP]
    values = set(b.text[shown_cols].to_numpy().ravel())
    assert not values & {"", "None", "nan", "NaN"}
    assert "--" in views.latex(b)
    # Streamlit draws a null as "None" whatever the shown text: none reaches the grid; missing
    # values sort as the worst (rank +inf, scores and deltas -inf)
    under = views.styled(b).data
    assert not under.select_dtypes("number").isna().any().any()
    assert under.at[r["vanilla", "GCN"], "B"] == -math.inf
    assert under.at[r["kd", "MLP"], views.D_VANILLA] == -math.inf


def test_per_seed_values_are_in_the_headline_units():
    from leaderboard import plots

    runs = pd.DataFrame(
        {
            "cell": ["c", "c", "r"],
            "seed": ["1", "0", "0"],
            "metric": ["accuracy", "accuracy", "rmse"],
            "m.val": [0.70, 0.60, 1.5],
            "m.test": [0.81, 0.79, 2.5],
            "run_id": ["x", "y", "z"],
            "experiment_id": ["1", "1", "1"],
        }
    )
    seeds = views.seed_table(runs, "c")
    assert seeds["test"].tolist() == pytest.approx([79.0, 81.0])  # as the headline, ×100
    assert seeds["val"].tolist() == pytest.approx([60.0, 70.0])
    assert views.seed_table(runs, "r")["test"].tolist() == [2.5]  # an error metric as it is
    fig = plots.seed_spread(seeds, "accuracy", "c")
    assert max(fig.data[0].y) == pytest.approx(81.0)  # not scaled a second time


def test_a_click_on_a_row_or_cell_picks_its_cell():
    cells = synthetic_cells()
    b = views.board(cells[cells["cell"] != "s/vanilla/A/GCN/"])
    r = rows_of(b)
    kd, gcn = r["kd", "MLP"], r["vanilla", "GCN"]
    assert views.picked_cell(b, [kd], []) == "s/kd/A/MLP/GCN"  # a row: its first dataset's
    assert views.picked_cell(b, [gcn], []) == "s/vanilla/B/GCN/"  # the first it has
    assert views.picked_cell(b, [], [(kd, "B")]) == "s/kd/B/MLP/GCN"  # a cell: that cell
    assert views.picked_cell(b, [], [(kd, views.RANK)]) == "s/kd/A/MLP/GCN"
    assert views.picked_cell(b, [], [(gcn, "A")]) == "s/vanilla/B/GCN/"  # "–": the row's
    assert views.picked_cell(b, [], []) is None and views.picked_cell(b, [99], []) is None


def test_mlflow_run_links():
    assert (
        views.run_link("http://host:5000/", "3", "abc")
        == "http://host:5000/#/experiments/3/runs/abc"
    )
    assert views.run_link("https://mlflow.example.org", "1", "r").startswith("https://mlflow.")
    assert views.run_link("sqlite:///runs/mlflow.db", "1", "r") is None
    assert views.ui_command("sqlite:///x.db") == "mlflow ui --backend-store-uri sqlite:///x.db"


def test_missing_tags_are_reported():
    runs = pd.DataFrame([{"cell": "x", "method": "m", "m.test": 0.5}])
    kept, missing, _ = views.clean_runs(runs)
    assert kept.empty and "dataset" in missing and "seed" in missing


# ---------------------------------------------------------------- against the real smoke sweep
def test_table_numbers_equal_export(smoke_uri, tmp_path):
    runs, missing, dropped = views.clean_runs(final_runs(smoke_uri))
    assert not missing and dropped == 0
    cells = views.with_family(aggregate(runs))
    export(cells.drop(columns="family"), "csv", str(tmp_path / "out.csv"))
    exported = pd.read_csv(tmp_path / "out.csv").set_index("cell")
    assert set(cells["family"]) == {"node", "graph"} and len(exported) == 4
    checked = 0
    for _, fam in cells.groupby("family"):
        b = views.board(fam)
        for i in b.numbers.index:
            for d in b.datasets:
                cell = b.cell.at[i, d]
                if pd.isna(cell):
                    continue
                mean, std = exported.at[cell, "test_mean"], exported.at[cell, "test_std"]
                assert math.isclose(b.numbers.at[i, d], 100 * mean, rel_tol=1e-9)
                assert b.text.at[i, d] == f"{100 * mean:.2f} ± {100 * std:.2f} (n=2)"
                checked += 1
    assert checked == 4


def test_sql_reader_equals_the_mlflow_client(smoke_uri):
    """The direct SQL read of a SQLite store gives exactly what MLflow's search_runs gives."""
    from benchmark.results.aggregate import final_runs_client
    from leaderboard import store

    fast, slow = final_runs(smoke_uri), final_runs_client(smoke_uri)
    assert len(fast) == 8 and set(fast.columns) == set(slow.columns)
    cols = sorted(fast.columns)
    pd.testing.assert_frame_equal(
        fast.sort_values("run_id")[cols].reset_index(drop=True),
        slow.sort_values("run_id")[cols].reset_index(drop=True),
        check_dtype=False,
    )
    assert final_runs(smoke_uri, sweep="nope").empty
    assert store.expected_seeds(smoke_uri) == dict.fromkeys(set(fast["cell"]), 2)


def test_app_table_filter_and_drill_down(smoke_uri, monkeypatch):
    at = app(smoke_uri, monkeypatch)
    assert not at.exception and not at.error
    assert [t.label for t in at.tabs] == ["node", "graph"]
    runs = final_runs(smoke_uri)
    cora_gcn = aggregate(runs).set_index("cell").loc["smoke/vanilla/Cora/GCN"]
    text = f"{100 * cora_gcn.test_mean:.2f} ± {100 * cora_gcn.test_std:.2f} (n=2)"
    node = family_tables(at)[0]
    assert text in set(node["Cora"]) and len(node) == 2

    at.sidebar.multiselect(key="f_backbone").set_value(["GCN"]).run()
    assert not at.exception
    assert all(len(t) == 1 for t in family_tables(at))
    assert list(family_tables(at)[0]["backbone"]) == ["GCN"]

    at.selectbox(key="cell").set_value("smoke/vanilla/Cora/GCN").run()
    seeds = next(d.value for d in at.dataframe if "run id" in d.value.columns)
    assert seeds["test"].tolist() == pytest.approx([100 * t for t in cora_gcn.test_per_seed])
    assert set(seeds["run id"]) == set(runs.loc[runs["cell"] == "smoke/vanilla/Cora/GCN", "run_id"])
    assert any("git_sha" in d.value.get("tag", pd.Series()).tolist() for d in at.dataframe)
    assert at.code[0].value == f"mlflow ui --backend-store-uri {smoke_uri}"  # a local store
    assert "experiment " + runs["experiment_id"].iloc[0] in " ".join(c.value for c in at.caption)

    # method family: the registry's attribute; only vanilla rows in the smoke sweep
    family = at.sidebar.multiselect(key="f_method_family")
    assert family.options == ["vanilla"]
    family.set_value(["vanilla"]).run()
    assert not at.exception and len(family_tables(at)) == 2


def test_app_statistics_and_progress_on_the_smoke_store(smoke_uri, monkeypatch):
    at = app(smoke_uri, monkeypatch)
    assert not at.exception and not at.error
    infos = [i.value for i in at.info]
    # two vanilla rows on two datasets: too few for Friedman; no distilled row for Wilcoxon
    assert any("2 row(s) × 2 dataset(s)" in i for i in infos)
    assert any("No distilled row" in i for i in infos)
    assert any("Unit of analysis" in c.value for c in at.caption)
    # grid progress: the runner's status of sweeps/smoke.yaml, found from the store's folder
    assert at.sidebar.text_input(key="sweep_file").value == str(REPO / "sweeps" / "smoke.yaml")
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["done"] == "4 / 4" and metrics["failed"] == "0 / 4"
    table = next(d.value for d in at.dataframe if "state" in d.value.columns)
    assert set(table["state"]) == {"done"} and len(table) == 4

    at.sidebar.text_input(key="sweep_file").set_value(str(REPO / "no-such.yaml")).run()
    assert not at.exception and "no-such.yaml" in at.error[0].value


def test_app_progress_shows_failures(smoke_uri, tmp_path, monkeypatch):
    """A grid whose only cell failed (a final seed that raised, as the runner records it in
    the cell's ``#final`` study): the panel counts it failed and shows the error."""
    import optuna
    import yaml

    from benchmark.runner.cellrun import study_names
    from benchmark.runner.sweep import expand, load_sweep

    sweep = yaml.safe_load((REPO / "sweeps" / "smoke.yaml").read_text())
    sweep.update(
        name="broken",
        budget={**sweep["budget"], "trials": 1},
        grid=[{"methods": ["vanilla"], "datasets": ["MUTAG"], "backbones": ["MLP"]}],
    )
    path = tmp_path / "broken.yaml"
    path.write_text(yaml.safe_dump(sweep))
    journal = tmp_path / "broken.journal"
    storage = optuna.storages.JournalStorage(
        optuna.storages.journal.JournalFileBackend(str(journal))
    )
    tune_name, final_name = study_names(expand(load_sweep(str(path)))[0])
    optuna.create_study(study_name=tune_name, storage=storage)
    final = optuna.create_study(study_name=final_name, storage=storage)
    trial = final.ask()
    trial.set_user_attr("seed", 0)
    trial.set_user_attr("error", "RuntimeError: boom")
    final.tell(trial, state=optuna.trial.TrialState.FAIL)

    at = app(smoke_uri, monkeypatch)
    at.sidebar.text_input(key="sweep_file").set_value(str(path))
    at.sidebar.text_input(key="storage").set_value(f"journal:{journal}").run()
    assert not at.exception
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["failed"] == "1 / 1" and metrics["done"] == "0 / 1"
    failures = next(d.value for d in at.dataframe if "error" in d.value.columns)
    assert failures.to_dict("records") == [{"cell": tune_name, "error": "RuntimeError: boom"}]


def test_statistics_panel_renders_friedman_cd_and_wilcoxon():
    """The panel on hand-made frames (three rows on four datasets; a student better than its
    teacher on all six seeds): the figures shown are scipy's."""
    from scipy.stats import friedmanchisquare
    from streamlit.testing.v1 import AppTest

    from tests.test_leaderboard_stats import SCORES

    def page():
        from leaderboard import panels
        from tests.test_leaderboard_stats import cells, seed_runs

        c = cells().assign(cell=lambda d: d["method"] + "/" + d["dataset"] + "/" + d["backbone"])
        teacher = [0.80, 0.81, 0.79, 0.82, 0.80, 0.78]
        runs = seed_runs([t + 0.01 * (i + 1) for i, t in enumerate(teacher)], teacher, "d1")
        runs = runs.assign(cell=runs["method"] + "/d1/" + runs["backbone"])
        panels.statistics(runs, c, "test_statistics_panel")

    at = AppTest.from_function(page, default_timeout=60).run()
    assert not at.exception
    expected = friedmanchisquare(*zip(*SCORES.values()))
    text = " ".join(m.value for m in at.markdown)
    assert f"χ² = **{expected.statistic:.2f}**" in text and f"p = **{expected.pvalue:.3g}**" in text
    assert len(at.get("image")) == 1  # the critical-difference diagram
    ranks = next(d.value for d in at.dataframe if "avg rank" in d.value.columns)
    assert ranks["row"].tolist() == ["vanilla · GCN", "vanilla · MLP", "kd · MLP ← GCN"]
    w = next(d.value for d in at.dataframe if "sig" in d.value.columns)
    assert w[["method", "pairs", "sig"]].to_dict("records") == [
        {"method": "kd", "pairs": 6, "sig": "*"}
    ]
    assert w["mean diff"].iloc[0] == pytest.approx(3.5)  # in points (×100)


def test_app_empty_store_says_so(tmp_path, monkeypatch):
    at = app(f"sqlite:///{tmp_path / 'empty.db'}", monkeypatch)
    assert not at.exception
    assert "No finished final runs" in at.info[0].value


def test_app_unreachable_server_says_so(monkeypatch):
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    at = app(f"http://127.0.0.1:{port}", monkeypatch)
    assert not at.exception
    assert "does not answer" in at.error[0].value


def test_app_runs_missing_tags_say_so(tmp_path, monkeypatch):
    from mlflow.tracking import MlflowClient

    uri = f"sqlite:///{tmp_path / 'bad.db'}"
    client = MlflowClient(uri)
    run = client.create_run(client.create_experiment("hand-made"), tags={"stage": "final"})
    client.log_metric(run.info.run_id, "test", 0.5)
    client.set_terminated(run.info.run_id)
    at = app(uri, monkeypatch)
    assert not at.exception
    assert "lack the tags" in at.error[0].value


# ---------------------------------------------------------------- kdbench leaderboard
def test_cli_builds_the_streamlit_command():
    from benchmark.cli.app import APP as CLI_APP
    from benchmark.cli.app import add_parsers, cmd_leaderboard, streamlit_command

    parser = argparse.ArgumentParser()
    add_parsers(parser.add_subparsers(dest="command"))
    args = parser.parse_args(["leaderboard", "--tracking-uri", "sqlite:///x.db", "--port", "8600"])
    assert args.func is cmd_leaderboard and (args.host, args.port) == ("127.0.0.1", 8600)
    cmd = streamlit_command(args.tracking_uri, args.host, args.port)
    assert cmd[1:4] == ["-m", "streamlit", "run"] and CLI_APP == APP and CLI_APP.exists()
    assert cmd[cmd.index("--server.port") + 1] == "8600"
    assert cmd[-3:] == ["--", "--tracking-uri", "sqlite:///x.db"]


def test_cell_details_read_every_tuning_study_of_a_cell(smoke_uri, smoke_runs, monkeypatch):
    """The Optuna history of the drill-down: MUTAG's folds have one study each (nested), the
    public Cora split one shared study; a sweep whose journal is elsewhere: none."""
    from leaderboard import store

    monkeypatch.setenv("KDBENCH_RUNS", str(smoke_runs))
    mutag = store.load_studies(smoke_uri, "smoke", "smoke/vanilla/MUTAG/GCN")
    assert [s.study_name for s in mutag] == [
        "smoke/vanilla/MUTAG/GCN#seed0",
        "smoke/vanilla/MUTAG/GCN#seed1",
    ]
    assert all(len(s.trials) == 3 for s in mutag)
    cora = store.load_studies(smoke_uri, "smoke", "smoke/vanilla/Cora/GCN")
    assert [s.study_name for s in cora] == ["smoke/vanilla/Cora/GCN"]
    assert store.load_studies(smoke_uri, "no-such-sweep", "x") is None


# ---------------------------------------------------------------- the record beside the store
def test_a_record_cell_the_store_also_has_keeps_its_own_seeds():
    from leaderboard import sources

    store = pd.DataFrame({"cell": ["s/a", "s/b"], "run_id": ["1", "2"]})
    record = pd.DataFrame({"cell": ["s/a", "s/c"], "run_id": ["r1", "r2"], "source": "record"})
    both = sources.combine(store, record)
    assert both["cell"].tolist() == ["s/a", "s/b", "s/a [record]", "s/c"]
    assert both["source"].tolist() == ["your runs", "your runs", "record", "record"]
    assert sources.expected_seeds(both[both["source"] == "record"]) == {"s/a [record]": 1, "s/c": 1}


def test_app_on_a_fresh_clone_shows_the_record(tmp_path, monkeypatch):
    """Nothing run: the committed record fills the node, graph and molecular tables, and a
    record cell's details show its seeds, parameters and provenance from the record."""
    from benchmark.results.record import load_record

    monkeypatch.delenv("KDBENCH_RECORD")
    at = app(f"sqlite:///{tmp_path / 'fresh.db'}", monkeypatch)
    assert not at.exception and not at.error
    assert {"node", "graph", "molecular"} <= {t.label for t in at.tabs}
    assert at.sidebar.multiselect(key="f_source").options == ["record"]
    cell = "vanilla_defaults/vanilla/Cora/GCN"
    at.selectbox(key="cell").set_value(cell).run()
    assert not at.exception and not at.error
    record = load_record()
    want = record.loc[record["cell"] == cell].sort_values("seed", key=lambda s: s.astype(int))
    seeds = next(d.value for d in at.dataframe if "run id" in d.value.columns)
    assert seeds["test"].tolist() == pytest.approx([100 * t for t in want["m.test"]])
    params = next(d.value for d in at.dataframe if "lr" in d.value.columns)
    assert len(params) == len(want) and set(params["lr"]) == {0.01}
    provenance = next(d.value for d in at.dataframe if "tag" in d.value.columns)
    assert set(want["git_sha"]) <= set(provenance["value"])
    assert any("record keeps its chosen parameters" in i.value for i in at.info)


def test_app_shows_the_record_beside_your_runs(smoke_uri, monkeypatch):
    monkeypatch.delenv("KDBENCH_RECORD")
    at = app(smoke_uri, monkeypatch)
    assert not at.exception and not at.error
    source = at.sidebar.multiselect(key="f_source")
    assert source.options == ["record", "your runs"]
    source.set_value(["your runs"]).run()
    assert not at.exception
    assert sum(len(t) for t in family_tables(at)) == 4  # the smoke sweep's cells only
