"""The untuned studies (``sweeps/studies/*.yaml``) against the committed record: each file
loads, every cell runs the defaults (one trial), resolves its parameters (teachers included),
and the cells its grid names are exactly the record's cells of that sweep (the teacher cells
the runner adds beside them are the only others). No training."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import pytest

from benchmark.results.record import RECORD_DIR, read_cells
from benchmark.runner.cellrun import cell_params
from benchmark.runner.sweep import Cell, SweepFile, cell_trials, expand, load_sweep, teacher_cells

STUDIES = sorted((Path(__file__).parents[1] / "sweeps" / "studies").glob("*.yaml"))
#: sweep → record cells its grid need not name, and why (none: every study is its record)
NOT_NAMED: dict[str, set[str]] = {}


def named_cells(sweep: SweepFile) -> list[Cell]:
    """The cells the grid entries name themselves (each entry's methods × datasets ×
    backbones), without the teacher cells the runner adds for them."""
    out: list[Cell] = []
    for entry in sweep.grid:
        for c in expand(sweep.model_copy(update={"grid": [entry]})):
            if c.method in entry.methods and c.backbone in entry.backbones and c not in out:
                out.append(c)
    return out


@pytest.fixture(scope="module", params=STUDIES, ids=lambda p: p.stem)
def study(request) -> tuple[SweepFile, list[Cell]]:
    sweep = load_sweep(request.param)
    assert sweep.name == request.param.stem
    return sweep, expand(sweep)


def test_studies_exist():
    assert {p.stem for p in STUDIES} >= {
        "vanilla_defaults",
        "lad_reproduction",
        "ltd_reproduction",
        "glnn_reproduction",
        "nosmog_ablation",
        "freekd_reproduction",
        "pretrain_reproduction",
    }


def test_every_cell_is_untuned_and_resolves(study):
    sweep, cells = study
    env = SimpleNamespace(sweep=sweep)
    for c in cells:
        assert cell_trials(sweep, c) == 1 and c.trials is None, c.key
        assert c.selection is None, c.key
        cell_params(env, c, {})  # a fixed value its method (a teacher's too) refuses raises


def test_record_cells_are_the_cells_the_grid_names(study):
    sweep, cells = study
    record = {c["cell"] for c in read_cells(RECORD_DIR, sweep.name)}
    assert record, f"no record of {sweep.name}"
    keys = {c.key for c in cells}
    assert not record - keys, sorted(record - keys)[:5]
    named = {c.key for c in named_cells(sweep)}
    assert named == record - NOT_NAMED.get(sweep.name, set()), sorted(named ^ record)[:5]
    teachers = {t.key for c in cells for t in teacher_cells(c)}
    assert keys - named <= teachers  # the runner adds teachers only


def test_a_students_own_fixed_values_stay_off_its_teacher_cell():
    """NOSMOG's switches and kd's ``teacher_hidden`` are the student's: its variants share one
    teacher cell, which keeps the preset."""
    sweep = load_sweep(Path(__file__).parents[1] / "sweeps" / "studies" / "nosmog_ablation.yaml")
    cells = expand(sweep)
    teachers = [c for c in cells if c.method == "vanilla"]
    assert [t.key for t in teachers] == [
        "nosmog_ablation/vanilla/Cora-CPF/GraphSAGE/preset=nosmog_cora"
    ]
    assert all(teacher_cells(c) == teachers for c in cells if c.method == "nosmog")
    kd = Cell("s", "kd", "Cora", "GCN", "GCN", fixed=(("teacher_hidden", 256),))
    assert teacher_cells(kd) == [Cell("s", "vanilla", "Cora", "GCN")]
