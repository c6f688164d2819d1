"""Search spaces: one source per cell, shared spaces by name, and every space a cell can reach
drawn (a real Optuna trial) and resolved, so that a misspelt key fails early with one line."""

from pathlib import Path
from types import SimpleNamespace
from typing import Any, ClassVar

import pytest
import yaml

from benchmark.data.card import get_card
from benchmark.errors import KdbenchError
from benchmark.method import Method, resolve_params
from benchmark.models import BACKBONES
from benchmark.registry import METHODS
from benchmark.runner.cellrun import cell_params
from benchmark.runner.spaces import draw, load_library, space_source
from benchmark.runner.sweep import expand, load_sweep

SWEEPS = sorted((Path(__file__).parents[1] / "sweeps").glob("*.yaml"))
LR = {"type": "float", "low": 0.001, "high": 0.05, "log": True}


def write(tmp_path: Path, **over) -> Path:
    sweep = {
        "name": "s",
        "budget": {"trials": 2, "tuning_seeds": [0], "final_seeds": [0]},
        "grid": [{"methods": ["vanilla"], "datasets": ["MUTAG"], "backbones": ["GCN"]}],
        "search_spaces": {"vanilla": {"lr": LR}},
        **over,
    }
    path = tmp_path / "s.yaml"
    path.write_text(yaml.safe_dump(sweep, sort_keys=False))
    return path


def load_error(path: Path) -> str:
    with pytest.raises(KdbenchError) as exc:
        load_sweep(path)
    msg = str(exc.value)
    assert msg.startswith(f"{path} line ") and "\n" not in msg, msg
    return msg


@pytest.mark.parametrize("name", METHODS.names())
def test_every_method_space_draws_a_trial_that_resolves(name):
    """A method's own ``search_space`` (the fallback), for each task it supports, on every
    backbone it can use."""
    method = METHODS.get(name)()
    for task in method.tasks:
        params = draw({}, method, task)
        for bb in method.backbones or BACKBONES.names():
            resolved = resolve_params(method, BACKBONES.get(bb), task, params)
            assert {k: resolved[k] for k in params} == params


@pytest.mark.parametrize("path", SWEEPS, ids=[p.name for p in SWEEPS])
def test_every_sweep_space_draws_a_trial_that_resolves(path):
    """Every cell of every shipped sweep: a trial drawn from its space (the sweep's, or its
    method's fallback) resolves with the cell's fixed values, as the runner resolves it."""
    sweep = load_sweep(path)
    env = SimpleNamespace(sweep=sweep)
    seen = set()
    for cell in expand(sweep):
        if (cell.method, cell.dataset, cell.backbone, cell.fixed) in seen:
            continue
        seen.add((cell.method, cell.dataset, cell.backbone, cell.fixed))
        params = draw(sweep.search_spaces, METHODS.get(cell.method)(), get_card(cell.dataset).task)
        assert params, cell.key  # every shipped cell is tuned over something
        resolved = cell_params(env, cell, params)
        assert {k: resolved[k] for k in params} == params, cell.key


def test_every_named_space_is_used_by_a_sweep_file():
    used = set()
    for path in SWEEPS:
        for entry in (yaml.safe_load(path.read_text()).get("search_spaces") or {}).values():
            used |= {
                x for x in (entry if isinstance(entry, list) else [entry]) if isinstance(x, str)
            }
    library = load_library()
    assert used <= set(library)
    assert set(library) <= used, f"unused named spaces: {sorted(set(library) - used)}"


def test_named_spaces_and_lists_merge_in_order(tmp_path):
    library = load_library()
    narrow = {"type": "categorical", "choices": [16]}
    path = write(
        tmp_path,
        grid=[
            {"methods": ["kd"], "datasets": ["MUTAG"], "backbones": ["MLP"], "teachers": ["GCN"]}
        ],
        search_spaces={
            "vanilla": "gnn_training",
            "kd": ["gnn_training", {"hidden": narrow}, "kd_transfer"],
        },
    )
    spaces = load_sweep(path).search_spaces
    assert spaces["vanilla"] == library["gnn_training"]
    assert list(spaces["kd"]) == [
        "lr",
        "weight_decay",
        "hidden",
        "dropout",
        "temperature",
        "kd_weight",
    ]
    assert spaces["kd"]["hidden"].choices == [16]  # a later item wins, in place


