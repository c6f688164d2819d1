"""NOSMOG: DeepWalk position features, representation similarity distillation, adversarial
augmentation, and that with every switch off it is GLNN."""

from __future__ import annotations

import pytest
import torch

from benchmark.data.positions import deepwalk, position_features, random_walks
from benchmark.data.splits import make_split
from benchmark.fitting import fit_seeds
from benchmark.method import FitContext, resolve_params
from benchmark.metrics import Evaluator
from benchmark.models import BACKBONES
from benchmark.registry import METHODS
from methods.nosmog import pgd_delta, rsd_loss, with_positions
from tests.conftest import make_node_data

IND_ARGS = {"sizes": {"train": 5, "val": 5}, "rate": 0.25}
OFF = {"position_dim": 0, "rsd_weight": 0.0, "adv_eps": 0.0}


def _path_graph(n: int) -> torch.Tensor:
    a = torch.arange(n - 1)
    return torch.cat([torch.stack([a, a + 1]), torch.stack([a + 1, a])], 1)


def test_random_walks_follow_edges_and_stay_on_isolated_nodes():
    ei = _path_graph(5)  # 0-1-2-3-4, node 5 isolated
    walks = random_walks(ei, 6, torch.tensor([0, 2, 5, 5]), 7, torch.Generator().manual_seed(0))
    assert walks.shape == (4, 7)
    assert walks[:, 0].tolist() == [0, 2, 5, 5]
    steps = (walks[:, 1:] - walks[:, :-1]).abs()
    assert ((steps == 1) | (walks[:, 1:] == 5)).all()  # every move is an edge of the path
    assert (walks[2:] == 5).all()


def test_deepwalk_is_seeded_and_places_neighbours_closer_than_strangers():
    # two 6-cliques joined by nothing: nodes of one clique co-occur, the others never
    a = torch.combinations(torch.arange(6)).T
    ei = torch.cat([a, a + 6], 1)
    ei = torch.cat([ei, ei.flip(0)], 1)
    one = deepwalk(ei, 12, 8, walk_length=20, num_walks=20, window=3, epochs=5, seed=1)
    two = deepwalk(ei, 12, 8, walk_length=20, num_walks=20, window=3, epochs=5, seed=1)
    assert one.shape == (12, 8) and torch.equal(one, two)
    cos = torch.nn.functional.cosine_similarity
    same = cos(one[0:1], one[1:6]).mean()
    other = cos(one[0:1], one[6:12]).mean()
    assert same > other


def test_inductive_positions_ignore_hidden_nodes_and_average_observed_neighbours():
    ei = _path_graph(6)  # 0-1-2-3-4-5 with 3 and 4 hidden: walks see 0-1-2 and a lone 5
    pos = position_features(
        ei, 6, 4, torch.tensor([3, 4]), seed=0, walk_length=5, num_walks=3, window=2, epochs=1
    )
    assert not torch.equal(pos[3], torch.zeros(4))
    assert torch.allclose(pos[3], pos[2])  # node 3's only observed neighbour is 2
    assert torch.allclose(pos[4], pos[5])  # node 4's only observed neighbour is 5
    nobody = position_features(
        _path_graph(3),
        4,
        4,
        torch.tensor([3]),
        seed=0,
        walk_length=3,
        num_walks=1,
        window=1,
        epochs=1,
    )
    assert torch.equal(nobody[3], torch.zeros(4))  # no observed neighbour: zeros


def test_rsd_loss_is_zero_for_equal_gram_matrices_and_matches_a_hand_computed_value():
    t = torch.tensor([[1.0, 0.0], [0.0, 2.0]])
    rotated = t @ torch.tensor([[0.0, -1.0], [1.0, 0.0]])  # same Gram matrix
    assert rsd_loss(rotated, t).item() == pytest.approx(0.0)
    s = torch.tensor([[1.0], [1.0]])  # Gram [[1, 1], [1, 1]] vs [[1, 0], [0, 4]]
    assert rsd_loss(s, t).item() == pytest.approx((0 + 1 + 1 + 9) / 4)


