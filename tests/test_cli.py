"""The command line as a user meets it: listings, a real fit logged to MLflow, bad input."""

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from benchmark.cli import main
from benchmark.cli.options import parse_overrides, parse_seeds
from benchmark.errors import KdbenchError


@pytest.fixture
def env(runs):
    return runs.parent


def run(capsys, *argv):
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def fit_error(capsys, monkeypatch, mirror, tmp_path, dataset, backbone) -> str:
    """Fit with ``mirror`` and an empty data root; the one error line (exit status 2)."""
    monkeypatch.setenv("KDBENCH_MIRROR", str(mirror))
    monkeypatch.setenv("KDBENCH_DATA", str(tmp_path / "fresh-root"))
    monkeypatch.setenv("KDBENCH_TIMEOUT", "2")
    code, _, err = run(
        capsys,
        "fit",
        "--method",
        "vanilla",
        "--dataset",
        dataset,
        "--backbone",
        backbone,
        "--no-track",
    )
    lines = err.strip().splitlines()
    assert code == 2 and len(lines) == 1 and lines[0].startswith("error:"), err
    return lines[0]


def test_seed_and_override_parsing():
    assert parse_seeds("0-9") == list(range(10))
    assert parse_seeds("0,3,5") == [0, 3, 5]
    assert parse_overrides(["hidden=64", "lr=1e-2", "norm=batch"]) == {
        "hidden": 64,
        "lr": 0.01,
        "norm": "batch",
    }
    for bad in ("a-b", "3,3", ""):
        with pytest.raises(KdbenchError):
            parse_seeds(bad)
    with pytest.raises(KdbenchError, match="key=value"):
        parse_overrides(["hidden"])


@pytest.mark.parametrize("command", ["fit", "tune", "pretrain"])
def test_both_set_spellings_give_the_same_overrides(command):
    """``--set a=1 b=2`` and ``--set a=1 --set b=2`` (and a mix) are one list of overrides, as
    each command reads them; a key given twice with two values is an error."""
    from benchmark.cli import build_parser
    from benchmark.cli.grid import tune_sweep
    from benchmark.cli.pretrain import pretrain_config

    head = {
        "fit": ["fit", "--method", "vanilla", "--dataset", "MUTAG", "--backbone", "GCN"],
        "tune": ["tune", "--method", "vanilla", "--dataset", "MUTAG", "--backbone", "GCN"],
        "pretrain": ["pretrain", "--strategy", "attrmask"],
    }[command]
    pairs = {
        "fit": ["epochs=30", "lr=0.02", "hidden=16"],
        "tune": ["epochs=30", "patience=5", "hidden=16"],
        "pretrain": ["mask_rate=0.2", "hidden=64", "layers=3"],
    }[command]

    def read(*tail: str):
        args = build_parser().parse_args([*head, *tail])
        if command == "tune":
            return tune_sweep(args)["grid"][0]["fixed"]
        if command == "pretrain":
            cfg = pretrain_config(args)
            return cfg.arch, cfg.strategy_params
        return parse_overrides(args.set)

    one = read("--set", *pairs)
    assert one == read(*(x for p in pairs for x in ("--set", p)))
    assert one == read("--set", pairs[0], "--set", *pairs[1:])
    assert one == read("--set", *pairs, "--set", pairs[0])  # the same value twice: fine
    flat = {k: v for d in (one if command == "pretrain" else (one,)) for k, v in d.items()}
    for p in pairs:  # every override reached the command
        key = p.split("=")[0]
        assert flat[key] == parse_overrides([p])[key]
    key = pairs[0].split("=")[0]
    with pytest.raises(KdbenchError, match=f"--set {key} is given twice") as exc:
        read("--set", *pairs, "--set", f"{key}=7")
    assert "\n" not in str(exc.value)


def test_a_conflicting_set_is_one_error_line(capsys):
    code, _, err = run(
        capsys,
        "fit",
        "--method",
        "vanilla",
        "--dataset",
        "MUTAG",
        "--backbone",
        "MLP",
        "--set",
        "epochs=3",
        "--set",
        "epochs=5",
        "--no-track",
    )
    lines = err.strip().splitlines()
    assert code == 2 and len(lines) == 1 and "--set epochs is given twice" in lines[0], err


