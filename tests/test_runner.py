"""The runner: sweep validation, a real smoke grid, resume, teacher cache, workers, SIGKILL,
nested per-seed tuning, and failed trials retried once the environment is fixed."""

import os
import signal
import subprocess
import sys
import time

import optuna
import pytest
import yaml

from benchmark.errors import KdbenchError
from benchmark.runner.cellrun import tuning_study_name
from benchmark.runner.launch import Selection, run_sweep, status_rows
from benchmark.runner.sweep import expand, load_sweep


def write(tmp_path, name="t", **over):
    sweep = {
        "name": name,
        "budget": {"trials": 2, "tuning_seeds": [0], "final_seeds": [0, 1], "epochs": 3},
        "grid": [{"methods": ["vanilla"], "datasets": ["MUTAG"], "backbones": ["MLP"]}],
        "search_spaces": {
            "vanilla": {"lr": {"type": "float", "low": 0.001, "high": 0.05, "log": True}}
        },
    }
    sweep.update(over)
    path = tmp_path / f"{name}.yaml"
    path.write_text(yaml.safe_dump(sweep, sort_keys=False))
    return path


def final_runs(runs_dir, sweep):
    import mlflow

    mlflow.set_tracking_uri(f"sqlite:///{runs_dir / 'mlflow.db'}")
    df = mlflow.search_runs(experiment_names=[sweep])
    return df, df[df["tags.stage"] == "final"]


@pytest.mark.parametrize(
    ("change", "needle"),
    [
        (
            {"grid": [{"methods": ["vanila"], "datasets": ["MUTAG"], "backbones": ["GCN"]}]},
            "grid.0.methods.0: unknown method 'vanila'",
        ),
        (
            {"grid": [{"methods": ["vanilla"], "datasets": ["MUTAG"], "backbones": ["GCM"]}]},
            "grid.0.backbones.0",
        ),
        (
            {"grid": [{"methods": ["vanilla"], "datasets": ["MUTAGG"], "backbones": ["GCN"]}]},
            "unknown dataset",
        ),
        (
            {"search_spaces": {"vanilla": {"lr": {"type": "float", "low": 0.1, "high": 0.01}}}},
            "search_spaces.vanilla.lr",
        ),
        (
            {"search_spaces": {"vanilla": {"lrr": {"type": "float", "low": 0.1, "high": 1}}}},
            "unknown hyper-parameter(s) lrr",
        ),
        ({"budget": {"tuning_seeds": [0]}}, "budget.trials: Field required"),
        ({"bugdet": 3}, "bugdet"),
        (
            {
                "grid": [
                    {
                        "methods": ["ltd"],
                        "datasets": ["Cora-CPF"],
                        "backbones": ["GCN"],
                        "protocol": "ldt",
                    }
                ]
            },
            "grid.0.protocol: unknown split protocol 'ldt'",
        ),
        (
            {
                "grid": [
                    {
                        "methods": ["ltd", "kd"],
                        "datasets": ["Cora-CPF"],
                        "backbones": ["GCN"],
                        "protocol": "paper",
                    }
                ]
            },
            "grid.0.methods.1: method 'kd' has no `paper`",
        ),
        (
            {
                "grid": [
                    {
                        "methods": ["ltd"],
                        "datasets": ["Cora-CPF"],
                        "backbones": ["GCN"],
                        "fixed": {"preset": "ltdd"},
                    }
                ]
            },
            "grid.0.fixed: unknown preset 'ltdd'",
        ),
        (
            {
                "grid": [
                    {
                        "methods": ["vanilla"],
                        "datasets": ["MUTAG"],
                        "backbones": ["GCN"],
                        "fixed": {"preset": "hu2020"},
                    }
                ]
            },
            "grid.0.fixed: preset 'hu2020' has no",
        ),
        (
            {
                "grid": [
                    {
                        "methods": ["vanilla"],
                        "datasets": ["MUTAG"],
                        "backbones": ["GCN"],
                        "fixed": {"hiden": 16},
                    }
                ]
            },
            "grid.0.fixed: unknown hyper-parameter(s) hiden",
        ),
    ],
)
def test_malformed_sweeps_fail_naming_the_key_and_line(tmp_path, change, needle):
    path = write(tmp_path, **change)
    with pytest.raises(KdbenchError) as exc:
        load_sweep(path)
    msg = str(exc.value)
    assert needle in msg and " line " in msg and "\n" not in msg, msg


