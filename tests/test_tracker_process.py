"""The tracker in a child process (``kdbench fit``) writes what the in-process one writes,
and loses nothing when its process dies."""

from __future__ import annotations

import os
import signal

import pytest

from benchmark.errors import KdbenchError
from benchmark.tracking import spool_dir
from benchmark.tracking_process import TrackerProcess


def _runs(uri: str, experiment: str) -> dict[str, object]:
    from mlflow.tracking import MlflowClient

    client = MlflowClient(uri)
    exp = client.get_experiment_by_name(experiment)
    return {r.info.run_name: r for r in client.search_runs([exp.experiment_id])}


def test_the_child_writes_parent_and_seed_runs(tmp_path, monkeypatch):
    monkeypatch.setenv("KDBENCH_RUNS", str(tmp_path / "runs"))
    uri = f"sqlite:///{tmp_path}/mlflow.db"
    notes: list[str] = []
    with TrackerProcess(uri, notify=notes.append) as tracker:
        tracker.open("fit")
        parent = tracker.start("cell", {"stage": "fit", "seed": 3})
        tracker.log(parent, params={"lr": 0.01})
        for seed in (0, 1):
            tracker.record(
                f"seed{seed}",
                {"stage": "fit", "seed": seed},
                parent,
                params={"lr": 0.01},
                metrics={"test": 0.5 + seed, "none": None},
                curves={"val_curve": [0.1, 0.2, 0.3]},
            )
        tracker.finish(parent)
        tracker.log(parent, metrics={"test_mean": 1.0})
    assert tracker._proc.exitcode == 0 and not notes
    runs = _runs(uri, "fit")
    assert set(runs) == {"cell", "seed0", "seed1"}
    cell = runs["cell"]
    assert cell.data.metrics == {"test_mean": 1.0} and cell.info.status == "FINISHED"
    assert cell.data.tags["seed"] == "3"
    for seed in (0, 1):
        run = runs[f"seed{seed}"]
        assert run.data.tags["mlflow.parentRunId"] == parent and run.data.params == {"lr": "0.01"}
        assert run.data.metrics == {"test": 0.5 + seed, "val_curve": 0.3}
        assert run.info.status == "FINISHED"


def test_a_store_that_cannot_open_fails_at_start(tmp_path, monkeypatch):
    monkeypatch.setenv("KDBENCH_RUNS", str(tmp_path / "runs"))
    with TrackerProcess("http://127.0.0.1:9") as tracker:
        tracker.open("fit")
        with pytest.raises(KdbenchError, match="unreachable"):
            tracker.start("cell", {})


def test_records_the_dead_child_never_wrote_are_spooled(tmp_path, monkeypatch):
    monkeypatch.setenv("KDBENCH_RUNS", str(tmp_path / "runs"))
    uri = f"sqlite:///{tmp_path}/mlflow.db"
    notes: list[str] = []
    tracker = TrackerProcess(uri, notify=notes.append)
    tracker.open("fit")
    parent = tracker.start("cell", {})
    os.kill(tracker._proc.pid, signal.SIGKILL)
    tracker._proc.join()
    tracker.record("seed0", {"seed": 0}, parent, metrics={"test": 0.7})
    tracker.close()
    spooled = list(spool_dir().glob("*.json"))
    assert len(spooled) == 1 and "seed0" in notes[-1] and "kept in" in notes[-1]
    with TrackerProcess(uri, notify=notes.append) as again:  # the next tracker replays it
        again.open("fit")
        again.start("next", {})
    assert not list(spool_dir().glob("*.json")) and "replayed 1" in " ".join(notes)
    assert _runs(uri, "fit")["seed0"].data.metrics == {"test": 0.7}


def test_a_bad_argument_stops_the_child_without_writing(tmp_path, monkeypatch):
    monkeypatch.setenv("KDBENCH_RUNS", str(tmp_path / "runs"))
    with pytest.raises(ValueError), TrackerProcess(f"sqlite:///{tmp_path}/mlflow.db") as tracker:
        raise ValueError("bad --seeds")
    assert tracker._proc.exitcode is not None and not (tmp_path / "mlflow.db").exists()


def test_the_tags_fit_sends_are_plain_values():
    """The tracking process unpickles every tag: a torch object among them (``torch.__version__``
    is a str subclass of torch's) would make it import torch, about a second that
    ``kdbench fit`` waits for before training."""
    import torch

    from benchmark.tracking import provenance_tags

    tags = provenance_tags("vanilla", "MUTAG", "GCN", None, "p", "accuracy", config={"a": 1},
                           device=torch.device("cpu"))  # fmt: skip
    assert {type(v) for v in tags.values()} <= {str, int, float, bool}
