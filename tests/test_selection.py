"""Selection never sees a final seed's test items: nested per-seed tuning where seeds draw their
own partitions, shared tuning only where they share one, no tuning where selection is on test.

The leak test builds, for every registered protocol on a real dataset, every split that a final
seed's hyper-parameters (and its teacher's) were chosen on — the seeds the runner itself tunes
them on (:func:`benchmark.runner.cellrun.selection_seeds`) — and checks that none of that seed's
test items is among their training or validation items.
"""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import pytest
import torch
import yaml

from benchmark.data.loaders import load_dataset
from benchmark.data.protocols import TRAITS
from benchmark.data.splits import SPLITS, make_split, resolve_protocol, traits
from benchmark.errors import KdbenchError
from benchmark.registry import METHODS
from benchmark.runner.cellrun import selection_of, selection_seeds
from benchmark.runner.sweep import expand, load_sweep, teacher_cells
from benchmark.selection import HONEST, PAPER, SHARED_TUNING, legacy_kind, protocol_kind

#: a real dataset for every registered protocol (``none`` has no split: a pre-training corpus)
REAL = {
    "planetoid_public": "Cora",
    "geom_gcn": "Texas",
    "tu_10fold": "MUTAG",
    "per_class_random": "Cora-CPF",
    "ltd": "Cora-CPF",
    "ltd_fixed": "Cora-CPF",
    "inductive": "Cora-CPF",
    "lad_paper": "MUTAG",
    "random": "MUTAG",
    "hu_paper": "BACE",
    "scaffold": "BACE",
    "ogb_official": "ogbg-molbace",
}
FINAL = list(range(10))


@pytest.fixture(scope="module")
def real(real_mirror, session_data_root):
    """name → loaded dataset, each loaded once for the module."""
    loaded: dict[str, object] = {}

    def get(name: str):
        if name not in loaded:
            loaded[name] = load_dataset(name, session_data_root, str(real_mirror))
        return loaded[name]

    return get


def test_every_registered_protocol_is_covered_and_declares_its_traits():
    assert set(SPLITS.names()) == {*REAL, "none"}
    assert set(TRAITS) == set(SPLITS.names())


@pytest.mark.parametrize("protocol", sorted(REAL))
def test_declared_traits_match_the_splits(real, protocol):
    """``shared`` ⇔ seeds 0 and 1 get the same partition; ``selects_on_test`` ⇔ the selection
    part is the test part."""
    data = real(REAL[protocol])
    a, b = (make_split(data, protocol, s, resolve_protocol(data, protocol)[1]) for s in (0, 1))
    same = all(torch.equal(getattr(a, p), getattr(b, p)) for p in ("train", "val", "test"))
    assert traits(protocol).shared == same
    assert traits(protocol).selects_on_test == torch.equal(a.val, a.test)


def sweep_file(tmp_path: Path, protocol: str, dataset: str, **entry) -> Path:
    """A sweep tuning a distillation cell (and so its teacher cell) on ``protocol``."""
    card_task = real_task(dataset)
    method = "kd" if card_task in METHODS.get("kd").tasks else "vanilla"
    body = {
        "name": "leak",
        "budget": {"trials": 3, "tuning_seeds": [0, 1, 2], "final_seeds": FINAL},
        "grid": [
            {
                "methods": [method],
                "datasets": [dataset],
                "backbones": ["GCN"],
                "protocol": protocol,
                **entry,
            }
        ],
    }
    path = tmp_path / f"{protocol}.yaml"
    path.write_text(yaml.safe_dump(body, sort_keys=False))
    return path


def real_task(dataset: str) -> str:
    from benchmark.data.card import get_card

    return get_card(dataset).task


def leaks(data, sweep, cell, final_seed: int) -> set[int]:
    """Test items of ``final_seed`` among the training/validation items of every split that
    chose its hyper-parameters or its teachers'."""
    protocol, args = resolve_protocol(data, cell.protocol)
    test = set(make_split(data, protocol, final_seed, args).test.tolist())
    env = SimpleNamespace(sweep=sweep)
    seen: set[int] = set()
    for c in [*teacher_cells(cell), cell]:
        for s in selection_seeds(env, c, final_seed):
            split = make_split(data, protocol, s, args)
            seen |= set(split.train.tolist()) | set(split.val.tolist())
    return test & seen


@pytest.mark.parametrize("protocol", sorted(REAL))
def test_no_final_seed_is_selected_on_its_own_test_items(real, tmp_path, protocol):
    data = real(REAL[protocol])
    if traits(protocol).selects_on_test:  # tuning there is refused at load
        with pytest.raises(KdbenchError, match="selects on its test part"):
            load_sweep(sweep_file(tmp_path, protocol, REAL[protocol]))
        sweep = load_sweep(sweep_file(tmp_path, protocol, REAL[protocol], trials=1))
    else:
        sweep = load_sweep(sweep_file(tmp_path, protocol, REAL[protocol]))
    cells = expand(sweep)
    assert len(cells) >= 1
    env = SimpleNamespace(sweep=sweep)
    for cell in cells:
        mode = selection_of(env, cell)
        if traits(protocol).selects_on_test:
            assert mode == "none"  # untuned: the defaults, chosen by nothing
        else:
            assert mode == ("shared" if traits(protocol).shared else "nested"), cell.key
        for r in FINAL:
            assert not leaks(data, sweep, cell, r), (cell.key, r)
        assert protocol_kind(protocol, mode) == (PAPER if traits(protocol).paper else HONEST)


def test_shared_tuning_on_folds_leaks_and_is_marked(real, tmp_path):
    """What the runner did before nested selection (one study on tuning seeds 0–2 for every
    fold): the leak test catches it, and a sweep that still asks for it is marked."""
    data = real("MUTAG")
    sweep = load_sweep(sweep_file(tmp_path, "tu_10fold", "MUTAG", selection="shared"))
    cells = expand(sweep)
    assert all(c.key.endswith("/selection=shared") for c in cells)
    leaked = {r: leaks(data, sweep, cells[-1], r) for r in FINAL}
    assert all(leaked[r] for r in FINAL if r not in (0, 1, 2)) and all(leaked.values())
    env = SimpleNamespace(sweep=sweep)
    assert {protocol_kind("tu_10fold", selection_of(env, c)) for c in cells} == {SHARED_TUNING}


def test_legacy_runs_get_the_kind_their_selection_had():
    assert legacy_kind("tu_10fold", 30) == SHARED_TUNING  # tuned before nested selection
    assert legacy_kind("tu_10fold", 1) == HONEST  # the defaults: nothing was chosen
    assert legacy_kind("planetoid_public", 30) == HONEST  # one partition: sharing is right
    assert legacy_kind("lad_paper", 1) == PAPER
    assert legacy_kind("no-such-protocol", 30) == HONEST


def test_a_copy_of_the_paper_sweep_that_tunes_lad_paper_is_refused(tmp_path):
    text = (Path(__file__).parents[1] / "sweeps" / "paper.yaml").read_text()
    assert text.count("    trials: 1\n") == 2
    tuned = tmp_path / "paper.yaml"
    tuned.write_text(text.replace("    trials: 1\n", "", 1))
    with pytest.raises(KdbenchError) as exc:
        load_sweep(tuned)
    msg = str(exc.value)
    assert "line " in msg and "lad_paper" in msg and "trials: 1" in msg and "\n" not in msg