def test_shipped_sweeps_are_valid_and_expand():
    from pathlib import Path

    for path in sorted(Path(__file__).parents[1].glob("sweeps/*.yaml")):
        cells = expand(load_sweep(path))
        assert cells, path
        assert len({c.key for c in cells}) == len(cells)


def test_smoke_sweep_runs_and_a_rerun_adds_nothing(smoke_runs, runs, monkeypatch):
    """``smoke_runs``: the session's smoke store (shared with the leaderboard tests)."""
    from pathlib import Path

    monkeypatch.setenv("KDBENCH_RUNS", str(smoke_runs))
    smoke = Path(__file__).parents[1] / "sweeps" / "smoke.yaml"
    cells = expand(load_sweep(smoke))
    assert all(r["state"] == "done" for r in status_rows(str(smoke), None))
    all_runs, finals = final_runs(smoke_runs, "smoke")
    sweep = load_sweep(smoke)
    assert len(finals) == len(cells) * len(sweep.budget.final_seeds)
    assert finals["metrics.test"].notna().all()
    hpo = all_runs[all_runs["tags.stage"] == "hpo"]
    assert hpo.filter(like="metrics.test").isna().all().all()  # tuning never tests
    storage = optuna.storages.JournalStorage(
        optuna.storages.journal.JournalFileBackend(str(smoke_runs / "smoke" / "optuna.journal"))
    )
    for cell in cells:  # the sampler does not repeat itself
        params = [
            tuple(sorted(t.params.items()))
            for t in optuna.load_study(study_name=cell.key, storage=storage).trials
        ]
        assert len(set(params)) == len(params), (cell.key, params)
    run_sweep(str(smoke), device="cpu")
    again, _ = final_runs(smoke_runs, "smoke")
    assert len(again) == len(all_runs)


def test_teacher_is_trained_once_per_split_and_seed(runs, tmp_path):
    path = write(
        tmp_path,
        name="kd",
        grid=[
            {
                "methods": ["kd"],
                "datasets": ["MUTAG"],
                "backbones": ["GCN", "MLP"],
                "teachers": ["GCN"],
            }
        ],
        search_spaces={},
    )
    cells = run_sweep(str(path), device="cpu", track=False)
    assert [c.method for c in cells] == ["vanilla", "kd", "kd"]  # teacher cell first
    from benchmark.artifacts import ArtifactCache

    builds = ArtifactCache(runs / "artifacts").builds()
    keys = [(b["key"]["split"], b["key"]["seed"]) for b in builds]
    # 2 students × (2 trials on seed 0 + final seeds 0, 1) use exactly one teacher per seed
    assert sorted(keys) == sorted(set(keys)) and {k[1] for k in keys} == {0, 1}
    assert len(builds) == 2