def test_methods_and_datasets_listings(capsys, env):
    code, out, _ = run(capsys, "methods", "--json")
    rows = {r["name"]: r for r in json.loads(out)}
    assert code == 0 and rows["vanilla"]["tasks"] == ["node", "graph"]
    assert rows["vanilla"]["needs_teacher"] is False and rows["vanilla"]["description"]
    code, out, _ = run(capsys, "datasets", "--json")
    rows = {r["name"]: r for r in json.loads(out)}
    assert code == 0 and rows["Cora"]["available"] in ("mirror", "data root")
    assert rows["MUTAG"]["protocol"] == "tu_10fold"


def test_fit_on_real_mutag_logs_to_mlflow_and_prints_json_last(capsys, env):
    code, out, err = run(
        capsys,
        "fit",
        "--method",
        "vanilla",
        "--dataset",
        "MUTAG",
        "--backbone",
        "GIN",
        "--seeds",
        "0,1",
        "--set",
        "epochs=3",
        "hidden=16",
        "--json",
    )
    assert code == 0, err
    summary = json.loads(out.strip().splitlines()[-1])
    assert summary["method"] == "vanilla" and summary["seeds"] == [0, 1]
    assert summary["params"]["hidden"] == 16 and len(summary["test"]) == 2
    assert summary["test_std"] is not None and "test =" in err

    import mlflow

    mlflow.set_tracking_uri(f"sqlite:///{env / 'runs' / 'mlflow.db'}")
    runs = mlflow.search_runs(experiment_names=["fit"])
    seeds = runs[runs["tags.seed"].notna()]
    assert sorted(seeds["tags.seed"]) == ["0", "1"]
    assert set(seeds["tags.dataset"]) == {"MUTAG"} and seeds["metrics.test"].notna().all()
    parent = runs[runs["tags.seed"].isna()].run_id.iloc[0]
    assert (seeds["tags.mlflow.parentRunId"] == parent).all()
    assert {"tags.git_sha", "tags.config_hash", "tags.hardware"} <= set(runs.columns)


@pytest.mark.parametrize(
    ("argv", "needle"),
    [
        (["--method", "vanila", "--dataset", "Cora", "--backbone", "GCN"], "mean 'vanilla'"),
        (["--method", "vanilla", "--dataset", "Coraa", "--backbone", "GCN"], "unknown dataset"),
        (["--method", "vanilla", "--dataset", "Cora", "--backbone", "GNC"], "unknown backbone"),
        (
            ["--method", "vanilla", "--dataset", "Cora", "--backbone", "GCN", "--set", "hiden=3"],
            "unknown hyper-parameter",
        ),
        (
            ["--method", "vanilla", "--dataset", "Cora", "--backbone", "GCN", "--device", "cuda:7"],
            "cuda",
        ),
    ],
)
def test_bad_input_is_one_line_and_exit_2(capsys, env, argv, needle):
    code, _, err = run(capsys, "fit", *argv, "--no-track")
    assert code == 2
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error:") and needle in lines[0]


def test_missing_data_names_the_file_and_the_mirror(capsys, env, tmp_path, monkeypatch):
    line = fit_error(capsys, monkeypatch, tmp_path / "empty-mirror", tmp_path, "Cora", "GCN")
    assert "ind.cora" in line and "empty-mirror" in line


def test_unreachable_tracking_server_fails_fast(capsys, env, monkeypatch):
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "http://127.0.0.1:9")
    code, _, err = run(
        capsys,
        "fit",
        "--method",
        "vanilla",
        "--dataset",
        "Cora",
        "--backbone",
        "GCN",
        "--seeds",
        "0",
        "--set",
        "epochs=1",
    )
    assert code == 2 and "unreachable" in err and "--no-track" in err


