"""LTD / LTD-FO / KD: losses against hand computations, the meta-gradient against finite
differences, sparse neighbourhood entropy against a dense brute force, bad input."""

from __future__ import annotations

import math

import pytest
import torch

from benchmark.errors import KdbenchError
from benchmark.method import FitContext, FitResult, resolve_params
from benchmark.metrics import Evaluator
from benchmark.models import BACKBONES
from benchmark.registry import METHODS
from benchmark.train.distill import kd_loss
from benchmark.train.feeders import Batch
from methods.ltd import EPS, LTDState, TemperatureNet, distill_loss, neighbourhood_entropy
from tests.conftest import make_graph_data, make_node_data, simple_split


def test_kd_loss_matches_a_hand_computed_example():
    # one node, two classes, T = 2: p_T = softmax([2, 0] / 2) = softmax([1, 0]),
    # p_S = softmax([0, 0] / 2) = (1/2, 1/2); loss = T^2 * sum p_T log(p_T / p_S)
    pt1 = math.e / (math.e + 1)
    kl = pt1 * math.log(pt1 / 0.5) + (1 - pt1) * math.log((1 - pt1) / 0.5)
    got = kd_loss(torch.tensor([[0.0, 0.0]]), torch.tensor([[2.0, 0.0]]), 2.0)
    assert got.item() == pytest.approx(4 * kl, rel=1e-6)
    # batchmean: two identical rows give the same value; identical logits give zero
    two = kd_loss(torch.zeros(2, 2), torch.tensor([[2.0, 0.0]] * 2), 2.0)
    assert two.item() == pytest.approx(4 * kl, rel=1e-6)
    assert kd_loss(torch.ones(3, 4), torch.ones(3, 4), 5.0).item() == pytest.approx(0, abs=1e-7)


def test_ltd_distill_loss_matches_a_hand_computed_example():
    # node 0: teacher [ln 3, 0] at tau = 1 → target (3/4, 1/4); student [0, 0] → log 1/2 each
    # node 1: teacher [0, 0] → (1/2, 1/2); student [ln 3, 0] → log(3/4), log(1/4)
    # node 0 is a CE node with label 1, lambda = 2
    logits = torch.tensor([[0.0, 0.0], [math.log(3), 0.0]])
    teacher = torch.tensor([[math.log(3), 0.0], [0.0, 0.0]])
    soft = -(0.75 * math.log(0.5) + 0.25 * math.log(0.5)) - (
        0.5 * math.log(0.75) + 0.5 * math.log(0.25)
    )
    hard = -math.log(0.5)
    got = distill_loss(logits, teacher, torch.ones(2), torch.tensor([1, 0]), torch.tensor([0]), 2.0)
    assert got.item() == pytest.approx(soft + 2 * hard, rel=1e-6)
    # a negative temperature inverts the teacher: target (1/4, 3/4) for node 0
    neg = distill_loss(
        logits[:1],
        teacher[:1],
        -torch.ones(1),
        torch.tensor([1]),
        torch.tensor([], dtype=torch.long),
        0.0,
    )
    assert neg.item() == pytest.approx(math.log(2), rel=1e-6)


def test_neighbourhood_entropy_equals_dense_brute_force_with_isolated_nodes():
    g = torch.Generator().manual_seed(0)
    n, c = 9, 4
    probs = torch.softmax(torch.randn(n, c, generator=g), -1)
    # node 8 isolated; a self-loop on 0 and a repeated edge 1→2 are ignored
    ei = torch.tensor([[0, 1, 1, 2, 3, 4, 5, 6, 0, 7, 1], [1, 0, 2, 1, 4, 3, 6, 5, 0, 6, 2]])
    got = neighbourhood_entropy(probs, ei, n)
    adj = torch.zeros(n, n)
    adj[ei[1], ei[0]] = 1.0  # row i: the nodes sending to i
    adj.fill_diagonal_(0)
    for i in range(n):
        nb = adj[i].nonzero().flatten().tolist()
        if not nb:
            assert got[i].item() == pytest.approx(EPS)
            continue
        mean = probs[nb].mean(0)
        assert got[i].item() == pytest.approx(-(mean * mean.log()).sum().item(), rel=1e-5)