def test_a_selection_keeps_matching_cells_and_their_teachers(tmp_path):
    path = write(
        tmp_path,
        name="s",
        grid=[
            {
                "methods": ["kd", "ltd"],
                "datasets": ["Cora-CPF"],
                "backbones": ["GCN", "GAT"],
                "protocol": "ltd",
            },
            {"methods": ["vanilla"], "datasets": ["MUTAG"], "backbones": ["GIN"]},
        ],
    )
    cells = expand(load_sweep(path))
    assert Selection().apply(cells) == cells

    def keys(sel: Selection) -> list[str]:
        return [c.key for c in sel.apply(cells)]

    assert keys(Selection(cells="*/Cora-CPF/GAT*")) == [
        "s/vanilla/Cora-CPF/GAT/protocol=ltd",
        "s/kd/Cora-CPF/GAT/teacher=GAT/protocol=ltd",
        "s/ltd/Cora-CPF/GAT/teacher=GAT/protocol=ltd",
    ]
    assert keys(Selection("kd", "*/GCN/*,*/MUTAG/*")) == [  # teacher kept, vanilla GIN not kd
        "s/vanilla/Cora-CPF/GCN/protocol=ltd",
        "s/kd/Cora-CPF/GCN/teacher=GCN/protocol=ltd",
    ]
    assert keys(Selection(cells="s/vanilla/MUTAG/GIN")) == ["s/vanilla/MUTAG/GIN"]
    assert Selection("kd", "*/GAT*").argv() == ["--only", "kd", "--cells", "*/GAT*"]
    with pytest.raises(KdbenchError) as exc:
        Selection("ltd", "*/MUTAG/*").apply(cells)
    assert "no cell of the sweep matches" in str(exc.value) and "\n" not in str(exc.value)


def test_an_entrys_fixed_values_reach_its_cells_and_their_teachers(tmp_path):
    from types import SimpleNamespace

    from benchmark.runner.cellrun import cell_params

    path = write(
        tmp_path,
        name="f",
        grid=[
            {
                "methods": ["ltd"],
                "datasets": ["Cora-CPF"],
                "backbones": ["SGC"],
                "protocol": "ltd",
                "fixed": {"preset": "ltd"},
            },
            {
                "methods": ["vanilla"],
                "datasets": ["Cora-CPF"],
                "backbones": ["SGC"],
                "protocol": "ltd",
            },
        ],
    )
    sweep = load_sweep(path)
    teacher, student, plain = cells = expand(sweep)
    assert [c.key for c in cells] == [
        "f/vanilla/Cora-CPF/SGC/protocol=ltd/preset=ltd",
        "f/ltd/Cora-CPF/SGC/teacher=SGC/protocol=ltd/preset=ltd",
        "f/vanilla/Cora-CPF/SGC/protocol=ltd",
    ]
    env = SimpleNamespace(sweep=sweep)
    assert cell_params(env, teacher, {})["lr"] == 0.1  # LTD's SGC setting
    assert cell_params(env, student, {})["lr"] == 0.1
    assert cell_params(env, plain, {})["lr"] != 0.1
    assert cell_params(env, teacher, {"lr": 0.02})["lr"] == 0.02  # tuned values win


def test_ltd_entry_runs_on_its_own_protocol_with_a_shared_teacher(runs, tmp_path):
    """A grid entry's ``protocol: ltd`` reaches every cell, teacher included (real Cora-CPF)."""
    path = write(
        tmp_path,
        name="ltd",
        budget={"trials": 1, "tuning_seeds": [0], "final_seeds": [0], "epochs": 3},
        grid=[
            {
                "methods": ["kd", "ltd"],
                "datasets": ["Cora-CPF"],
                "backbones": ["SGC"],
                "protocol": "ltd",
            }
        ],
        search_spaces={},
    )
    cells = run_sweep(str(path), device="cpu", track=False)
    assert [(c.method, c.protocol) for c in cells] == [
        ("vanilla", "ltd"),
        ("kd", "ltd"),
        ("ltd", "ltd"),
    ]
    from benchmark.artifacts import ArtifactCache

    builds = ArtifactCache(runs / "artifacts").builds()
    assert {b["key"]["split"] for b in builds} == {"ltd(train=20,meta=20,val=10)/seed0"}
    assert len(builds) == 1  # one teacher serves kd and ltd, tuning and final


def test_a_paper_entry_gives_teachers_the_methods_concrete_paper_protocol(tmp_path):
    path = write(
        tmp_path,
        name="p",
        grid=[
            {
                "methods": ["ltd"],
                "datasets": ["Cora-CPF"],
                "backbones": ["GCN"],
                "protocol": "paper",
            }
        ],
    )
    cells = expand(load_sweep(path))
    assert [(c.method, c.protocol) for c in cells] == [
        ("vanilla", "ltd_fixed"),
        ("ltd", "ltd_fixed"),
    ]


