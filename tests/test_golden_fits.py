"""A refactor changes no number: every method, re-fitted on real data, gives the recorded scores.

``tests/golden_fits.json`` holds, for one cheap configuration of every registered family
(real MUTAG, Cora, Cora-CPF, BACE; a few epochs; seed 0), the validation and test scores and
the best epoch that the code produced when the file was written (its commit is in the file).
Re-fitting must give them bit for bit: floating-point results of the same code on the same
CPU build of torch are deterministic here (one thread). A change that is meant to alter numbers
regenerates the file (``KDBENCH_REGEN_GOLDEN=1 pytest tests/test_golden_fits.py``) and says so
in its commit; every other change must leave it as it is.
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path
from typing import Any

import pytest
import torch

GOLDEN = Path(__file__).with_name("golden_fits.json")

#: (method, dataset, backbone, teacher backbone, protocol, overrides): one cheap fit per family.
CASES: list[tuple[str, str, str, str | None, str | None, dict[str, Any]]] = [
    ("vanilla", "MUTAG", "GCN", None, None, {"epochs": 20}),
    ("vanilla", "MUTAG", "GIN", None, None, {"epochs": 20}),
    ("vanilla", "Cora", "GCN", None, None, {"epochs": 30}),
    ("vanilla", "Cora", "GAT", None, None, {"epochs": 15}),
    ("vanilla", "Cora", "APPNP", None, None, {"epochs": 15}),
    ("vanilla", "Cora", "MLP", None, None, {"epochs": 30}),
    ("kd", "Cora", "GCN", "GCN", None, {"epochs": 20}),
    ("glnn", "Cora", "MLP", "GCN", None, {"epochs": 20}),
    ("nosmog", "Cora", "MLP", "GCN", None, {"epochs": 10, "num_walks": 1, "walk_length": 10}),
    ("ltd", "Cora-CPF", "GCN", "GCN", "ltd", {"epochs": 20}),
    ("ltd_fo", "Cora-CPF", "GCN", "GCN", "ltd", {"epochs": 20}),
    ("freekd", "Cora", "GCN", "GCN", None, {"epochs": 10}),
    ("freekd_random", "Cora", "GCN", "GCN", None, {"epochs": 10}),
    ("freekd_node", "Cora", "GCN", "GCN", None, {"epochs": 10}),
    ("lad_gnn", "MUTAG", "GCN", None, None, {"epochs": 40}),
    (
        "pretrain_attrmask",
        "BACE",
        "GIN",
        None,
        None,
        {"epochs": 3, "pretrain_molecules": 100, "pretrain_epochs": 1, "hidden": 32},
    ),
]


def case_id(case: tuple) -> str:
    method, dataset, backbone, teacher, protocol, _ = case
    extra = {"teacher": teacher, "protocol": protocol}
    return "/".join([method, dataset, backbone, *(f"{k}={v}" for k, v in extra.items() if v)])


def fit_case(case: tuple, load_real) -> dict[str, Any]:
    """Seed 0 of ``case`` at the code under test: val, test and best epoch."""
    from benchmark.fitting import fit_seeds

    method, dataset, backbone, teacher, protocol, overrides = case
    torch.set_num_threads(1)
    summary = fit_seeds(
        method,
        load_real(dataset),
        backbone,
        [0],
        torch.device("cpu"),
        dict(overrides),
        protocol=protocol,
        teacher=teacher,
    )
    r = summary.seeds[0].result
    return {"val": r.val, "test": r.test, "best_epoch": r.best_epoch}


@pytest.fixture(scope="module")
def golden() -> dict[str, Any]:
    return json.loads(GOLDEN.read_text()) if GOLDEN.exists() else {"cases": {}}


@pytest.mark.parametrize("case", CASES, ids=case_id)
def test_refit_gives_the_recorded_scores(case, golden, runs, load_real):
    got = fit_case(case, load_real)
    if os.environ.get("KDBENCH_REGEN_GOLDEN"):
        golden["cases"][case_id(case)] = got
        commit = subprocess.run(
            ["git", "rev-parse", "HEAD"], capture_output=True, text=True, cwd=Path(__file__).parent
        ).stdout.strip()
        golden["commit"] = commit
        GOLDEN.write_text(json.dumps(golden, indent=1, sort_keys=True) + "\n")
        return
    want = golden["cases"].get(case_id(case))
    assert want is not None, f"no recorded scores for {case_id(case)}: regenerate {GOLDEN.name}"
    assert got == want, (
        f"{case_id(case)} changed: {got} != {want} recorded at {golden.get('commit')}; if the "
        "change is meant to alter numbers, regenerate with KDBENCH_REGEN_GOLDEN=1"
    )
