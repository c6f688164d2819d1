"""Scale-out: the grid on a real PostgreSQL (a throwaway server from ``conftest_pg``) with
several workers, a worker killed mid-trial, and one-line errors with masked passwords."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import optuna
import pytest
from optuna.trial import TrialState

from benchmark.errors import KdbenchError
from benchmark.runner.cellrun import tuning_study_name
from benchmark.runner.launch import run_sweep
from benchmark.runner.storage import make_storage
from benchmark.runner.sweep import expand, load_sweep
from benchmark.urls import mask
from tests.test_runner import write


def finals(storage, cells) -> dict[str, list[int]]:
    """cell → the seeds of its COMPLETE final trials (sorted, duplicates kept)."""
    out = {}
    for cell in cells:
        study = optuna.load_study(study_name=cell.key + "#final", storage=storage)
        out[cell.key] = sorted(
            t.user_attrs["seed"] for t in study.trials if t.state == TrialState.COMPLETE
        )
    return out


def test_mask_hides_passwords_in_every_kind_of_url():
    assert (
        mask("postgresql+psycopg2://kd:pa:ss@db:5432/x") == "postgresql+psycopg2://kd:***@db:5432/x"
    )
    assert mask("http://u:p@host:5000") == "http://u:***@host:5000"
    assert mask("sqlite:///runs/optuna.db") == "sqlite:///runs/optuna.db"
    assert mask("postgresql://kd@db/x") == "postgresql://kd@db/x"


def test_bad_storage_urls_are_one_line_with_the_password_masked(postgres, tmp_path):
    pw = str(postgres["password"])
    port = postgres["port"]
    cases = [
        ("postgresql+psycopg2//postgres:hunter2@127.0.0.1/kdbench", "malformed storage URL"),
        (
            f"postgresql+psycopg2://postgres:hunter2@127.0.0.1:{port + 1}/kdbench",
            "cannot reach the database server at 127.0.0.1",
        ),
        (
            f"postgresql+psycopg2://postgres:hunter2@127.0.0.1:{port}/kdbench",
            "wrong user or password",
        ),
        (
            f"postgresql+psycopg2://postgres:{pw}@127.0.0.1:{port}/nosuchdb",
            "database 'nosuchdb' does not exist",
        ),
    ]
    for url, needle in cases:
        with pytest.raises(KdbenchError) as err:
            make_storage(url, tmp_path)
        msg = str(err.value)
        assert needle in msg and "\n" not in msg, msg
        assert "hunter2" not in msg and pw not in msg and ":***@" in msg, msg


@pytest.mark.usefixtures("runs")
def test_three_workers_on_postgres_give_the_one_worker_final_set(pg_database, tmp_path):
    path = write(
        tmp_path,
        name="pg3",
        budget={"trials": 2, "tuning_seeds": [0], "final_seeds": [0, 1, 2], "epochs": 3},
        grid=[{"methods": ["vanilla"], "datasets": ["MUTAG"], "backbones": ["MLP", "GCN"]}],
    )
    cells = run_sweep(str(path), workers=1, device="cpu", track=False)
    from benchmark.tracking import runs_dir

    embedded = finals(make_storage(None, runs_dir() / "pg3"), cells)
    run_sweep(str(path), workers=3, storage_url=pg_database, device="cpu", track=False)
    on_pg = finals(make_storage(pg_database, tmp_path), cells)
    assert on_pg == embedded == {c.key: [0, 1, 2] for c in cells}


@pytest.mark.usefixtures("runs")
def test_a_worker_killed_mid_trial_on_postgres_is_retried_without_duplicates(pg_database, tmp_path):
    path = write(
        tmp_path,
        name="pgkill",
        budget={"trials": 2, "tuning_seeds": [0], "final_seeds": [0, 1], "epochs": 100},
        fixed={"vanilla": {"patience": None}},
    )
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    cmd = [
        sys.executable,
        "-m",
        "benchmark.cli",
        "run",
        str(path),
        "--device",
        "cpu",
        "--threads",
        "1",
        "--storage",
        pg_database,
        "--no-track",
    ]
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    key = tuning_study_name(expand(load_sweep(path))[0], 0)  # MUTAG: per fold
    deadline, killed = time.time() + 120, None
    while time.time() < deadline and killed is None:
        time.sleep(0.5)
        try:
            study = optuna.load_study(study_name=key, storage=pg_database)
        except (KeyError, Exception):  # not created yet
            continue
        running = [
            t for t in study.trials if t.state == TrialState.RUNNING and "owner" in t.user_attrs
        ]
        if running:
            killed = running[0].number
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    assert killed is not None, "no trial started within 120 s"
    cells = run_sweep(str(path), storage_url=pg_database, device="cpu", track=False)
    study = optuna.load_study(study_name=key, storage=pg_database)
    assert study.trials[killed].state == TrialState.FAIL
    retried = [t for t in study.trials if t.user_attrs.get("retry_of") == killed]
    assert len(retried) == 1 and retried[0].state == TrialState.COMPLETE
    assert finals(make_storage(pg_database, tmp_path), cells) == {c.key: [0, 1] for c in cells}


def test_an_unreachable_tracking_server_is_one_line_with_the_password_masked():
    from benchmark.tracking import check_reachable

    with pytest.raises(KdbenchError) as err:
        check_reachable("http://kd:hunter2@127.0.0.1:9/", timeout=2)
    assert "unreachable" in str(err.value) and "hunter2" not in str(err.value)
    assert "kd:***@127.0.0.1" in str(err.value)


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_served_store_down_mid_run_spools_the_result_and_replays_it(tmp_path, monkeypatch):
    from mlflow.tracking import MlflowClient

    from benchmark.cli.serve import start_server, stop_server
    from benchmark.tracking import Tracker, spool_dir

    monkeypatch.setenv("KDBENCH_RUNS", str(tmp_path / "runs"))
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")  # fail fast while it is down
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_TIMEOUT", "5")
    backend, art, port = f"sqlite:///{tmp_path}/mlflow.db", str(tmp_path / "art"), _free_port()
    url = f"http://127.0.0.1:{port}"
    proc = start_server(backend, art, port=port)
    try:
        tracker = Tracker("spooled", url)
        assert tracker.record("a", {"stage": "final"}, metrics={"test": 0.5}) is not None
    finally:
        stop_server(proc)
    with pytest.raises(ProcessLookupError):  # the whole process group is gone
        os.killpg(proc.pid, 0)
    assert tracker.record("b", {"stage": "final"}, metrics={"test": 0.7}) is None
    assert len(list(spool_dir().glob("*.json"))) == 1
    proc = start_server(backend, art, port=port)
    try:
        assert tracker.record("c", {"stage": "final"}) is not None  # back: replays "b" too
        runs = MlflowClient(url).search_runs([tracker.experiment_id])
        finished = sorted(r.info.run_name for r in runs if r.info.status == "FINISHED")
        assert finished == ["a", "b", "c"]
        assert [r.data.metrics["test"] for r in runs if r.info.run_name == "b"] == [0.7]
        assert not list(spool_dir().glob("*.json"))
    finally:
        stop_server(proc)


def test_serve_refuses_a_backend_that_is_not_a_database(tmp_path):
    from benchmark.cli.serve import start_server

    with pytest.raises(KdbenchError, match="expected a database URL") as err:
        start_server("http://kd:hunter2@host:5000", str(tmp_path))
    assert "hunter2" not in str(err.value)


@pytest.mark.usefixtures("runs")
def test_a_database_restart_mid_sweep_is_ridden_out(postgres, pg_database, tmp_path):
    path = write(
        tmp_path,
        name="pgrestart",
        budget={"trials": 3, "tuning_seeds": [0], "final_seeds": [0, 1], "epochs": 60},
        fixed={"vanilla": {"patience": None}},
    )
    env = {**os.environ, "PYTHONUNBUFFERED": "1", "KDBENCH_STALE_SECONDS": "5"}
    cmd = [
        sys.executable,
        "-m",
        "benchmark.cli",
        "run",
        str(path),
        "--device",
        "cpu",
        "--threads",
        "1",
        "--storage",
        pg_database,
        "--no-track",
    ]
    proc = subprocess.Popen(
        cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True
    )
    key = tuning_study_name(expand(load_sweep(path))[0], 0)  # MUTAG: per fold
    deadline, started = time.time() + 120, False
    while time.time() < deadline and not started:
        time.sleep(0.5)
        try:
            study = optuna.load_study(study_name=key, storage=pg_database)
            started = any(t.state == TrialState.RUNNING for t in study.trials)
        except Exception:  # not created yet
            continue
    assert started, "no trial started within 120 s"
    subprocess.run(postgres["stop"], check=True, capture_output=True)
    time.sleep(4)  # the worker meets the outage
    subprocess.run(postgres["start"], check=True, capture_output=True)
    _, err = proc.communicate(timeout=600)
    assert proc.returncode == 0, err[-2000:]
    assert "unreachable; retrying" in err and "s3cret" not in err
    cells = expand(load_sweep(path))
    assert finals(make_storage(pg_database, tmp_path), cells) == {c.key: [0, 1] for c in cells}


@pytest.mark.usefixtures("runs")
def test_slurm_array_of_workers_through_submitits_local_executor(tmp_path):
    from benchmark.cli import build_parser
    from benchmark.cli.slurm import submit

    pytest.importorskip("submitit")
    path = write(
        tmp_path,
        name="array",
        budget={"trials": 2, "tuning_seeds": [0], "final_seeds": [0, 1, 2], "epochs": 3},
        grid=[{"methods": ["vanilla"], "datasets": ["MUTAG"], "backbones": ["MLP", "GCN"]}],
    )
    args = build_parser().parse_args(
        [
            "slurm",
            str(path),
            "--array",
            "2",
            "--cluster",
            "local",
            "--device",
            "cpu",
            "--cpus-per-task",
            "1",
            "--no-track",
            "--folder",
            str(tmp_path / "jobs"),
        ]
    )
    jobs = submit(args)
    assert [job.result() for job in jobs] == [1, 2]
    from benchmark.tracking import runs_dir

    cells = expand(load_sweep(path))
    assert finals(make_storage(None, runs_dir() / "array"), cells) == {
        c.key: [0, 1, 2] for c in cells
    }


@pytest.mark.usefixtures("runs")
def test_a_tracking_server_restart_mid_sweep_loses_no_final_run(tmp_path):
    from mlflow.tracking import MlflowClient

    from benchmark.cli.serve import start_server, stop_server

    path = write(
        tmp_path,
        name="mlrestart",
        budget={"trials": 2, "tuning_seeds": [0], "final_seeds": [0, 1, 2], "epochs": 40},
        grid=[{"methods": ["vanilla"], "datasets": ["MUTAG"], "backbones": ["MLP", "GCN"]}],
    )
    backend, art, port = f"sqlite:///{tmp_path}/ml.db", str(tmp_path / "art"), _free_port()
    url = f"http://127.0.0.1:{port}"
    server = start_server(backend, art, port=port)
    env = {
        **os.environ,
        "PYTHONUNBUFFERED": "1",
        "MLFLOW_HTTP_REQUEST_MAX_RETRIES": "2",
        "MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR": "1",
    }
    cmd = [
        sys.executable,
        "-m",
        "benchmark.cli",
        "run",
        str(path),
        "--device",
        "cpu",
        "--threads",
        "1",
        "--tracking-uri",
        url,
    ]
    proc = subprocess.Popen(
        cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True
    )
    try:
        client = MlflowClient(url)
        deadline = time.time() + 120
        while time.time() < deadline:  # the first runs are in: restart the server under it
            exp = client.get_experiment_by_name("mlrestart")
            if exp and client.search_runs([exp.experiment_id], "tags.stage = 'final'"):
                break
            time.sleep(0.5)
        assert proc.poll() is None, "the sweep ended before the restart"
        stop_server(server)
        time.sleep(3)
        server = start_server(backend, art, port=port)
        _, err = proc.communicate(timeout=600)
        assert proc.returncode == 0, err[-2000:]
        exp = client.get_experiment_by_name("mlrestart")
        runs = client.search_runs(
            [exp.experiment_id], "tags.stage = 'final' and attributes.status = 'FINISHED'"
        )
        got = sorted((r.data.tags["cell"], r.data.tags["seed"]) for r in runs)
        cells = expand(load_sweep(path))
        assert got == sorted((c.key, str(s)) for c in cells for s in (0, 1, 2))
    finally:
        if proc.poll() is None:
            proc.kill()
        stop_server(server)