def test_pgd_stays_in_the_ball_raises_the_loss_and_leaves_parameter_grads_alone():
    torch.manual_seed(0)
    lin = torch.nn.Linear(3, 2)
    x, y = torch.randn(16, 3), torch.randint(0, 2, (16,))

    def loss_at(z):
        return torch.nn.functional.cross_entropy(lin(z), y)

    delta = pgd_delta(loss_at, x, 0.1, steps=5)
    assert delta.abs().max() <= 0.1 + 1e-7 and not delta.requires_grad
    assert loss_at(x + delta) > loss_at(x)
    assert lin.weight.grad is None


def test_with_positions_appends_the_walk_features_without_touching_the_dataset():
    data = make_node_data(n=40, classes=2)
    split = make_split(data, "inductive", 0, IND_ARGS)
    method = METHODS.get("nosmog")()
    params = resolve_params(method, BACKBONES.get("MLP"), "node", {"position_dim": 6})
    ctx = FitContext(data, split, "MLP", params, 0, torch.device("cpu"), Evaluator("accuracy"))
    aug = with_positions(ctx, 6)
    assert aug.num_features == data.num_features + 6 and aug.data.x.shape == (40, 14)
    assert torch.equal(aug.data.x[:, :8], data.data.x) and data.data.x.shape == (40, 8)


def test_with_every_switch_off_nosmog_is_glnn(tmp_path, monkeypatch):
    monkeypatch.setenv("KDBENCH_RUNS", str(tmp_path / "runs"))  # the teacher cache
    data = make_node_data(n=60, classes=3)
    kw = dict(protocol="inductive", protocol_args=IND_ARGS, teacher="GCN")
    glnn = fit_seeds("glnn", data, "MLP", [0], torch.device("cpu"), {"epochs": 8}, **kw)
    off = fit_seeds("nosmog", data, "MLP", [0], torch.device("cpu"), {"epochs": 8, **OFF}, **kw)
    assert off.tests == glnn.tests
    assert off.seeds[0].result.val_curve == glnn.seeds[0].result.val_curve


@pytest.mark.parametrize(
    "switch",
    [
        {"position_dim": 8},
        {"rsd_weight": 0.5, "rsd_nodes": 16},
        {"adv_eps": 0.05},
        {"batch_size": 16},
    ],
)
def test_each_switch_trains_end_to_end_and_only_the_mlp_is_counted(switch, tmp_path, monkeypatch):
    monkeypatch.setenv("KDBENCH_RUNS", str(tmp_path / "runs"))
    data = make_node_data(n=60, classes=3)
    params = {"epochs": 4, **OFF, **switch}
    if "batch_size" in switch:  # the official two-pass schedule with all three on
        params.update(position_dim=4, rsd_weight=0.5, adv_eps=0.05, label_weight=0.3)
    summary = fit_seeds(
        "nosmog",
        data,
        "MLP",
        [0, 1],
        torch.device("cpu"),
        params,
        protocol="inductive",
        protocol_args=IND_ARGS,
        teacher="GCN",
    )
    assert all(0 <= t <= 1 for t in summary.tests)
    width = data.num_features + int(params["position_dim"])
    hidden = 128
    mlp_params = width * hidden + hidden + hidden * 3 + 3
    assert summary.seeds[0].result.num_params == mlp_params  # no projector in the count


def test_presets_carry_the_official_per_dataset_settings():
    nosmog = METHODS.get("nosmog")()
    p = resolve_params(nosmog, BACKBONES.get("MLP"), "node", {"preset": "nosmog_citeseer"})
    assert (p["position_dim"], p["num_walks"], p["walk_epochs"], p["adv_eps"]) == (16, 3, 5, 0.045)
    assert (p["dropout"], p["weight_decay"]) == (0.1, 1e-3)  # GLNN's CiteSeer MLP
    q = resolve_params(nosmog, BACKBONES.get("MLP"), "node", {"preset": "nosmog_citeseer_ind"})
    assert (q["position_dim"], q["rsd_weight"]) == (64, 0.3)