def test_two_workers_make_exactly_one_final_set_per_cell(runs, tmp_path):
    path = write(
        tmp_path,
        name="two",
        budget={"trials": 3, "tuning_seeds": [0], "final_seeds": [0, 1, 2], "epochs": 3},
        grid=[{"methods": ["vanilla"], "datasets": ["MUTAG"], "backbones": ["MLP", "GCN"]}],
    )
    cells = run_sweep(str(path), workers=2, device="cpu")
    _, finals = final_runs(runs, "two")
    for cell in cells:
        seeds = finals[finals["tags.cell"] == cell.key]["tags.seed"].tolist()
        assert sorted(seeds) == ["0", "1", "2"], (cell.key, seeds)
    storage = optuna.storages.JournalStorage(
        optuna.storages.journal.JournalFileBackend(str(runs / "two" / "optuna.journal"))
    )
    for cell in cells:  # MUTAG's folds: one study per final seed (nested selection)
        assert not optuna.load_study(study_name=cell.key, storage=storage).trials
        for seed in (0, 1, 2):
            study = optuna.load_study(study_name=tuning_study_name(cell, seed), storage=storage)
            assert 3 <= len(study.trials) <= 4  # the budget holds (one overshoot at most)


def test_sigkill_mid_trial_then_rerun_completes_without_duplicates(runs, tmp_path):
    path = write(
        tmp_path,
        name="kill",
        budget={"trials": 2, "tuning_seeds": [0], "final_seeds": [0, 1], "epochs": 100},
        fixed={"vanilla": {"patience": None}},
    )
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "benchmark.cli",
            "run",
            str(path),
            "--device",
            "cpu",
            "--threads",
            "1",
        ],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    (runs / "kill").mkdir(parents=True, exist_ok=True)
    storage = optuna.storages.JournalStorage(
        optuna.storages.journal.JournalFileBackend(str(runs / "kill" / "optuna.journal"))
    )
    key = tuning_study_name(expand(load_sweep(path))[0], 0)
    deadline = time.time() + 120
    killed_number = None
    while time.time() < deadline and killed_number is None:
        time.sleep(0.5)
        try:
            trials = optuna.load_study(study_name=key, storage=storage).trials
        except (KeyError, FileNotFoundError):
            continue
        running = [t for t in trials if t.state.name == "RUNNING" and "owner" in t.user_attrs]
        if running:
            killed_number = running[0].number
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    assert killed_number is not None, "no trial started within 120 s"

    run_sweep(str(path), device="cpu")
    study = optuna.load_study(study_name=key, storage=storage)
    retried = [t for t in study.trials if t.user_attrs.get("retry_of") == killed_number]
    assert len(retried) == 1 and retried[0].state.name == "COMPLETE"
    _, finals = final_runs(runs, "kill")
    assert sorted(finals["tags.seed"]) == ["0", "1"]


def test_a_crashing_method_fails_its_cell_and_the_grid_goes_on(runs, tmp_path, monkeypatch):
    from benchmark.registry import METHODS
    from benchmark.train.loop_method import LoopMethod

    class Crash(LoopMethod):
        name = "crash"
        description = "raises"

        def loss(self, model, batch, ctx, state):
            raise RuntimeError("boom")

    METHODS.names()  # load the plug-ins first
    monkeypatch.setitem(METHODS._items, "crash", Crash)
    path = write(
        tmp_path,
        name="crash",
        search_spaces={},
        grid=[{"methods": ["crash", "vanilla"], "datasets": ["MUTAG"], "backbones": ["MLP"]}],
    )
    run_sweep(str(path), device="cpu", track=False)
    states = {r["cell"].split("/")[1]: r for r in status_rows(str(path), None)}
    # 2 trials in each of the two folds' studies
    assert states["crash"]["state"] == "failed" and states["crash"]["failed"] == 4
    assert states["crash"]["errors"] == ["RuntimeError: boom"] and not states["vanilla"]["errors"]
    assert states["vanilla"]["state"] == "done"
    storage = optuna.storages.JournalStorage(
        optuna.storages.journal.JournalFileBackend(str(runs / "crash" / "optuna.journal"))
    )
    study = optuna.load_study(study_name="crash/crash/MUTAG/MLP#seed0", storage=storage)
    assert all(t.user_attrs["error"] == "RuntimeError: boom" for t in study.trials)
    assert not any(t.user_attrs.get("env_error") for t in study.trials)
    run_sweep(str(path), device="cpu", track=False)  # a method's failure counts: not retried
    assert len(optuna.load_study(study_name=study.study_name, storage=storage).trials) == 2
    run_sweep(str(path), device="cpu", track=False, retry_failed=True)  # unless asked
    again = optuna.load_study(study_name=study.study_name, storage=storage).trials
    assert len(again) == 4 and {t.user_attrs.get("retry_of") for t in again[2:]} == {0, 1}
    assert again[2].params == study.trials[0].params
    assert status_rows(str(path), None)[0]["failed"] == 4  # the retries failed in turn


