"""Project-first GraphSAGE and GIN layers compute PyG's layers' functions and gradients."""

from __future__ import annotations

import pytest
import torch
from torch import nn
from torch_geometric.nn import GINConv, SAGEConv

from benchmark.models.projected import ProjectedGINConv, ProjectedSAGEConv


def _graph(n: int = 30, f: int = 20, e: int = 90) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(0)
    x = torch.randn(n, f, generator=g)
    ei = torch.randint(0, n - 3, (2, e), generator=g)  # the last 3 nodes have no neighbours
    return x, ei


def _same_function_and_gradients(ours: nn.Module, pyg: nn.Module, x, ei) -> None:
    pyg.load_state_dict(ours.state_dict())
    outs, grads = [], []
    for m in (ours, pyg):
        xi = x.clone().requires_grad_(True)
        out = m(xi, ei)
        out.pow(2).sum().backward()
        outs.append(out.detach())
        grads.append([xi.grad, *(p.grad for p in m.parameters())])
    torch.testing.assert_close(outs[0], outs[1])
    for a, b in zip(*grads):
        torch.testing.assert_close(a, b)


@pytest.mark.parametrize(("f", "out", "first"), [(20, 8, True), (8, 20, False)])
def test_projected_sage_is_pygs_mean_sage(f, out, first):
    x, ei = _graph(f=f)
    torch.manual_seed(1)
    ours = ProjectedSAGEConv(f, out)
    assert ours.first is first
    _same_function_and_gradients(ours, SAGEConv(f, out, aggr="mean"), x, ei)


@pytest.mark.parametrize(("f", "first"), [(20, True), (4, False)])
def test_projected_gin_is_pygs_gin(f, first):
    x, ei = _graph(f=f)

    def mlp() -> nn.Sequential:
        return nn.Sequential(nn.Linear(f, 8), nn.BatchNorm1d(8), nn.ReLU(), nn.Linear(8, 3))

    torch.manual_seed(1)
    ours = ProjectedGINConv(mlp(), f)
    assert ours.first is first
    with torch.no_grad():
        ours.eps.fill_(0.3)  # a non-zero epsilon weighs the node itself
    _same_function_and_gradients(ours, GINConv(mlp(), train_eps=True), x, ei)
