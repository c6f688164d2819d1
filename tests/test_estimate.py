"""``kdbench status SWEEP --estimate``: a sweep's trainings counted and costed from the record."""

from __future__ import annotations

import json
from dataclasses import replace

import pytest

from benchmark.cli import main
from benchmark.runner.estimate import cost_of, estimate, fits_of, seed_costs, summary
from benchmark.runner.sweep import expand, load_sweep
from tests.test_runner import write


def record_cell(method, dataset, backbone, seconds, epochs_run=None):
    seeds = [{"seed": i, "train_seconds": t} for i, t in enumerate(seconds)]
    for s in seeds:
        if epochs_run:
            s["epochs_run"] = epochs_run
    return {"method": method, "dataset": dataset, "backbone": backbone, "seeds": seeds}


def test_trainings_per_cell_follow_the_selection(tmp_path):
    """Nested on a per-seed protocol: trials × final seeds + finals; shared on a shared
    partition: trials × tuning seeds + finals; untuned: the finals."""
    sweep = load_sweep(
        write(
            tmp_path,
            budget={"trials": 4, "tuning_seeds": [0, 1, 2], "final_seeds": [0, 1]},
            grid=[
                {"methods": ["vanilla"], "datasets": ["MUTAG", "Cora"], "backbones": ["MLP"]},
                {"methods": ["vanilla"], "datasets": ["MUTAG"], "backbones": ["GCN"], "trials": 1},
            ],
        )
    )
    fits = {c.key: fits_of(sweep, c) for c in expand(sweep)}
    assert fits == {
        "t/vanilla/MUTAG/MLP": 2 + 4 * 2,
        "t/vanilla/Cora/MLP": 2 + 4 * 3,
        "t/vanilla/MUTAG/GCN/trials=1": 2,
    }


def test_costs_fall_back_level_by_level_and_scale_to_the_epoch_cap(tmp_path):
    record = [
        record_cell("vanilla", "MUTAG", "MLP", [1.0, 3.0, 2.0]),
        record_cell("vanilla", "MUTAG", "GCN", [10.0], epochs_run=100),
        record_cell("kd", "Cora", "GCN", [4.0]),
    ]
    costs = seed_costs(record)
    sweep = load_sweep(write(tmp_path))
    (cell,) = expand(sweep)
    assert cost_of(costs, cell) == (2.0, "method/dataset/backbone")  # the median
    other = cell.dependency("vanilla", "GIN")
    assert cost_of(costs, other) == (2.5, "method/dataset")  # median of 1, 2, 3, 10
    assert cost_of(costs, cell.dependency("kd", "GCN"))[1] == "vanilla/dataset/backbone"
    assert cost_of(seed_costs(record, epoch_cap=50), cell.dependency("vanilla", "GCN"))[0] == 5.0
    assert cost_of(costs, cell.dependency("ltd", "SGC")) == (2.5, "dataset")
    assert cost_of(costs, replace(cell, dataset="PROTEINS")) == (None, "unknown")


def test_the_estimate_sums_per_family_and_counts_unknown_cells(tmp_path):
    sweep = load_sweep(
        write(
            tmp_path,
            grid=[{"methods": ["vanilla"], "datasets": ["MUTAG", "Cora"], "backbones": ["MLP"]}],
        )
    )
    costs = estimate(sweep, expand(sweep), [record_cell("vanilla", "MUTAG", "MLP", [36.0])])
    rows = {r["family"]: r for r in summary(costs)}
    mutag = next(c for c in costs if c.cell.dataset == "MUTAG")
    assert rows["graph"]["hours"] == pytest.approx(mutag.fits * 36.0 / 3600)
    assert rows["node"]["unknown cells"] == 1 and rows["node"]["hours"] == 0


def test_status_estimate_prints_hours_and_assumptions(capsys):
    assert (
        main(["status", "sweeps/smoke.yaml", "--estimate", "--workers", "2", "--gpu-speedup", "10"])
        == 0
    )
    out = capsys.readouterr().out
    assert "estimated cost per family" in out and "Assumes:" in out and "GPU" in out
    assert main(["status", "sweeps/smoke.yaml", "--estimate", "--json"]) == 0
    got = json.loads(capsys.readouterr().out)
    assert {r["family"] for r in got["family"]} == {"graph", "node"}
