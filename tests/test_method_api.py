"""The method API: parameter namespaces checked at registration, per-fit state passed to the
hooks (never kept on the method), and the README's "Add a method" examples, run as written."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, ClassVar

import pytest
import torch

from benchmark.errors import KdbenchError
from benchmark.method import FitContext, resolve_params, shared_keys
from benchmark.metrics import Evaluator
from benchmark.models import BACKBONES
from benchmark.registry import METHODS, register_method
from benchmark.train.loop_method import LoopMethod
from tests.conftest import make_graph_data, make_node_data, simple_split

CPU = torch.device("cpu")
README = Path(__file__).parents[1] / "README.md"


@pytest.fixture
def scratch_registry(monkeypatch: pytest.MonkeyPatch) -> None:
    """Registrations made by a test leave the real registry as it was."""
    METHODS.names()  # load the plug-ins first
    monkeypatch.setattr(METHODS, "_items", dict(METHODS._items))


def _ctx(name: str, data, backbone: str, **artifacts) -> FitContext:
    method = METHODS.get(name)()
    params = resolve_params(method, BACKBONES.get(backbone), data.task, {"epochs": 3})
    split = simple_split(data.num_items)
    return FitContext(
        data, split, backbone, params, 0, CPU, Evaluator("accuracy"), artifacts=artifacts
    )


def _teacher(data, backbone: str = "GCN"):
    ctx = _ctx("vanilla", data, backbone)
    ctx.evaluate_test, ctx.export_outputs = False, True
    return METHODS.get("vanilla")().fit(ctx)


# ----------------------------------------------------------------------- namespaces


@pytest.mark.parametrize(
    ("key", "owner"),
    [("alpha", "backbone APPNP"), ("lr", "the training loop"), ("hidden", "backbone")],
)
def test_a_method_key_shadowing_a_backbone_or_loop_key_fails_registration(
    scratch_registry: None, key: str, owner: str
) -> None:
    with pytest.raises(KdbenchError, match=rf"'{key}' is also a key of {owner}.*`overrides`"):

        @register_method("shadowing")
        class Shadowing(LoopMethod):
            defaults: ClassVar[dict[str, Any]] = {key: 1.0}

    assert "shadowing" not in METHODS


def test_overrides_name_only_loop_or_backbone_keys(scratch_registry: None) -> None:
    with pytest.raises(KdbenchError, match="'beta' is neither's; move it to `defaults`"):

        @register_method("misplaced")
        class Misplaced(LoopMethod):
            overrides: ClassVar[dict[str, Any]] = {"beta": 0.1}

    @register_method("fine")
    class Fine(LoopMethod):
        defaults: ClassVar[dict[str, Any]] = {"beta": 0.1}
        overrides: ClassVar[dict[str, Any]] = {"epochs": 7, "alpha": 0.2}

    params = resolve_params(Fine(), BACKBONES.get("APPNP"), "node")
    assert (params["beta"], params["epochs"], params["alpha"]) == (0.1, 7, 0.2)


def test_every_registered_method_keeps_to_its_namespace() -> None:
    shared = set(shared_keys())
    for name in METHODS.names():
        cls = METHODS.get(name)
        assert not set(cls.defaults) & shared, name
        assert set(cls.overrides) <= shared, name


def test_lad_gnn_on_appnp_keeps_the_teleport_probability() -> None:
    """LAD-GNN's weight once was ``alpha``: on APPNP it set the teleport probability to 1."""
    lad, appnp = METHODS.get("lad_gnn")(), BACKBONES.get("APPNP")
    for task in ("node", "graph"):
        params = resolve_params(lad, appnp, task)
        assert params["alpha"] == appnp.defaults[task]["alpha"] == 0.1
        assert params["distill_weight"] == 1.0
    params = resolve_params(lad, appnp, "graph", {"distill_weight": 0.0, "alpha": 0.2})
    assert (params["distill_weight"], params["alpha"]) == (0.0, 0.2)


# ------------------------------------------------------------------------ per-fit state


def test_loop_methods_set_up_through_hooks_not_fit() -> None:
    for name in METHODS.names():
        cls = METHODS.get(name)
        if issubclass(cls, LoopMethod):
            assert cls.fit is LoopMethod.fit, f"{name} overrides fit: use setup/prepare/finish"


@pytest.mark.parametrize(("name", "backbone"), [("kd", "GCN"), ("glnn", "MLP"), ("freekd", "GCN")])
def test_a_fit_leaves_nothing_on_the_method(name: str, backbone: str) -> None:
    data = make_node_data()
    method = METHODS.get(name)()
    artifacts = {"teacher": _teacher(data)} if method.needs_teacher else {}
    first = method.fit(_ctx(name, data, backbone, **artifacts))
    assert vars(method) == {}
    again = method.fit(_ctx(name, data, backbone, **artifacts))
    assert (again.val, again.loss_curve) == (first.val, first.loss_curve)  # nothing carried over


# ------------------------------------------------------------------ README's examples


def _readme_examples() -> list[str]:
    text = README.read_text()
    section = text[text.index("## Add a method") : text.index("## Add a dataset")]
    return re.findall(r"```python\n(.*?)```", section, re.S)


def test_the_readme_examples_register_and_train(scratch_registry: None) -> None:
    examples = _readme_examples()
    assert len(examples) == 2
    for code in examples:
        exec(compile(code, str(README), "exec"), {})
    node = make_node_data()
    result = METHODS.get("my_method")().fit(_ctx("my_method", node, "GCN"))
    assert 0.0 <= result.test <= 1.0

    soft = METHODS.get("soft_targets")()
    deps = soft.dependencies("node", "MLP", "GCN")
    assert [(d.name, d.method, d.backbone) for d in deps] == [("teacher", "vanilla", "GCN")]
    for data, student in ((node, "MLP"), (make_graph_data(), "GIN")):
        teacher = _teacher(data)
        result = soft.fit(_ctx("soft_targets", data, student, teacher=teacher))
        assert 0.0 <= result.test <= 1.0 and result.teacher_params == teacher.num_params