def test_a_trial_whose_heartbeat_stopped_is_failed_and_retried_once(monkeypatch):
    from benchmark.runner.storage import reap_stale

    monkeypatch.setenv("KDBENCH_STALE_SECONDS", "60")
    study = optuna.create_study()
    dead = study.ask({"x": optuna.distributions.FloatDistribution(0, 1)})
    dead.set_user_attr("owner", "another-host:123")
    dead.set_user_attr("beat", time.time() - 3600)
    alive = study.ask({"x": optuna.distributions.FloatDistribution(0, 1)})
    alive.set_user_attr("owner", "another-host:456")
    alive.set_user_attr("beat", time.time())
    assert reap_stale(study) == 1
    assert reap_stale(study) == 0  # retried once only
    states = {t.number: t.state.name for t in study.trials}
    assert states[dead.number] == "FAIL" and states[alive.number] == "RUNNING"
    retry = [t for t in study.trials if t.user_attrs.get("retry_of") == dead.number]
    assert len(retry) == 1 and retry[0].state.name == "WAITING"
    again = study.ask()  # the retry is popped first, with the dead trial's parameters
    assert again.user_attrs["retry_of"] == dead.number
    assert again.suggest_float("x", 0, 1) == dead.params["x"]


def test_ltd_paper_sweep_matches_the_paper_grid_but_for_split_and_seeds():
    """sweeps/ltd_paper.yaml repeats paper.yaml's LTD entry on the fixed split: same cells
    (but for the protocol), same trial budget and search spaces."""
    root = os.path.join(os.path.dirname(__file__), "..", "sweeps")
    paper, fixed = (load_sweep(os.path.join(root, f)) for f in ("paper.yaml", "ltd_paper.yaml"))
    methods = ["vanilla", "kd", "ltd", "ltd_fo"]
    for m in methods:
        assert fixed.search_spaces[m] == paper.search_spaces[m]
    assert fixed.budget.trials == paper.budget.trials
    assert fixed.budget.tuning_seeds == [0] and fixed.budget.final_seeds == [0]
    ltd_cells = {
        c.key.split("/", 1)[1].replace("protocol=ltd/", "")
        for c in expand(paper)
        if c.protocol == "ltd"
    }
    fixed_cells = {c.key.split("/", 1)[1].replace("protocol=ltd_fixed/", "") for c in expand(fixed)}
    assert fixed_cells == ltd_cells and len(fixed_cells) == 40