@pytest.mark.skipif(
    shutil.which("kdbench") is None and not (Path(sys.executable).parent / "kdbench").exists(),
    reason="console script not installed",
)
def test_console_script_reports_errors_with_exit_code_2():
    exe = shutil.which("kdbench") or str(Path(sys.executable).parent / "kdbench")
    proc = subprocess.run(
        [exe, "fit", "--method", "nope", "--dataset", "Cora", "--backbone", "GCN"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 2 and proc.stderr.startswith("error: unknown method 'nope'")


def test_corrupt_file_names_the_file_and_the_fix(capsys, env, tmp_path, monkeypatch, real_mirror):
    import shutil as sh

    mirror = tmp_path / "mirror"
    sh.copytree(real_mirror / "TUDataset" / "MUTAG", mirror / "TUDataset" / "MUTAG")
    (mirror / "TUDataset" / "MUTAG" / "raw" / "MUTAG_A.txt").write_text("1, 2\n")
    line = fit_error(capsys, monkeypatch, mirror, tmp_path, "MUTAG", "GIN")
    assert "MUTAG_A.txt" in line and "sha256" in line


HEAVY = ("torch", "torch_geometric", "optuna", "mlflow", "streamlit")


@pytest.mark.parametrize("argv", [None, ["--help"], ["fit", "--help"], ["run", "--help"]])
def test_the_cli_starts_without_torch(argv):
    """Importing the CLI, building its parser and printing help import none of torch, PyG,
    Optuna, MLflow or Streamlit (each command imports them when it runs): `kdbench --help`
    starts at once."""
    call = "build_parser()" if argv is None else f"main({argv!r})"
    code = (
        "import sys\nfrom benchmark.cli import build_parser, main\ntry:\n    "
        + call
        + "\nexcept SystemExit:\n    pass\n"
        f"print([m for m in {HEAVY!r} if m in sys.modules])"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True
    )
    assert proc.stdout.strip().splitlines()[-1] == "[]", proc.stdout


def _options(command: str) -> set[str]:
    import argparse

    from benchmark.cli import build_parser

    sub = next(a for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction))
    return set(sub.choices[command]._option_string_actions)


@pytest.mark.parametrize(
    "command", ["fit", "run", "worker", "tune", "export", "slurm", "leaderboard"]
)
def test_one_spelling_of_the_tracking_uri(command):
    opts = _options(command)
    assert "--tracking-uri" in opts and "--tracking" not in opts


@pytest.mark.parametrize("command", ["fit", "run", "worker", "tune", "pretrain"])
def test_every_training_command_takes_threads_and_device(command):
    assert {"--threads", "--device"} <= _options(command)


def test_process_options_set_threads_and_the_store_once(monkeypatch):
    import argparse

    import torch

    from benchmark.cli.options import apply_process_options

    before = torch.get_num_threads()
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "sqlite:///elsewhere.db")  # restored after
    try:
        apply_process_options(argparse.Namespace(threads=1, tracking_uri="http://h:5000"))
        assert torch.get_num_threads() == 1
        assert os.environ["MLFLOW_TRACKING_URI"] == "http://h:5000"
    finally:
        torch.set_num_threads(before)


def test_frozen_imports_freeze_what_they_load_and_restore_the_collector():
    """Inside the block the collector is off; after it, what the block made is frozen (never
    scanned again), the collector is as it was, and a later block first collects the garbage
    made since (none of it is frozen)."""
    import gc
    import weakref

    from benchmark.cli.options import frozen_imports

    class Node:
        pass

    enabled = gc.isenabled()
    before = gc.get_freeze_count()
    try:
        with frozen_imports():
            assert not gc.isenabled()
            kept = [Node() for _ in range(100)]
        assert gc.isenabled() == enabled
        assert gc.get_freeze_count() >= before + len(kept)
        cycle = Node()
        cycle.self = cycle  # garbage only the collector can free
        gone = weakref.ref(cycle)
        del cycle
        with frozen_imports():
            pass
        assert gone() is None
    finally:
        gc.unfreeze()  # the rest of the test process is collected as usual again
        if enabled:
            gc.enable()


def test_fit_of_a_distillation_method_prints_and_tags_its_teacher(capsys, env, monkeypatch):
    """`kdbench fit --method kd` trains the teacher (here capped at 2 epochs), prints each
    seed's teacher validation score and tags the runs with the teacher and its score."""
    from benchmark import fitting

    default = fitting.default_dependency_params
    monkeypatch.setattr(
        fitting, "default_dependency_params", lambda *a: {**default(*a), "epochs": 2}
    )
    code, out, err = run(
        capsys,
        "fit",
        "--method",
        "kd",
        "--dataset",
        "MUTAG",
        "--backbone",
        "MLP",
        "--teacher",
        "GCN",
        "--seeds",
        "0",
        "--set",
        "epochs=2",
        "--json",
    )
    assert code == 0, err
    summary = json.loads(out.strip().splitlines()[-1])
    assert summary["teacher"] == "GCN" and len(summary["teacher_val"]) == 1
    teacher_val = summary["teacher_val"][0]
    assert 0.0 <= teacher_val <= 1.0
    assert "seed 0: teacher GCN val" in err and "teacher val" in err

    import mlflow

    mlflow.set_tracking_uri(f"sqlite:///{env / 'runs' / 'mlflow.db'}")
    runs = mlflow.search_runs(experiment_names=["fit"])
    assert set(runs["tags.teacher"]) == {"GCN"}
    seed = runs[runs["tags.seed"].notna()].iloc[0]
    assert float(seed["tags.teacher_val"]) == pytest.approx(teacher_val)
