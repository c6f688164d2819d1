"""The sparse input path (benchmark/models/sparse_input.py): same function as the dense path,
dropout on the non-zeros only, gradients twice differentiable, used only where it applies."""

from __future__ import annotations

import dataclasses

import pytest
import torch

from benchmark.models import BACKBONES, build_backbone
from benchmark.models.sparse_input import (
    SparseFeatures,
    SparseInputCache,
    sparse_input_mode,
    sparse_linear,
    wants_sparse,
)
from tests.test_ltd import _setup


@pytest.fixture(autouse=True)
def _restore_mode():
    yield
    sparse_input_mode("auto")


def sparse_x(n: int = 40, f: int = 30, density: float = 0.06, seed: int = 0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return (torch.rand(n, f, generator=g) < density) * torch.rand(n, f, generator=g)


SPARSE_CAPABLE = [
    ("GCN", {}),
    ("GAT", {"heads": 2}),
    ("GraphSAGE", {"aggr": "gcn"}),
    ("APPNP", {}),
    ("MLP", {}),
    ("GIN", {}),  # projected first (benchmark.models.projected)
    ("GraphSAGE", {"aggr": "mean"}),
]
DENSE_ONLY = [("SGC", {}), ("GraphSAGE", {"aggr": "max"})]


def _outputs_and_grads(model, x, ei, mode):
    sparse_input_mode(mode)
    model.zero_grad(set_to_none=False)
    out = model(x, ei)
    (out.logits.pow(2).sum() + out.h.pow(2).sum()).backward()
    return out.logits.detach(), [p.grad.clone() for p in model.parameters()]


@pytest.mark.parametrize(("name", "extra"), SPARSE_CAPABLE + DENSE_ONLY)
def test_sparse_and_dense_paths_compute_the_same_function_and_gradients(name, extra):
    torch.manual_seed(0)
    x = sparse_x()
    ei = torch.randint(0, 40, (2, 160))
    model = build_backbone(name, 30, 3, "node", {"hidden": 8, **extra}, static_graph=True).eval()
    assert (model._sparse is not None) == ((name, extra) in SPARSE_CAPABLE)
    dense_out, dense_grads = _outputs_and_grads(model, x, ei, "off")
    sparse_out, sparse_grads = _outputs_and_grads(model, x, ei, "auto")
    torch.testing.assert_close(sparse_out, dense_out)
    for a, b in zip(sparse_grads, dense_grads):
        torch.testing.assert_close(a, b)


def test_one_layer_backbone_returns_a_dense_embedding():
    model = build_backbone("GCN", 30, 3, "node", {"layers": 1}).eval()
    out = model(sparse_x(), torch.randint(0, 40, (2, 100)))
    assert out.h.layout == torch.strided and out.h.shape == (40, 30)


def test_sparse_linear_is_twice_differentiable_and_matches_dense():
    x = sparse_x().double()
    xs = SparseFeatures.from_dense(x).dropout(0.0, training=False)
    torch.testing.assert_close(xs.to_dense(), x)
    torch.testing.assert_close(xs.kdbench_transpose.to_dense(), x.t())
    w = torch.randn(4, 30, dtype=torch.double, requires_grad=True)
    b = torch.randn(4, dtype=torch.double, requires_grad=True)
    torch.testing.assert_close(sparse_linear(xs, w, b), x @ w.t() + b)
    assert torch.autograd.gradcheck(lambda w, b: sparse_linear(xs, w, b), (w, b))
    assert torch.autograd.gradgradcheck(lambda w, b: sparse_linear(xs, w, b).tanh(), (w, b))
    # without a carried transpose (a plain CSR tensor) the result is the same
    plain = x.to_sparse_csr()
    torch.testing.assert_close(sparse_linear(plain, w, b), x @ w.t() + b)


def test_dropout_touches_only_non_zeros_and_keeps_the_mean():
    x = sparse_x(density=0.08)
    feats = SparseFeatures.from_dense(x)
    torch.manual_seed(0)
    runs = torch.stack([feats.dropout(0.5, training=True).to_dense() for _ in range(3000)])
    assert (runs[:, x == 0] == 0).all()
    kept = runs[:, x != 0] != 0
    assert kept.float().mean().item() == pytest.approx(0.5, abs=0.02)
    assert set(torch.unique(runs[:, x != 0] / (2 * x[x != 0])).tolist()) <= {0.0, 1.0}
    # the transpose carries the same dropped values
    one = feats.dropout(0.5, training=True)
    torch.testing.assert_close(one.kdbench_transpose.to_dense(), one.to_dense().t())


def test_cache_converts_once_per_input_and_refuses_dense_inputs():
    cache = SparseInputCache()
    x = sparse_x()
    first = cache.get(x)
    assert first is not None and cache.get(x) is first
    x.mul_(1.0)  # an in-place change is a new input
    assert cache.get(x) is not first
    assert cache.get(torch.randn(40, 30)) is None  # too dense: the dense path


def test_which_inputs_take_the_sparse_path():
    x = sparse_x()
    assert wants_sparse(x)
    assert not wants_sparse(x.clone().requires_grad_())  # NOSMOG's x + δ
    assert not wants_sparse(x.long())  # categorical features
    sparse_input_mode("off")
    assert not wants_sparse(x)
    with pytest.raises(ValueError, match="unknown sparse input mode"):
        sparse_input_mode("fast")


def test_ltd_meta_gradient_is_the_same_through_the_sparse_path():
    method, model, batch, params, state = _setup("ltd")
    x = batch.x * (torch.rand(batch.x.shape, generator=torch.Generator().manual_seed(3)) < 0.08)
    batch = dataclasses.replace(batch, x=x)
    assert model._sparse is not None
    grads = {}
    for mode in ("off", "auto"):
        sparse_input_mode(mode)
        grads[mode] = method.meta_grads(model, batch, params, state)[2]
    assert any(g.abs().sum() > 0 for g in grads["auto"])
    for a, b in zip(grads["auto"], grads["off"]):
        torch.testing.assert_close(a, b)


def test_deeper_sgc_layers_do_not_cache_parameter_dependent_inputs():
    torch.manual_seed(0)
    model = BACKBONES.get("SGC")(30, 3, "node", layers=2, hidden=8, static_graph=True)
    x, ei = torch.randn(40, 30), torch.randint(0, 40, (2, 120))
    first = model(x, ei).logits
    with torch.no_grad():
        model.convs[0].lin.weight.mul_(2.0)
    assert not torch.allclose(model(x, ei).logits, first)
    assert model.convs[0].cached and not model.convs[1].cached
