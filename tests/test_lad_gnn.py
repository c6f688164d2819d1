"""LAD-GNN: the label attention on batched graphs of different sizes, no label reaching the
student's evaluation, the distillation term, the paper protocol, and a tiny end-to-end run."""

from __future__ import annotations

import dataclasses

import pytest
import torch

from benchmark.data.splits import PAPER_PROTOCOLS, make_split
from benchmark.errors import KdbenchError
from benchmark.fitting import fit_seeds
from benchmark.method import FitContext, resolve_params
from benchmark.metrics import Evaluator
from benchmark.models import BACKBONES
from benchmark.registry import METHODS
from methods.lad_gnn import LabelAttention
from tests.conftest import make_graph_data, simple_split

CPU = torch.device("cpu")
D, C = 8, 3
SIZES = [3, 5, 2]  # three graphs of different sizes in one mini-batch
BATCH = torch.repeat_interleave(torch.arange(3), torch.tensor(SIZES))
Y = torch.tensor([0, 2, 1])


def attention(scope: str, fusion: str = "code") -> LabelAttention:
    torch.manual_seed(0)
    return LabelAttention(C, D, dropout=0.0, tau=0.1, fusion=fusion, scope=scope).eval()


@pytest.mark.parametrize("fusion", ["code", "paper"])
def test_attention_maps_each_node_to_a_d_vector(fusion):
    h = torch.randn(sum(SIZES), D)
    for scope in ("batch", "graph"):
        assert attention(scope, fusion)(h, Y, BATCH, 3).shape == (sum(SIZES), D)


def test_graph_scope_masks_other_graphs_and_batch_scope_does_not():
    """Changing graph 1's nodes moves graph 0's ideal embeddings only with batch-wide
    attention; with scope="graph" graph 0 is exactly what it is alone in its batch."""
    h = torch.randn(sum(SIZES), D)
    h2 = h.clone()
    h2[BATCH == 1] += 5.0
    first = BATCH == 0
    graph, batch = attention("graph"), attention("batch")
    assert torch.allclose(graph(h, Y, BATCH, 3)[first], graph(h2, Y, BATCH, 3)[first])
    alone = graph(h[first], Y[:1], torch.zeros(SIZES[0], dtype=torch.long), 1)
    assert torch.allclose(graph(h, Y, BATCH, 3)[first], alone, atol=1e-6)
    assert not torch.allclose(batch(h, Y, BATCH, 3)[first], batch(h2, Y, BATCH, 3)[first])


@pytest.mark.parametrize("fusion", ["code", "paper"])
@pytest.mark.parametrize("scope", ["batch", "graph"])
def test_pooled_attention_is_the_mean_of_the_ideal_embeddings(scope, fusion):
    """The teacher never makes its ideal node embeddings: their mean per graph, computed from
    the pooled attention rows, equals pooling them, values and gradients."""
    from torch_geometric.nn import global_mean_pool

    att = attention(scope, fusion)
    h = torch.randn(sum(SIZES), D, requires_grad=True)
    want = global_mean_pool(att(h, Y, BATCH, 3), BATCH, 3)
    (grad_want,) = torch.autograd.grad(want.square().sum(), h)
    got = att.pooled(h, Y, BATCH, 3)
    (grad_got,) = torch.autograd.grad(got.square().sum(), h)
    assert torch.allclose(got, want, atol=1e-6)
    assert torch.allclose(grad_got, grad_want, atol=1e-5)


def test_attention_is_a_softmax_over_keys_of_the_same_graph():
    """scope="graph", fusion="code": H' = softmax(τ Q Kᵀ) V row by row, keys of the node's graph."""
    att = attention("graph")
    h = torch.randn(sum(SIZES), D)
    e = att.encoder(torch.nn.functional.one_hot(Y[BATCH], C).float())
    q, k, v = att.q(e), att.k(h), att.v(h)
    want = torch.empty(sum(SIZES), D)
    for b in range(3):
        m = b == BATCH
        want[m] = torch.softmax(0.1 * q[m] @ k[m].T, dim=-1) @ v[m]
    assert torch.allclose(att(h, Y, BATCH, 3), want, atol=1e-6)


def _ctx(method: str, data, split, **over) -> FitContext:
    m = METHODS.get(method)()
    params = resolve_params(m, BACKBONES.get("GCN"), "graph", {"epochs": 4, "hidden": 16, **over})
    return FitContext(data, split, "GCN", params, 0, CPU, Evaluator("accuracy"))


