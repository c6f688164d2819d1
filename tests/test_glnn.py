"""GLNN: its loss by hand, the inductive split and feeder (what is hidden, exactly), and a tiny
end-to-end run whose cached teacher serves two seeds and a rerun."""

from __future__ import annotations

import math

import pytest
import torch

from benchmark.data.splits import make_split
from benchmark.fitting import fit_seeds
from benchmark.method import FitContext, resolve_params
from benchmark.metrics import Evaluator
from benchmark.models import BACKBONES
from benchmark.registry import METHODS
from benchmark.train.distill import TeacherState, observed_rows
from benchmark.train.feeders import NodeFeeder
from tests.conftest import make_node_data

IND_ARGS = {"sizes": {"train": 5, "val": 5}, "rate": 0.25}


def test_glnn_loss_matches_a_hand_computed_example():
    """λ·CE(train) + (1−λ)·T²·KL(teacher ‖ student) over every node, T = 1."""
    method = METHODS.get("glnn")()
    data = make_node_data(n=6, classes=2, feats=3)
    split = make_split(data, "random", 0, {"frac": (0.5, 0.25, 0.25)})
    ctx = FitContext(
        data,
        split,
        "MLP",
        {"label_weight": 0.25, "temperature": 1.0},
        0,
        torch.device("cpu"),
        Evaluator("accuracy"),
    )
    teacher = torch.tensor([[math.log(3.0), 0.0]] * 6)  # softmax (3/4, 1/4)
    state = TeacherState(teacher, None)
    student = torch.zeros(6, 2)  # softmax (1/2, 1/2): CE = log 2 for every label

    class Fixed(torch.nn.Module):
        def forward(self, x, edge_index, batch=None, num_graphs=None):
            from benchmark.models.backbones import BackboneOutput

            return BackboneOutput(h=x, logits=student)

    feeder = NodeFeeder(data, split, torch.device("cpu"))
    got = method.loss(Fixed(), feeder.part("train"), ctx, state)
    kl = 0.75 * math.log(0.75 / 0.5) + 0.25 * math.log(0.25 / 0.5)
    assert got.item() == pytest.approx(0.25 * math.log(2) + 0.75 * kl, rel=1e-6)


def test_inductive_split_hides_exactly_the_inductive_test_nodes_and_their_edges():
    data = make_node_data(n=90, classes=3)
    split = make_split(data, "inductive", 2, IND_ARGS)
    hidden, observed_test = split.parts["hidden"], split.parts["test_tran"]
    assert torch.equal(hidden, split.test)  # scored on the inductive nodes
    all_test = torch.cat([hidden, observed_test])
    assert hidden.numel() == round(0.25 * all_test.numel())
    assert torch.equal(
        all_test.sort().values,
        make_split(data, "per_class_random", 2, {"sizes": IND_ARGS["sizes"]}).test,
    )
    feeder = NodeFeeder(data, split, torch.device("cpu"))
    ei_full, ei_obs = data.data.edge_index, feeder.observed.edge_index
    touches = torch.isin(ei_full[0], hidden) | torch.isin(ei_full[1], hidden)
    assert touches.any()
    assert torch.equal(ei_obs, ei_full[:, ~touches])  # exactly the hidden nodes' edges go
    assert feeder.part("train").edge_index is ei_obs and feeder.part("val").edge_index is ei_obs
    assert feeder.part("test").edge_index is ei_full  # inductive nodes are scored with edges
    assert feeder.all_batches()[0].edge_index is ei_obs  # a teacher exports what it saw
    ctx = FitContext(data, split, "MLP", {}, 0, torch.device("cpu"), Evaluator("accuracy"))
    rows = observed_rows(ctx)
    assert not torch.isin(rows, hidden).any() and rows.numel() == 90 - hidden.numel()


def test_a_teacher_trained_on_the_observed_graph_never_sees_hidden_nodes():
    """Changing the hidden nodes' features changes no observed node's exported logits."""
    data = make_node_data(n=90, classes=3)
    split = make_split(data, "inductive", 0, IND_ARGS)
    vanilla = METHODS.get("vanilla")()
    params = resolve_params(vanilla, BACKBONES.get("GCN"), "node", {"epochs": 5})

    def exported(d):
        ctx = FitContext(
            d,
            split,
            "GCN",
            params,
            0,
            torch.device("cpu"),
            Evaluator("accuracy"),
            evaluate_test=False,
            export_outputs=True,
        )
        return vanilla.fit(ctx).outputs["logits"]

    before = exported(data)
    other = make_node_data(n=90, classes=3)
    other.data.x[split.parts["hidden"]] = torch.randn(split.test.numel(), other.num_features) * 9
    after = exported(other)
    keep = torch.ones(90, dtype=torch.bool)
    keep[split.parts["hidden"]] = False
    assert torch.allclose(before[keep], after[keep], atol=1e-5)