@pytest.mark.parametrize(
    ("spaces", "entry"),
    [
        ({"vanilla": "gnn_trainig"}, "search_spaces.vanilla"),
        ({"vanilla": ["gnn_training", "gnn_trainig"]}, "search_spaces.vanilla.1"),
    ],
)
def test_an_unknown_space_name_is_one_line_naming_file_entry_and_fix(tmp_path, spaces, entry):
    msg = load_error(write(tmp_path, search_spaces=spaces))
    assert f"{entry}: unknown search space 'gnn_trainig' (did you mean 'gnn_training'?)" in msg
    assert "sweeps/library/spaces.yaml" in msg and "fix the name" in msg, msg


def test_a_list_item_that_is_neither_a_name_nor_a_space_fails(tmp_path):
    msg = load_error(write(tmp_path, search_spaces={"vanilla": ["gnn_training", 3]}))
    assert "search_spaces.vanilla.1: expected the name of a space" in msg, msg


class Bata(Method):
    """A toy method whose own search space misspells its ``beta``."""

    name = "toy_bata"
    tasks = ("graph",)
    defaults: ClassVar[dict[str, Any]] = {"beta": 0.1}

    def search_space(self, trial, task):
        return {"bata": trial.suggest_float("bata", 1e-3, 1.0, log=True)}


@pytest.fixture
def bata(monkeypatch):
    METHODS.names()  # load the plug-ins first
    monkeypatch.setitem(METHODS._items, "toy_bata", Bata)
    return Bata


def test_a_misspelt_key_in_a_method_space_fails(bata, tmp_path):
    with pytest.raises(KdbenchError, match=r"unknown hyper-parameter\(s\) bata for method"):
        resolve_params(bata(), BACKBONES.get("GCN"), "graph", draw({}, bata(), "graph"))
    # a sweep that gives it no space falls back on it: refused at load, before any trial
    path = write(
        tmp_path,
        grid=[{"methods": ["vanilla", "toy_bata"], "datasets": ["MUTAG"], "backbones": ["GCN"]}],
    )
    msg = load_error(path)
    assert "grid.0.methods.1: toy_bata's own search space" in msg, msg
    assert "Bata.search_space" in msg and "unknown hyper-parameter(s) bata" in msg, msg
    # the sweep's space is the one source: the method's is then never drawn
    path = write(
        tmp_path,
        grid=[{"methods": ["toy_bata"], "datasets": ["MUTAG"], "backbones": ["GCN"]}],
        search_spaces={"toy_bata": {"beta": LR}},
    )
    sweep = load_sweep(path)
    assert space_source(sweep.search_spaces, "toy_bata") == "sweep"
    assert space_source(sweep.search_spaces, "vanilla") == "method"


@pytest.mark.parametrize(
    "spaces",
    [{"vanilla": {"lr": LR, "bata": LR}}, {"vanilla": ["gnn_training", {"bata": LR}]}],
)
def test_a_misspelt_key_in_a_sweep_space_fails_at_load(tmp_path, spaces):
    msg = load_error(write(tmp_path, search_spaces=spaces))
    assert "search_spaces.vanilla: unknown hyper-parameter(s) bata for method 'vanilla'" in msg


def test_lad_gnn_tunes_its_distill_weight_never_the_teleport_alpha():
    """LAD-GNN's loss weight is ``distill_weight``: ``alpha`` is APPNP's teleport."""
    lad = METHODS.get("lad_gnn")()
    for path in SWEEPS:
        space = load_sweep(path).search_spaces.get("lad_gnn")
        if space is not None:
            assert "distill_weight" in space and "alpha" not in space, path
    params = draw(load_sweep(SWEEPS[0].with_name("paper.yaml")).search_spaces, lad, "graph")
    appnp = resolve_params(lad, BACKBONES.get("APPNP"), "graph", params)
    assert appnp["alpha"] == resolve_params(lad, BACKBONES.get("APPNP"), "graph", {})["alpha"]
    assert appnp["distill_weight"] == params["distill_weight"]


def test_a_space_optuna_cannot_draw_fails_at_load(tmp_path):
    """Drawing a real trial catches what a check of the names cannot (Optuna refuses a step on
    a log scale)."""
    hidden = {"type": "int", "low": 16, "high": 256, "log": True, "step": 16}
    msg = load_error(write(tmp_path, search_spaces={"vanilla": {"hidden": hidden}}))
    assert "search_spaces.vanilla: a trial drawn from this space (graph task) fails" in msg, msg
