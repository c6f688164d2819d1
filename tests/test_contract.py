"""Every registered method, on a toy graph of every task it declares (DESIGN.md, "Method")."""

import functools
import math

import pytest
import torch

from benchmark.artifacts import ArtifactCache
from benchmark.fitting import FitPlan, fit_seed
from benchmark.method import FitResult, Method, resolve_params
from benchmark.models import BACKBONES
from benchmark.registry import METHODS
from tests.conftest import make_graph_data, make_molecule_data, make_node_data, simple_split

CASES = [(name, task) for name in METHODS.names() for task in METHODS.get(name).tasks]


@pytest.mark.parametrize(("name", "task"), CASES)
def test_method_fits_a_toy_graph(name, task, tmp_path, monkeypatch):
    """Through the one per-seed pipeline (``fit_seed``), as ``kdbench fit`` and the runner
    fit: dependencies (teachers on the same split, 5 epochs; encoders on a tiny corpus)
    resolved through an artefact cache, then ``fit``."""
    method = METHODS.get(name)()
    assert isinstance(method, Method) and method.description
    molecular = method.families is not None and "molecular" in method.families
    data = (
        make_node_data()
        if task == "node"
        else (make_molecule_data() if molecular else make_graph_data())
    )
    backbone = "GCN" if method.backbones is None else method.backbones[0]
    params = resolve_params(method, BACKBONES.get(backbone), task, {"epochs": 5})

    def teacher_params(dep, seed):
        return resolve_params(
            METHODS.get(dep.method)(), BACKBONES.get(dep.backbone), task, {"epochs": 5}
        )

    plan = FitPlan(method, data, backbone, params, data.card.protocol, {}, backbone, teacher_params)
    if any(dep.build is not None for dep in plan.dependencies()):  # a pre-trained encoder
        corpus = make_molecule_data(target="none")
        monkeypatch.setattr(
            "benchmark.pretrain.corpus.load_corpus", lambda *a, corpus=corpus, **k: corpus
        )
    fit = functools.partial(
        fit_seed,
        plan,
        0,
        torch.device("cpu"),
        ArtifactCache(tmp_path),
        split=simple_split(data.num_items),
    )
    if method.dependency_only:  # fitted as the runner fits a dependency, never scored on test
        result = fit(evaluate_test=False, export_outputs=True).result
        assert result.test is None and result.outputs is not None
        assert 0 <= result.best_epoch < result.epochs_run <= 5
        return
    fitted = fit()
    result = fitted.result
    assert isinstance(result, FitResult)
    assert math.isfinite(result.val) and 0.0 <= result.test <= 1.0
    assert 0 <= result.best_epoch < result.epochs_run <= 5
    assert result.num_params > 0 and result.train_seconds > 0
    assert result.test_pred.shape[0] == simple_split(data.num_items).test.numel()
    if plan.teacher_backbone() is not None:  # what `kdbench fit` prints and tags
        assert fitted.teacher_val is not None and math.isfinite(fitted.teacher_val)


def test_every_method_declares_tasks_and_a_search_space():
    import optuna

    for name in METHODS.names():
        method = METHODS.get(name)()
        assert set(method.tasks) <= {"node", "graph"} and method.tasks
        trial = optuna.trial.FixedTrial({})
        try:
            space = method.search_space(trial, method.tasks[0])
        except ValueError:  # FixedTrial without values: the method does suggest something
            space = {"suggested": True}
        assert isinstance(space, dict)