def test_glnn_end_to_end_reuses_its_cached_teacher_across_seeds_and_reruns(tmp_path, monkeypatch):
    monkeypatch.setenv("KDBENCH_RUNS", str(tmp_path / "runs"))
    from benchmark.artifacts import ArtifactCache

    data = make_node_data(n=90, classes=3)
    for _ in range(2):
        summary = fit_seeds(
            "glnn",
            data,
            "MLP",
            [0, 1],
            torch.device("cpu"),
            {"epochs": 5},
            protocol="inductive",
            protocol_args=IND_ARGS,
            teacher="GCN",
        )
        assert len(summary.seeds) == 2 and all(0 <= t <= 1 for t in summary.tests)
    builds = ArtifactCache(tmp_path / "runs" / "artifacts").builds()
    assert sorted(b["key"]["seed"] for b in builds) == [0, 1]  # one teacher per seed, reused
    assert {b["key"]["backbone"] for b in builds} == {"GCN"}


def test_glnn_takes_only_mlp_students_and_defaults_to_a_graphsage_teacher():
    from benchmark.errors import KdbenchError
    from benchmark.fitting import check_compatible

    glnn = METHODS.get("glnn")()
    with pytest.raises(KdbenchError, match="MLP"):
        check_compatible(glnn, make_node_data(), "GCN")
    assert glnn.dependencies("node", "MLP", None)[0].backbone == "GraphSAGE"
    assert glnn.dependencies("node", "MLP", "MLP")[0].backbone == "GraphSAGE"
    assert glnn.dependencies("node", "MLP", "GAT")[0].backbone == "GAT"


def test_a_dataset_preset_overrides_glnns_own_defaults():
    glnn = METHODS.get("glnn")()
    p = resolve_params(glnn, BACKBONES.get("MLP"), "node", {"preset": "glnn_citeseer"})
    assert (p["dropout"], p["weight_decay"], p["hidden"]) == (0.1, 1e-3, 128)
    assert resolve_params(glnn, BACKBONES.get("MLP"), "node")["dropout"] == 0.6  # Cora's


def test_official_schedule_feeds_label_then_distillation_minibatches_of_observed_nodes():
    """``batch_size`` > 0: one label pass over the training nodes, then ⌊n/b⌋ distillation
    batches of b distinct observed nodes (the hidden test nodes never among them)."""
    from benchmark.train.distill import TermBatch, node_batches

    data = make_node_data(n=90, classes=3)
    split = make_split(data, "inductive", 0, IND_ARGS)
    method = METHODS.get("glnn")()
    params = resolve_params(method, BACKBONES.get("MLP"), "node", {"batch_size": 16})
    ctx = FitContext(data, split, "MLP", params, 0, torch.device("cpu"), Evaluator("accuracy"))
    state = TeacherState(torch.randn(90, 3), observed_rows(ctx))
    batches = list(method.train_batches(NodeFeeder(data, split, torch.device("cpu")), ctx, state))
    assert all(isinstance(b, TermBatch) for b in batches)
    label, distil = batches[0], batches[1:]
    assert label.term == "label" and set(label.ids.tolist()) == set(split.train.tolist())
    n_obs = 90 - split.parts["hidden"].numel()
    assert [b.term for b in distil] == ["distil"] * (n_obs // 16)
    seen = torch.cat([b.ids for b in distil])
    assert seen.unique().numel() == seen.numel() == (n_obs // 16) * 16
    assert not torch.isin(seen, split.parts["hidden"]).any()
    assert torch.equal(distil[0].x, data.data.x[distil[0].ids])
    assert [c.numel() for c in node_batches(torch.arange(5), 16)] == [5]  # fewer: all at once
    model = method.build(ctx, state)
    assert method.loss(model, label, ctx, state).item() == 0.0  # λ = 0 (the default)
    assert method.loss(model, distil[0], ctx, state).item() > 0.0
