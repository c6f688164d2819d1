"""FreeKD (re-implementation) and its ablations: the agent's policy gradient, where the peers
receive distillation, the structure loss, action/reward shapes, the answering peer."""

from __future__ import annotations

import pytest
import torch

from benchmark.errors import KdbenchError
from benchmark.method import FitContext, resolve_params
from benchmark.metrics import Evaluator
from benchmark.models import BACKBONES, BackboneOutput
from benchmark.registry import METHODS
from methods.freekd import (
    NUM_SIGNALS,
    Actions,
    Agent,
    FreeKD,
    agent_state,
    local_structure,
    neighbourhood_mean,
    node_kd,
    random_actions,
    reinforce_loss,
    structure_kd,
)
from tests.conftest import make_node_data, simple_split

#: a 5-node path 0-1-2-3-4 in both directions, without self-loops
PATH = torch.tensor([[0, 1, 1, 2, 2, 3, 3, 4], [1, 0, 2, 1, 3, 2, 4, 3]])


def test_policy_gradient_raises_the_probability_of_the_rewarded_action():
    """A toy bandit: one state, action 1 pays 1, action 0 pays 0."""
    torch.manual_seed(0)
    agent = Agent(state_dim=3, hidden=8, structure=False)
    opt = torch.optim.Adam(agent.parameters(), lr=0.05)
    state = torch.ones(64, 3)
    edges = torch.empty(2, 0, dtype=torch.long)

    def p_rewarded() -> float:
        return torch.softmax(agent.node(state[:1]), -1)[0, 1].item()

    before = p_rewarded()
    for _ in range(30):
        acts = agent.act(state, edges)
        reward = acts.node.float()
        loss = reinforce_loss(acts.log_prob, reward, torch.ones(64, dtype=torch.bool), "mean")
        opt.zero_grad()
        loss.backward()
        opt.step()
    assert p_rewarded() > max(before + 0.3, 0.9)


def test_reinforce_ignores_nodes_without_reward_and_handles_none():
    logp = torch.zeros(4, requires_grad=True)
    reward = torch.tensor([1.0, 0.0, 5.0, -3.0])
    valid = torch.tensor([True, True, False, False])
    reinforce_loss(logp, reward, valid, "none").backward()
    assert torch.equal(logp.grad, torch.tensor([-0.5, 0.0, 0.0, 0.0]))
    empty = reinforce_loss(logp, reward, torch.zeros(4, dtype=torch.bool), "whiten")
    assert empty.item() == 0.0
    with pytest.raises(KdbenchError, match="baseline"):
        reinforce_loss(logp, reward, valid, "ema")


def _outputs(seed: int, n: int = 5, c: int = 3, d: int = 4) -> BackboneOutput:
    g = torch.Generator().manual_seed(seed)
    return BackboneOutput(
        h=torch.randn(n, d, generator=g, requires_grad=True),
        logits=torch.randn(n, c, generator=g, requires_grad=True),
    )


def test_a_peer_receives_distillation_only_where_it_is_the_student():
    o0, o1 = _outputs(0), _outputs(1)
    a = torch.tensor([1, 0, 1, 0, 0])  # 1: Ψ teaches, Φ receives
    acts = Actions(a, torch.ones(5, dtype=torch.long), torch.zeros(5), torch.zeros(5))
    params = {**FreeKD.defaults}
    FreeKD.transfer(o0, o1, acts, PATH, params, torch.ones(5)).backward()
    phi_gets = o0.logits.grad.abs().sum(-1) > 0
    psi_gets = o1.logits.grad.abs().sum(-1) > 0
    assert torch.equal(phi_gets, a == 1) and torch.equal(psi_gets, a == 0)
    # the structure term reaches the receiving peer's embeddings at its nodes and their
    # neighbours only through its own local structures: Φ's embedding gradient is nonzero
    assert o0.h.grad.abs().sum() > 0 and o1.h.grad.abs().sum() > 0


def test_structure_level_loss_is_zero_when_the_peers_embeddings_are_equal():
    h = torch.randn(5, 4)
    for kernel in ("rbf", "linear"):
        kl = structure_kd(h.clone().requires_grad_(), h, PATH, 5, kernel)
        assert kl.shape == (5,) and torch.allclose(kl, torch.zeros(5), atol=1e-6)
    assert structure_kd(torch.randn(5, 4), h, PATH, 5).sum() > 0


def test_local_structure_is_a_distribution_over_each_nodes_neighbours():
    log_s = local_structure(torch.randn(5, 4), PATH, 5)
    sums = torch.zeros(5).index_add_(0, PATH[1], log_s.exp())
    assert torch.allclose(sums, torch.ones(5))
    with pytest.raises(KdbenchError, match="kernel"):
        local_structure(torch.randn(5, 4), PATH, 5, kernel="poly")


def test_node_kd_is_zero_for_equal_logits_and_positive_otherwise():
    z = torch.randn(5, 3)
    assert torch.allclose(node_kd(z, z, 2.0), torch.zeros(5), atol=1e-6)
    assert (node_kd(torch.randn(5, 3), z, 1.0) > 0).all()


