import pytest
import torch

from benchmark.errors import KdbenchError
from benchmark.method import resolve_params
from benchmark.models import BACKBONES, build_backbone
from benchmark.registry import METHODS

N, F, C = 12, 6, 3
X = torch.randn(N, F)
EI = torch.tensor(
    [
        [i for i in range(N)] + [(i + 1) % N for i in range(N)],
        [(i + 1) % N for i in range(N)] + [i for i in range(N)],
    ]
)
BATCH = torch.tensor([0] * 5 + [1] * 7)


@pytest.mark.parametrize("name", ["GCN", "GAT", "GIN", "GraphSAGE", "APPNP", "SGC", "MLP"])
@pytest.mark.parametrize("task", ["node", "graph"])
def test_backbone_outputs_have_the_documented_shapes(name, task):
    params = resolve_params(METHODS.get("vanilla")(), BACKBONES.get(name), task)
    model = build_backbone(name, F, C, task, params).eval()
    out = model(X, EI, BATCH if task == "graph" else None, 2 if task == "graph" else None)
    assert out.h.shape == (N, model.embedding_dim)
    if task == "node":
        assert out.logits.shape == (N, C) and out.g is None
    else:
        assert out.logits.shape == (2, C) and out.g.shape[0] == 2


def test_mlp_ignores_the_graph_and_gcn_does_not():
    for name, same in (("MLP", True), ("GCN", False)):
        model = build_backbone(name, F, C, "node", {"dropout": 0.0}).eval()
        a = model(X, EI).logits
        b = model(X, EI[:, :3]).logits
        assert torch.allclose(a, b) == same


def test_categorical_features_are_embedded():
    x = torch.randint(0, 4, (N, 2))
    model = build_backbone("GIN", 0, 1, "graph", {"hidden": 16}, categorical=[4, 4]).eval()
    out = model(x, EI, BATCH, 2)
    assert out.logits.shape == (2, 1)


def test_jk_cat_pools_every_layer():
    model = build_backbone("GIN", F, C, "graph", {"hidden": 8, "layers": 3, "jk": "cat"}).eval()
    assert model(X, EI, BATCH, 2).g.shape == (2, 24)


def test_bad_architecture_arguments():
    with pytest.raises(KdbenchError, match="divisible"):
        build_backbone("GAT", F, C, "node", {"hidden": 10, "heads": 3, "layers": 3})
    with pytest.raises(KdbenchError, match="readout"):
        build_backbone("GCN", F, C, "graph", {"readout": "median"})


def test_appnp_propagates_personalised_pagerank():
    """K steps of Z ← (1−α)ÂZ + αH on the MLP's output, checked against a dense Â."""
    model = build_backbone("APPNP", F, C, "node", {"dropout": 0.0, "K": 3, "alpha": 0.2}).eval()
    a = torch.zeros(N, N)
    a[EI[0], EI[1]] = 1.0
    a += torch.eye(N)
    d = a.sum(1).rsqrt()
    a_hat = d[:, None] * a * d[None, :]
    h = model.convs[1](torch.relu(model.convs[0](X)))
    z = h
    for _ in range(3):
        z = 0.8 * a_hat @ z + 0.2 * h
    assert torch.allclose(model(X, EI).logits, z, atol=1e-5)


def test_appnp_edge_dropout_is_drawn_afresh_from_the_normalised_weights_at_every_step(
    monkeypatch,
):
    """Each of the K steps drops entries of the same Â (PyG's APPNP compounds the drops:
    step k would get the previous step's dropped, rescaled weights)."""
    from benchmark.models.layers import PPRPropagation

    seen = []
    real = torch.nn.functional.dropout

    def spy(t, p=0.5, training=True, inplace=False):
        seen.append(t.clone())
        return real(t, p, training, inplace)

    monkeypatch.setattr(torch.nn.functional, "dropout", spy)
    prop = PPRPropagation(K=4, alpha=0.1, edge_dropout=0.5).train()
    prop(X, EI)
    assert len(seen) == 4 and all(torch.equal(t, seen[0]) for t in seen)
    assert (seen[0] > 0).all()  # the normalised weights, none dropped yet
    prop.eval()
    assert torch.equal(prop(X, EI), prop(X, EI))  # no dropout at evaluation