def _teacher(data, split, **over):
    ctx = _ctx("lad_teacher", data, split, **over)
    return METHODS.get("lad_teacher")().fit(
        dataclasses.replace(ctx, evaluate_test=False, export_outputs=True)
    )


def test_teacher_cannot_be_evaluated_on_test():
    data = make_graph_data(n=30, classes=C)
    ctx = _ctx("lad_teacher", data, simple_split(30))
    with pytest.raises(KdbenchError, match="run lad_gnn instead"):
        METHODS.get("lad_teacher")().fit(ctx)  # evaluate_test defaults to True


def test_no_validation_or_test_label_reaches_the_student():
    """The teacher exports g only for training graphs (NaN elsewhere, no logits), and
    changing every test label changes neither its export nor the student's predictions."""
    data = make_graph_data(n=30, classes=C)
    split = simple_split(30)
    teacher = _teacher(data, split)
    g = teacher.outputs["g"]
    train = torch.zeros(30, dtype=torch.bool)
    train[split.train] = True
    assert g[train].isfinite().all() and g[~train].isnan().all()
    assert "logits" not in teacher.outputs

    relabelled = dataclasses.replace(data, y=data.y.clone())
    relabelled.y[split.test] = (relabelled.y[split.test] + 1) % C
    teacher2 = _teacher(relabelled, split)
    assert torch.equal(teacher2.outputs["g"].nan_to_num(), g.nan_to_num())

    preds = []
    for d, t in ((data, teacher), (relabelled, teacher2)):
        ctx = dataclasses.replace(_ctx("lad_gnn", d, split), artifacts={"teacher": t})
        preds.append(METHODS.get("lad_gnn")().fit(ctx).test_pred)
    assert torch.equal(preds[0], preds[1])


def test_teacher_validates_on_batches_of_its_training_size(monkeypatch):
    """Batch-wide attention makes a graph's output depend on its batch: the validation loss
    that selects the teacher's epoch uses batches of ``batch_size`` graphs, as it trains."""
    data = make_graph_data(n=40, classes=C)
    split = simple_split(40)  # 8 validation graphs
    seen: list[int] = []
    teacher = METHODS.get("lad_teacher")()
    predict = teacher.predict

    def spy(model, batch, state):
        seen.append(batch.num_graphs)
        return predict(model, batch, state)

    monkeypatch.setattr(teacher, "predict", spy)
    ctx = _ctx("lad_teacher", data, split, batch_size=3)
    teacher.fit(dataclasses.replace(ctx, evaluate_test=False))
    assert seen and max(seen) <= 3
    assert METHODS.get("lad_gnn")().eval_batch_size(_ctx("lad_gnn", data, split)) == 1024


def test_distillation_term_is_zero_when_the_student_matches_its_teacher():
    """L = CE + α·MSE(g_S, g_T) (α = ``distill_weight``): with g_T := the student's own g, L
    equals the CE alone."""
    from benchmark.train.feeders import make_feeder
    from benchmark.train.losses import supervised_loss

    data = make_graph_data(n=30, classes=C)
    split = simple_split(30)
    method = METHODS.get("lad_gnn")()
    ctx = _ctx("lad_gnn", data, split, distill_weight=3.0)
    g_teacher = torch.full((30, 16), torch.nan)  # the fit's state: g_T of every graph
    model = method.build(ctx, g_teacher).eval()
    batch = next(iter(make_feeder(data, split, CPU, batch_size=8, seed=0).train_batches()))
    out = method.forward(model, batch)
    g_teacher[batch.ids] = out.g.detach()
    ce = supervised_loss("multiclass", out.logits, batch.y)
    assert method.loss(model, batch, ctx, g_teacher).item() == pytest.approx(ce.item(), abs=1e-7)
    g_teacher[batch.ids] = out.g.detach() + 0.1
    loss = method.loss(model, batch, ctx, g_teacher).item()
    assert loss == pytest.approx(ce.item() + 3.0 * 0.01, rel=1e-4)