def test_shapes_of_actions_state_and_rewards_for_a_batch_of_nodes():
    o0, o1 = _outputs(0), _outputs(1)
    y = torch.tensor([0, 1, 2, 0, 1])
    labelled = torch.tensor([True, False, False, False, True])
    state = agent_state(o0, o1, y, labelled, embeddings=True)
    assert state.shape == (5, NUM_SIGNALS + 8) and not state.requires_grad
    assert agent_state(o0, o1, y, labelled, embeddings=False).shape == (5, NUM_SIGNALS)
    acts = Agent(state.shape[1], 16, structure=True).act(state, PATH)
    for t in (acts.node, acts.structure, acts.log_prob, acts.entropy):
        assert t.shape == (5,)
    assert set(acts.node.tolist()) <= {0, 1} and acts.log_prob.requires_grad
    rand = random_actions(5, structure=False, device=torch.device("cpu"))
    assert rand.node.shape == (5,) and not rand.structure.any()
    reward, valid = neighbourhood_mean(torch.arange(5.0), labelled.float(), PATH, 5)
    assert reward.shape == valid.shape == (5,)
    # node 2's closed neighbourhood {1, 2, 3} holds no training node: no reward
    assert valid.tolist() == [True, True, False, True, True]
    assert reward[[0, 1, 3, 4]].tolist() == [0.0, 0.0, 4.0, 4.0]


def test_unlabelled_nodes_never_leak_their_label_into_the_state():
    o0, o1 = _outputs(0), _outputs(1)
    labelled = torch.tensor([True, False, False, False, False])
    a = agent_state(o0, o1, torch.tensor([0, 1, 2, 0, 1]), labelled, False)
    b = agent_state(o0, o1, torch.tensor([0, 2, 0, 1, 0]), labelled, False)
    assert torch.equal(a, b)


def _fit(name: str, **over):
    data = make_node_data()
    method = METHODS.get(name)()
    params = resolve_params(method, BACKBONES.get("GCN"), "node", {"epochs": 8, **over})
    ctx = FitContext(
        data,
        simple_split(data.num_items),
        "GCN",
        params,
        0,
        torch.device("cpu"),
        Evaluator("accuracy"),
    )
    return method, method.fit(ctx)


@pytest.mark.parametrize("name", ["freekd", "freekd_random", "freekd_node"])
def test_variants_answer_with_one_peer(name):
    _, result = _fit(name)
    one_peer = sum(t.numel() for t in BACKBONES.get("GCN")(8, 3, "node").parameters())
    assert result.num_params == one_peer  # inference = one shallow GNN, not two
    assert result.extra["answering_peer"] in (0.0, 1.0)


@pytest.mark.parametrize(("report", "peer"), [("phi", 0), ("psi", 1)])
def test_a_fixed_report_peer_answers(report, peer):
    _, result = _fit("freekd", report=report, reward="margin")
    assert result.extra["answering_peer"] == peer


def test_bad_choices_name_the_fix():
    with pytest.raises(KdbenchError, match="--set reward="):
        _fit("freekd", reward="accuracy")


def test_kd_baseline_can_take_a_wider_teacher_than_its_tuned_cell(tmp_path, monkeypatch):
    """FreeKD's ``kd`` row distils a wider teacher: ``teacher_hidden`` overrides the width of
    the teacher's configuration (and keys its cache entry), the rest stays as tuned."""
    from benchmark.artifacts import ArtifactCache
    from benchmark.fitting import fit_seeds

    monkeypatch.setenv("KDBENCH_RUNS", str(tmp_path / "runs"))
    kd = METHODS.get("kd")()
    deps = kd.dependencies("node", "GCN", "GCN", {**kd.defaults, "teacher_hidden": 32})
    assert deps[0].overrides == {"hidden": 32} and deps[0].params is None
    assert kd.dependencies("node", "GCN", "GCN")[0].overrides is None
    data = make_node_data()
    fit_seeds("kd", data, "GCN", [0], torch.device("cpu"), {"epochs": 3, "teacher_hidden": 32})
    (build,) = ArtifactCache(tmp_path / "runs" / "artifacts").builds()
    assert build["key"]["params"]["hidden"] == 32 and build["key"]["params"]["layers"] == 2


def test_the_freekd_sweep_crosses_every_row_with_the_same_cells():
    from pathlib import Path

    from benchmark.runner.sweep import expand, load_sweep

    sweep = load_sweep(Path(__file__).parents[1] / "sweeps" / "freekd.yaml")
    cells = expand(sweep)
    by_method: dict[str, set] = {}
    for c in cells:
        by_method.setdefault(c.method, set()).add((c.dataset, c.backbone))
    rows = ("vanilla", "kd", "freekd", "freekd_random", "freekd_node")
    assert all(by_method[m] == by_method["freekd"] for m in rows)
    assert len(by_method["freekd"]) == 8 * 3 and sweep.fixed["kd"] == {"teacher_hidden": 256}


def test_validation_reuses_the_step_evaluation_and_equals_a_fresh_forward():
    """The loop's validation after a step reads the outputs the step re-evaluated; they must
    equal what a forward of both peers gives (same parameters, eval mode)."""
    from benchmark.train.feeders import make_feeder
    from benchmark.train.loop import predict_part

    data = make_node_data()
    method = METHODS.get("freekd")()
    params = resolve_params(method, BACKBONES.get("GCN"), "node", {"epochs": 3})
    split = simple_split(data.num_items)
    ctx = FitContext(data, split, "GCN", params, 0, torch.device("cpu"), Evaluator("accuracy"))
    state = method.setup(ctx)  # the fit's state; then drive one step by hand
    feeder = make_feeder(data, split, torch.device("cpu"), batch_size=0, seed=0)
    model = method.build(ctx, state)
    opt = method.configure_optimizer(model, ctx, state)
    model.train()
    method.training_step(model, next(feeder.train_batches()), opt, ctx, state)
    assert state.now_graph is feeder.part("val").edge_index  # the cached path is taken
    _, cached = predict_part(method, model, feeder, "val", state)
    state.now = None
    _, fresh = predict_part(method, model, feeder, "val", state)
    assert torch.allclose(cached, fresh, atol=1e-6)