def test_sgc_is_linear_in_k_hop_smoothed_features():
    params = resolve_params(METHODS.get("vanilla")(), BACKBONES.get("SGC"), "node", {"bias": False})
    model = build_backbone("SGC", F, C, "node", params).eval()
    assert len(model.convs) == 1 and not model.norms
    a = torch.zeros(N, N)
    a[EI[0], EI[1]] = 1.0
    a += torch.eye(N)
    d = a.sum(1).rsqrt()
    a_hat = d[:, None] * a * d[None, :]
    w = model.convs[0].lin.weight
    assert torch.allclose(model(X, EI).logits, a_hat @ a_hat @ X @ w.T, atol=1e-5)


@pytest.mark.parametrize("width", [4, 9])  # narrower and wider than F: both orders of the map
def test_graphsage_gcn_aggregator_is_one_weight_on_the_mean_with_self(width):
    """``aggr="gcn"``: h' = W (h_v + Σ_{u∈N(v)} h_u) / (deg v + 1) + b, dense check."""
    model = build_backbone(
        "GraphSAGE", F, C, "node", {"aggr": "gcn", "hidden": width, "dropout": 0.0}
    ).eval()
    a = torch.zeros(N, N)
    a[EI[1], EI[0]] = 1.0
    a += torch.eye(N)
    mean = a / a.sum(1, keepdim=True)
    conv = model.convs[0]
    assert torch.allclose(conv(X, EI), conv.lin(mean @ X), atol=1e-5)
    assert sum(p.numel() for p in conv.parameters()) == F * width + width  # no root weight


def test_presets_give_a_papers_settings_and_overrides_still_win():
    vanilla = METHODS.get("vanilla")()
    p = resolve_params(vanilla, BACKBONES.get("GCN"), "node", {"preset": "ltd"})
    assert (p["dropout"], p["weight_decay"], p["epochs"], p["patience"]) == (0.8, 1e-3, 600, 50)
    p = resolve_params(vanilla, BACKBONES.get("GCN"), "node", {"preset": "ltd", "dropout": 0.1})
    assert p["dropout"] == 0.1
    with pytest.raises(KdbenchError, match=r"unknown preset 'ltdd'.*Did you mean 'ltd'"):
        resolve_params(vanilla, BACKBONES.get("GCN"), "node", {"preset": "ltdd"})
    with pytest.raises(KdbenchError, match="no settings for backbone 'GIN'"):
        resolve_params(vanilla, BACKBONES.get("GIN"), "node", {"preset": "ltd"})


def test_graph_task_gcn_normalises_once_per_forward_with_pygs_values():
    from torch_geometric.nn import GCNConv

    torch.manual_seed(0)
    x, ei = torch.randn(12, 5), torch.randint(0, 12, (2, 30))
    model = build_backbone("GCN", 5, 3, "graph", {"hidden": 8, "layers": 2, "norm": "none"})
    model.eval()
    h = x
    for conv in model.convs:  # PyG's layer normalising the same edges itself, every layer
        ref = GCNConv(conv.in_channels, conv.out_channels)
        ref.load_state_dict(conv.state_dict())
        h = torch.relu(ref(h, ei))
    torch.testing.assert_close(model(x, ei).h, h)


def test_dropout_mask_keeps_each_entry_with_probability_one_minus_p():
    from benchmark.models.layers import dropout, keep_mask

    torch.manual_seed(0)
    x = torch.ones(400, 250)
    for p in (0.1, 0.5, 0.6):
        keep, scale = keep_mask(x, p)
        assert keep.shape == x.shape and keep.dtype == torch.bool
        assert keep.float().mean().item() == pytest.approx(1 - p, abs=0.005)
        assert scale == pytest.approx(1 / (1 - p), rel=1e-4)
        out = dropout(x, p, training=True)
        assert out.mean().item() == pytest.approx(1.0, abs=0.01)  # inverted: mean kept
    assert dropout(x, 0.5, training=False) is x