def test_shared_frozen_head_is_the_teachers_and_stays_frozen():
    data = make_graph_data(n=30, classes=C)
    split = simple_split(30)
    teacher = _teacher(data, split)
    ctx = dataclasses.replace(
        _ctx("lad_gnn", data, split, head="shared_frozen"), artifacts={"teacher": teacher}
    )
    model = METHODS.get("lad_gnn")().build(ctx, None).train()
    state = teacher.outputs["state_dict"]
    assert torch.equal(model.head.inner[0].weight, state["head.0.weight"])
    assert not any(p.requires_grad for p in model.head.parameters())
    assert not model.head.inner[1].training  # batch norm keeps the teacher's statistics
    with pytest.raises(KdbenchError, match="head must be one of"):
        METHODS.get("lad_gnn")().build(_ctx("lad_gnn", data, split, head="shared"), None)


def test_paper_protocol_is_an_80_10_10_shuffle_selected_on_test():
    data = make_graph_data(n=50, classes=C)
    s = make_split(data, "lad_paper", 3)
    assert "lad_paper" in PAPER_PROTOCOLS
    assert torch.equal(s.val, s.test) and s.test.numel() == 5 and s.train.numel() == 40
    assert s.parts["val_official"].numel() == 5
    every = torch.cat([s.train, s.test, s.parts["val_official"]]).sort().values
    assert torch.equal(every, torch.arange(50))
    assert not torch.equal(make_split(data, "lad_paper", 4).test, s.test)
    assert METHODS.get("lad_gnn").paper_protocol == "lad_paper"


def test_lad_gnn_end_to_end_trains_one_teacher_per_seed_and_reuses_it(tmp_path, monkeypatch):
    monkeypatch.setenv("KDBENCH_RUNS", str(tmp_path / "runs"))
    from benchmark.artifacts import ArtifactCache

    data = make_graph_data(n=40, classes=C)
    for lr in (1e-3, 3e-3):  # two student settings share the teacher
        summary = fit_seeds("lad_gnn", data, "GCN", [0, 1], CPU, {"epochs": 3, "lr": lr})
        assert len(summary.seeds) == 2 and all(0 <= t <= 1 for t in summary.tests)
    builds = ArtifactCache(tmp_path / "runs" / "artifacts").builds()
    assert sorted(b["key"]["seed"] for b in builds) == [0, 1]
    assert {b["key"]["method"] for b in builds} == {"lad_teacher"}
    assert {b["key"]["params"]["lr"] for b in builds} == {0.01}  # the teacher's own lr
    # a teacher cached by earlier code (another revision) is not reused
    assert {b["key"]["revision"] for b in builds} == {METHODS.get("lad_teacher").revision}
    monkeypatch.setattr(METHODS.get("lad_teacher"), "revision", 99)
    fit_seeds("lad_gnn", data, "GCN", [0], CPU, {"epochs": 3})
    assert len(ArtifactCache(tmp_path / "runs" / "artifacts").builds()) == 3
    with pytest.raises(KdbenchError, match="drop --teacher"):
        fit_seeds("lad_gnn", data, "GCN", [0], CPU, {"epochs": 1}, teacher="GIN")


def test_a_sweep_never_makes_a_cell_of_the_teacher():
    from benchmark.runner.sweep import Cell, teacher_cells

    assert teacher_cells(Cell("s", "lad_gnn", "MUTAG", "GIN", None, None)) == []


def test_a_sweep_naming_the_teacher_is_rejected_and_paper_yaml_has_lad(tmp_path):
    from pathlib import Path

    from benchmark.runner.sweep import expand, load_sweep

    path = tmp_path / "s.yaml"
    path.write_text(
        "name: s\nbudget: {trials: 1, tuning_seeds: [0], final_seeds: [0]}\n"
        "grid:\n  - methods: [lad_teacher]\n    datasets: [MUTAG]\n"
        "    backbones: [GIN]\n"
    )
    with pytest.raises(KdbenchError, match=r"lad_teacher.*sweep that method"):
        load_sweep(path)
    cells = expand(load_sweep(Path(__file__).parents[1] / "sweeps" / "paper.yaml"))
    lad = [c for c in cells if c.method == "lad_gnn"]
    assert {c.protocol for c in lad} == {None, "lad_paper"} and len(lad) == (2 * 7 + 2) * 4
    official_features = {c.dataset for c in lad if c.dataset.endswith("-minmaxdeg")}
    assert official_features == {"IMDB-BINARY-minmaxdeg", "IMDB-MULTI-minmaxdeg"}
    assert all(c.protocol == "lad_paper" for c in lad if c.dataset in official_features)
    assert not [c for c in cells if c.method == "lad_teacher"]