@pytest.mark.parametrize("scale", [1.0, 3.0])
def test_temperatures_stay_in_range_and_away_from_zero(scale):
    torch.manual_seed(0)
    net = TemperatureNet(5, hidden=16, dropout=0.0)
    with torch.no_grad():  # push the sigmoid to both ends and to exactly 0.2
        net.lin2.bias.fill_(0.0)
    logits = torch.randn(500, 5) * 50
    tau = net(logits, torch.rand(500), scale)
    assert (tau >= -0.2 * scale).all() and (tau <= 0.8 * scale).all()  # saturates in float32
    assert (tau.abs() >= EPS).all()
    with torch.no_grad():  # sigmoid(x) = 0.2 exactly → tau 0 → clamped to +EPS
        net.lin2.weight.zero_()
        net.lin2.bias.fill_(math.log(0.2 / 0.8))
    tau0 = net(logits, torch.rand(500), scale)
    assert torch.allclose(tau0.abs(), torch.full_like(tau0, EPS), rtol=1e-3)


# ---------------------------------------------------------------- the meta-gradient


def _setup(name: str):
    """A tiny GCN student, its temperature net and a random teacher, in float64, no dropout."""
    torch.manual_seed(0)
    data = make_node_data(n=30, classes=3, feats=6)
    method = METHODS.get(name)()
    split = simple_split(30)
    params = resolve_params(
        method,
        BACKBONES.get("GCN"),
        "node",
        {"dropout": 0.0, "temp_dropout": 0.0, "hidden": 8, "student_step": 0.05},
    )
    teacher = torch.randn(30, 3, dtype=torch.float64) * 2
    ctx = FitContext(data, split, "GCN", params, 0, torch.device("cpu"), Evaluator("accuracy"))
    meta = split.parts["meta"]
    entropy = neighbourhood_entropy(torch.softmax(teacher, -1), data.data.edge_index, 30)
    state = LTDState(teacher, entropy, data.y, meta, split.train[~torch.isin(split.train, meta)])
    model = method.build(ctx, state).double().train()
    method.configure_optimizer(model, ctx, state)
    state.temp_net.double()
    g = data.data
    batch = Batch(
        g.x.double(), g.edge_index, data.y[split.train], split.train, rows=split.train, graph=g
    )
    return method, model, batch, params, state


def _unrolled_meta_loss(method, model, batch, params, state) -> float:
    """L_meta(θ − α∇θL(θ, φ)) computed from scratch (the bilevel objective as a function of φ)."""
    theta = list(model.parameters())
    loss, _ = method.distill(model, batch, params, state)
    grads = torch.autograd.grad(loss, theta)
    with torch.no_grad():
        saved = [q.clone() for q in theta]
        for q, g in zip(theta, grads):
            q.sub_(params["student_step"] * g)
        logits = model(batch.x, batch.edge_index).logits
        meta = torch.nn.functional.cross_entropy(
            logits[state.meta], state.y[state.meta], reduction="sum"
        )
        for q, s in zip(theta, saved):
            q.copy_(s)
    return meta.item()


def _directional_fd(method, model, batch, params, state, direction, h=1e-7) -> float:
    """Central difference along ``direction``; h small enough not to cross ReLU kinks (float64)."""
    phi = list(state.temp_net.parameters())
    vals = []
    for sign in (1, -1):
        with torch.no_grad():
            for q, d in zip(phi, direction):
                q.add_(sign * h * d)
        vals.append(_unrolled_meta_loss(method, model, batch, params, state))
        with torch.no_grad():
            for q, d in zip(phi, direction):
                q.sub_(sign * h * d)
    return (vals[0] - vals[1]) / (2 * h)


def test_ltd_meta_gradient_matches_finite_differences_of_the_unrolled_step():
    method, model, batch, params, state = _setup("ltd")
    _, _, phi_grads = method.meta_grads(model, batch, params, state)
    g = torch.Generator().manual_seed(1)
    for _ in range(3):
        direction = [
            torch.randn(q.shape, generator=g, dtype=torch.float64)
            for q in state.temp_net.parameters()
        ]
        analytic = sum((a * d).sum() for a, d in zip(phi_grads, direction)).item()
        numeric = _directional_fd(method, model, batch, params, state, direction)
        assert abs(analytic) > 1e-6  # the second-order path carries signal
        assert analytic == pytest.approx(numeric, rel=1e-4, abs=1e-8)


