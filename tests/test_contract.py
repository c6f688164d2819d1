"""Every registered method, on a toy graph of every task it declares (DESIGN.md, "Method")."""

import math

import pytest
import torch

from benchmark.method import FitContext, FitResult, Method, resolve_params
from benchmark.metrics import Evaluator
from benchmark.models import BACKBONES
from benchmark.registry import METHODS
from tests.conftest import make_graph_data, make_molecule_data, make_node_data, simple_split

CASES = [(name, task) for name in METHODS.names() for task in METHODS.get(name).tasks]


@pytest.mark.parametrize(("name", "task"), CASES)
def test_method_fits_a_toy_graph(name, task, tmp_path, monkeypatch):
    method = METHODS.get(name)()
    assert isinstance(method, Method) and method.description
    molecular = method.families is not None and "molecular" in method.families
    data = make_node_data() if task == "node" else (
        make_molecule_data() if molecular else make_graph_data())  # fmt: skip
    backbone = "GCN" if method.backbones is None else method.backbones[0]
    params = resolve_params(method, BACKBONES.get(backbone), task, {"epochs": 5})
    deps = method.dependencies(task, backbone, backbone, params)
    artifacts = {}
    for dep in deps:
        if dep.build is not None:  # e.g. a pre-trained encoder, on a tiny corpus here
            from benchmark.artifacts import ArtifactCache

            corpus = make_molecule_data(target="none")
            monkeypatch.setattr("benchmark.pretrain.corpus.load_corpus",
                                lambda *a, corpus=corpus, **k: corpus)  # fmt: skip
            artifacts[dep.name] = dep.build(ArtifactCache(tmp_path), torch.device("cpu"))
            continue
        # a teacher trained the same way the runner would
        teacher = METHODS.get(dep.method)()
        tp = resolve_params(teacher, BACKBONES.get(dep.backbone), task, {"epochs": 5})
        tctx = FitContext(data, simple_split(data.num_items), dep.backbone, tp, 0,
                          torch.device("cpu"), Evaluator("accuracy"),
                          evaluate_test=False, export_outputs=True)  # fmt: skip
        artifacts[dep.name] = teacher.fit(tctx)
    ctx = FitContext(data, simple_split(data.num_items), backbone, params, 0,
                     torch.device("cpu"), Evaluator(data.card.metric),
                     artifacts=artifacts)  # fmt: skip
    if method.dependency_only:  # fitted as the runner fits a dependency, never scored on test
        ctx.evaluate_test, ctx.export_outputs = False, True
        result = method.fit(ctx)
        assert result.test is None and result.outputs is not None
        assert 0 <= result.best_epoch < result.epochs_run <= 5
        return
    result = method.fit(ctx)
    assert isinstance(result, FitResult)
    assert math.isfinite(result.val) and 0.0 <= result.test <= 1.0
    assert 0 <= result.best_epoch < result.epochs_run <= 5
    assert result.num_params > 0 and result.train_seconds > 0
    assert result.test_pred.shape[0] == ctx.split.test.numel()


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