def test_a_tuned_fold_cell_is_tuned_per_fold_with_its_teacher_tuned_per_fold(runs, tmp_path):
    """kd MLP ← GCN on MUTAG (10-fold CV), 3 trials: one study per fold for the student and
    one for its teacher; each trial trains and validates on its own fold only; final seed r
    runs the best trial of study r, with the teacher of study r's best trial; status and the
    final runs' tags say so."""
    from benchmark.artifacts import ArtifactCache
    from benchmark.runner.cellrun import cell_params

    path = write(
        tmp_path,
        name="nested",
        budget={"trials": 3, "tuning_seeds": [0], "final_seeds": [0, 1], "epochs": 3},
        grid=[
            {"methods": ["kd"], "datasets": ["MUTAG"], "backbones": ["MLP"], "teachers": ["GCN"]}
        ],
        search_spaces={
            "vanilla": {"lr": {"type": "float", "low": 0.001, "high": 0.05, "log": True}},
            "kd": {"kd_weight": {"type": "float", "low": 0.1, "high": 10.0, "log": True}},
        },
    )
    teacher, student = cells = run_sweep(str(path), device="cpu")
    storage = optuna.storages.JournalStorage(
        optuna.storages.journal.JournalFileBackend(str(runs / "nested" / "optuna.journal"))
    )
    best = {}
    for cell in cells:
        for seed in (0, 1):
            study = optuna.load_study(study_name=tuning_study_name(cell, seed), storage=storage)
            assert len(study.trials) == 3
            assert all(t.user_attrs["seeds"] == [seed] for t in study.trials)  # its fold only
            best[cell.key, seed] = study.best_trial.params
    rows = {r["cell"]: r for r in status_rows(str(path), None)}
    for cell in cells:
        r = rows[cell.key]
        assert (r["state"], r["selection"], r["kind"], r["trials"], r["tuned"]) == (
            "done",
            "nested",
            "honest",
            "6/6",
            "2/2",
        )
        assert [(s["seed"], s["params"]) for s in r["per_seed"]] == [
            (0, best[cell.key, 0]),
            (1, best[cell.key, 1]),
        ]
    import mlflow

    mlflow.set_tracking_uri(f"sqlite:///{runs / 'mlflow.db'}")
    finals = mlflow.search_runs(experiment_names=["nested"], filter_string="tags.stage = 'final'")
    for _, run in finals.iterrows():
        seed = int(run["tags.seed"])
        cell = next(c for c in cells if c.key == run["tags.cell"])
        assert run["tags.selection"] == "nested" and run["tags.protocol_kind"] == "honest"
        assert run["tags.protocol"] == "tu_10fold" and run["tags.tuning_seeds"] == f"[{seed}]"
        for k, v in best[cell.key, seed].items():
            assert float(run[f"params.{k}"]) == pytest.approx(v)
    env = type("E", (), {"sweep": load_sweep(path)})()
    teachers = {
        b["key"]["seed"]: b["key"]["params"] for b in ArtifactCache(runs / "artifacts").builds()
    }
    assert sorted(teachers) == [0, 1]  # one teacher per fold ...
    for seed in (0, 1):  # ... with the parameters tuned on that fold
        assert teachers[seed] == cell_params(env, teacher, best[teacher.key, seed])
    assert student.teacher == "GCN"


def test_status_prints_whole_cell_keys_that_cells_takes_verbatim(smoke_runs, monkeypatch, capsys):
    """However narrow the terminal, `kdbench status` never cuts a key, and a printed key given
    to `--cells` selects exactly that cell; `--seeds` lists each fold's study."""
    from pathlib import Path

    from benchmark.cli import main

    monkeypatch.setenv("KDBENCH_RUNS", str(smoke_runs))
    monkeypatch.setenv("COLUMNS", "60")
    smoke = str(Path(__file__).parents[1] / "sweeps" / "smoke.yaml")
    keys = [c.key for c in expand(load_sweep(smoke))]
    assert main(["status", smoke]) == 0
    out = capsys.readouterr().out
    assert all(k in out for k in keys), out
    assert main(["status", smoke, "--cells", keys[0], "--seeds"]) == 0
    out = capsys.readouterr().out
    assert keys[0] in out and not any(k in out for k in keys[1:])
    assert "seed 0" in out and "seed 1" in out and "nested" in out