def test_ltd_fo_meta_gradient_has_no_second_order_path():
    method, model, batch, params, state = _setup("ltd_fo")
    _, _, fo = method.meta_grads(model, batch, params, state)
    direction = [torch.ones_like(q) for q in state.temp_net.parameters()]
    analytic = sum((a * d).sum() for a, d in zip(fo, direction)).item()
    assert abs(analytic) > 1e-8
    numeric = _directional_fd(method, model, batch, params, state, direction)
    assert analytic != pytest.approx(numeric, rel=1e-2)
    # teachers of nodes outside the meta set enter the second-order gradient, not the FO one
    others = torch.ones(30, dtype=torch.bool)
    others[state.meta] = False
    state.teacher = state.teacher.clone()
    state.teacher[others] *= -1
    _, _, fo2 = method.meta_grads(model, batch, params, state)
    assert all(torch.allclose(a, b) for a, b in zip(fo, fo2))
    so_method, so_model, so_batch, so_params, so_state = _setup("ltd")
    _, _, s1 = so_method.meta_grads(so_model, so_batch, so_params, so_state)
    so_state.teacher = so_state.teacher.clone()
    so_state.teacher[others] *= -1
    _, _, s2 = so_method.meta_grads(so_model, so_batch, so_params, so_state)
    assert not all(torch.allclose(a, b) for a, b in zip(s1, s2))


# ---------------------------------------------------------------- end to end and bad input


@pytest.mark.parametrize("name", ["kd", "ltd", "ltd_fo"])
def test_end_to_end_with_a_teacher_moves_the_temperature_net(name):
    data = make_node_data()
    method = METHODS.get(name)()
    split = simple_split(data.num_items)
    tp = resolve_params(METHODS.get("vanilla")(), BACKBONES.get("GCN"), "node", {"epochs": 20})
    teacher = METHODS.get("vanilla")().fit(
        FitContext(
            data,
            split,
            "GCN",
            tp,
            0,
            torch.device("cpu"),
            Evaluator("accuracy"),
            evaluate_test=False,
            export_outputs=True,
        )
    )
    params = resolve_params(
        method,
        BACKBONES.get("GCN"),
        "node",
        {"epochs": 30, "meta_start": 3} if name != "kd" else {"epochs": 30},
    )
    ctx = FitContext(
        data,
        split,
        "GCN",
        params,
        0,
        torch.device("cpu"),
        Evaluator("accuracy"),
        artifacts={"teacher": teacher},
    )
    states = []  # the fit's state, kept by the test only: the method keeps none
    setup = method.setup
    method.setup = lambda c: states.append(setup(c)) or states[-1]
    torch.manual_seed(123)
    result = method.fit(ctx)
    assert isinstance(result, FitResult) and 0.0 <= result.test <= 1.0
    assert all(math.isfinite(v) for v in result.loss_curve)
    if name != "kd":  # the meta step ran: φ left its initialisation (same seed → same init)
        torch.manual_seed(0)
        init = TemperatureNet(3, 64, 0.4)
        assert not torch.allclose(states[0].temp_net.lin2.bias, init.lin2.bias)
        assert set(vars(method)) == {"setup"}  # the method object holds no fit state


def test_ltd_refuses_graph_tasks_and_splits_without_meta_nodes():
    from benchmark.fitting import check_compatible

    with pytest.raises(KdbenchError, match=r"node tasks.*graph task"):
        check_compatible(METHODS.get("ltd")(), make_graph_data(), "GCN")
    data = make_node_data()
    split = simple_split(data.num_items)
    split.parts = {}
    params = resolve_params(METHODS.get("ltd")(), BACKBONES.get("GCN"), "node", {"epochs": 2})
    ctx = FitContext(data, split, "GCN", params, 0, torch.device("cpu"), Evaluator("accuracy"))
    with pytest.raises(KdbenchError, match=r"needs meta nodes.*--protocol ltd"):
        METHODS.get("ltd")().fit(ctx)


def test_paper_protocol_of_ltd_is_the_fixed_split():
    from benchmark.data.splits import resolve_protocol

    data = make_node_data()
    data.card.protocol = "per_class_random"
    assert resolve_protocol(data, "paper", METHODS.get("ltd").paper_protocol) == ("ltd_fixed", {})
    with pytest.raises(KdbenchError, match="kd has no `paper` protocol"):
        resolve_protocol(data, "paper", METHODS.get("kd").paper_protocol, "kd")