def test_without_the_mirror_every_cell_fails_and_with_it_the_same_command_finishes(
    runs, tmp_path, monkeypatch
):
    """A newcomer's first session: `kdbench run sweeps/smoke.yaml` before setting
    KDBENCH_MIRROR (and without internet) fails every cell with a DataError; once it is set,
    the same command trains the failed trials again and finishes every cell."""
    from pathlib import Path

    from benchmark.cli import main
    from benchmark.data import fetch

    def offline(url, folder, dead_hosts):
        raise fetch._Unreachable(f"could not reach {url} (no network in this test)")

    smoke = str(Path(__file__).parents[1] / "sweeps" / "smoke.yaml")
    mirror = os.environ["KDBENCH_MIRROR"]
    monkeypatch.setenv("KDBENCH_DATA", str(tmp_path / "fresh-data"))
    monkeypatch.delenv("KDBENCH_MIRROR")
    monkeypatch.setattr(fetch, "_download", offline)
    assert main(["run", smoke, "--device", "cpu", "--no-track"]) == 1
    rows = status_rows(smoke, None)
    assert [r["state"] for r in rows] == ["failed"] * 4
    assert all(r["errors"] and r["errors"][0].startswith("DataError") for r in rows)

    monkeypatch.setenv("KDBENCH_MIRROR", mirror)
    assert main(["run", smoke, "--device", "cpu", "--no-track"]) == 0
    rows = status_rows(smoke, None)
    assert [r["state"] for r in rows] == ["done"] * 4 and not any(r["errors"] for r in rows)
    assert [r["trials"] for r in rows] == ["6/6", "6/6", "3/3", "3/3"]  # the budget is whole


def test_an_untuned_entry_runs_its_defaults_without_tuning(runs, tmp_path):
    """`trials: 1` on an entry: no tuning study runs; every final seed trains the defaults."""
    path = write(
        tmp_path,
        name="untuned",
        grid=[{"methods": ["vanilla"], "datasets": ["MUTAG"], "backbones": ["MLP"], "trials": 1}],
    )
    (cell,) = run_sweep(str(path), device="cpu", track=False)
    assert cell.key == "untuned/vanilla/MUTAG/MLP/trials=1"
    (row,) = status_rows(str(path), None)
    assert (row["state"], row["selection"], row["trials"], row["final"]) == (
        "done",
        "none",
        "0/0",
        "2/2",
    )


@pytest.mark.parametrize(
    ("exc", "environment"),
    [
        (KdbenchError("bad value"), False),
        (RuntimeError("boom"), False),
        (ValueError("validation score is nan"), False),
        (MemoryError(), True),
        (OSError(28, "No space left on device"), True),
        (ConnectionError("reset"), True),
    ],
)
def test_environment_failures_are_told_apart_from_the_methods(exc, environment):
    import torch

    from benchmark.errors import DataError
    from benchmark.runner.cellrun import is_environment_error

    assert is_environment_error(exc) is environment
    assert is_environment_error(DataError("MUTAG: cannot get ..."))
    assert is_environment_error(torch.OutOfMemoryError("CUDA out of memory"))


def test_a_study_tuned_over_other_names_than_the_space_has_now_is_refused(runs, tmp_path):
    """A parameter renamed in the space (LAD-GNN's `alpha` → `distill_weight`) leaves a study
    whose best values carry the old name: the final seeds refuse it in one line, naming it."""
    from benchmark.runner.cellrun import best_params
    from benchmark.runner.launch import make_env

    path = write(
        tmp_path,
        name="renamed",
        budget={"trials": 2, "tuning_seeds": [0], "final_seeds": [0], "epochs": 2},
    )
    run_sweep(str(path), device="cpu", track=False)
    space = {"weight_decay": {"type": "float", "low": 1e-5, "high": 1e-3, "log": True}}
    path = write(
        tmp_path,
        name="renamed",
        search_spaces={"vanilla": space},
        budget={"trials": 2, "tuning_seeds": [0], "final_seeds": [0], "epochs": 2},
    )
    sweep = load_sweep(str(path))
    (cell,) = expand(sweep)
    env = make_env(sweep, None, "cpu", track=False)
    with pytest.raises(KdbenchError, match=r"now differs in lr, weight_decay \(renamed"):
        best_params(env, cell, 0)
