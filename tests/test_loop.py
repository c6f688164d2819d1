"""The shared training loop: selection on validation only, early stopping, no test leakage."""

import pytest
import torch

from benchmark.errors import KdbenchError
from benchmark.method import FitContext, resolve_params
from benchmark.metrics import Evaluator
from benchmark.models import BACKBONES
from benchmark.registry import METHODS
from benchmark.train.loop_method import LoopMethod
from tests.conftest import make_graph_data, make_node_data, simple_split


def ctx_for(data, backbone="GCN", method="vanilla", **over):
    m = METHODS.get(method)()
    params = resolve_params(m, BACKBONES.get(backbone), data.task, {"epochs": 25, **over})
    split = simple_split(data.num_items)
    return m, FitContext(
        data, split, backbone, params, 0, torch.device("cpu"), Evaluator(data.card.metric)
    )


@pytest.mark.parametrize("make", [make_node_data, make_graph_data])
def test_best_epoch_is_the_first_argmax_of_the_validation_curve(make):
    m, ctx = ctx_for(make(), patience=None)
    r = m.fit(ctx)
    curve = torch.tensor(r.val_curve)
    assert len(curve) == r.epochs_run == 25
    assert r.best_epoch == int(torch.nonzero(curve == curve.max())[0])
    assert r.val == pytest.approx(float(curve.max()), abs=1e-6)


def test_ties_last_keeps_the_latest_of_equal_scores_and_restarts_patience():
    """Scores 0.5, 0.7, 0.7, 0.6, 0.7, 0.6, 0.6: first → epoch 1 and stop after epoch 3
    (patience 2); last → epoch 4 (each tie restarts the count), stop after epoch 6; a NaN
    never counts, not even as a tie of the initial −inf."""
    from benchmark.train.loop import BestState

    scores = [0.5, 0.7, 0.7, 0.6, 0.7, 0.6, 0.6]
    for ties, best_epoch, stops_after in (("first", 1, 3), ("last", 4, 6)):
        model = torch.nn.Linear(1, 1)
        best = BestState(model, higher_is_better=True, patience=2, ties=ties)
        stopped = None
        for epoch, value in enumerate(scores):
            with torch.no_grad():
                model.weight.fill_(epoch)
            best.update(epoch, torch.tensor(value))
            if stopped is None and not bool(best.active):
                stopped = epoch
        assert (best.restore(), stopped) == (best_epoch, stops_after)
        assert model.weight.item() == best_epoch  # the state of that epoch is restored
    nan = BestState(torch.nn.Linear(1, 1), True, None, ties="last")
    nan.update(0, torch.tensor(float("nan")))
    assert int(nan.best_epoch) == -1
    with pytest.raises(KdbenchError, match="ties must be 'first' or 'last'"):
        BestState(torch.nn.Linear(1, 1), True, None, ties="middle")


def test_selection_last_keeps_the_last_epoch_and_never_stops_early():
    import dataclasses

    m, ctx = ctx_for(make_node_data(), patience=2, epochs=30)
    ctx.split = dataclasses.replace(ctx.split, selection="last")
    r = m.fit(ctx)
    assert r.best_epoch == 29 and r.epochs_run == 30
    assert r.val == pytest.approx(r.val_curve[-1], abs=1e-6)
    ctx.split = dataclasses.replace(ctx.split, selection="test")
    with pytest.raises(KdbenchError, match="selection must be"):
        m.fit(ctx)


@pytest.mark.parametrize("sync_every", [1, 7])
def test_results_do_not_depend_on_how_often_the_host_syncs(sync_every):
    m, ctx = ctx_for(make_node_data(), patience=3, epochs=40)
    ref = m.fit(ctx)
    m, ctx = ctx_for(make_node_data(), patience=3, epochs=40, sync_every=sync_every)
    r = m.fit(ctx)
    assert (r.best_epoch, r.val, r.test) == (ref.best_epoch, ref.val, ref.test)
    assert (r.val_curve, r.epochs_run) == (ref.val_curve, ref.epochs_run)
    assert len(r.loss_curve) == r.epochs_run < 40


def test_early_stopping_stops_after_patience_epochs_without_improvement():
    m, ctx = ctx_for(make_node_data(), patience=3, epochs=200, sync_every=1)
    r = m.fit(ctx)
    assert r.epochs_run == r.best_epoch + 1 + 3


def test_reports_every_validation_score_to_the_pruner():
    seen = []
    m, ctx = ctx_for(make_node_data(), patience=None)
    ctx.report = lambda epoch, value: seen.append((epoch, value))
    r = m.fit(ctx)
    assert [e for e, _ in seen] == list(range(25))
    assert [v for _, v in seen] == r.val_curve


class _Spy(LoopMethod):
    name = "spy"

    def __init__(self):
        self.rows = []

    def predict(self, model, batch, state):
        self.rows.append(batch.ids.clone())
        return super().predict(model, batch, state)


@pytest.mark.parametrize("make", [make_node_data, make_graph_data])
def test_test_rows_are_never_predicted_while_tuning(make):
    data = make()
    _, ctx = ctx_for(data)
    ctx.evaluate_test = False
    spy = _Spy()
    r = spy.fit(ctx)
    assert r.test is None and r.test_pred is None
    seen = torch.cat(spy.rows)
    assert not torch.isin(seen, ctx.split.test).any()
    spy.rows.clear()
    ctx.evaluate_test = True
    r = spy.fit(ctx)
    assert r.test is not None and r.inference_ms > 0


def test_same_seed_same_result_and_other_seed_differs():
    m, ctx = ctx_for(make_graph_data(), backbone="GIN")
    a, b = m.fit(ctx), m.fit(ctx)
    assert a.val_curve == b.val_curve and a.test == b.test
    ctx.seed = 1
    assert m.fit(ctx).loss_curve != a.loss_curve


class _Diverge(LoopMethod):
    name = "diverge"

    def predict(self, model, batch, state):
        return super().predict(model, batch, state) * float("nan")


def test_divergence_is_a_clear_error():
    _, ctx = ctx_for(make_node_data(), epochs=3)
    with pytest.raises(KdbenchError, match="NaN"):
        _Diverge().fit(ctx)


def test_multilabel_graph_task_trains_with_masked_bce():
    m, ctx = ctx_for(make_graph_data(target="multilabel"), backbone="GIN")
    r = m.fit(ctx)
    assert 0.0 <= r.test <= 1.0 and r.val > 0.5


def test_graph_store_select_equals_pyg_collation():
    from torch_geometric.data import Batch as PygBatch

    from benchmark.train.feeders import GraphStore

    data = make_graph_data(n=12)
    for g in data.graphs:
        g.edge_attr = torch.randn(g.edge_index.shape[1], 3)
    store = GraphStore(data.graphs, torch.device("cpu"))
    ids = torch.tensor([7, 2, 9])
    got = store.select(ids)
    ref = PygBatch.from_data_list([data.graphs[i] for i in ids.tolist()])
    for key in ("x", "edge_index", "edge_attr", "batch"):
        assert torch.equal(getattr(got, key), getattr(ref, key)), key
    assert got.gid.tolist() == [7, 2, 9] and got.num_graphs == 3


@pytest.mark.parametrize("make", [make_node_data, make_graph_data])
def test_exported_outputs_cover_every_item_in_order(make):
    data = make()
    m, ctx = ctx_for(data, epochs=3)
    ctx.export_outputs, ctx.evaluate_test = True, False
    out = m.fit(ctx).outputs
    assert out["logits"].shape == (data.num_items, data.num_outputs)
    emb = out["h"] if data.task == "node" else out["g"]
    assert emb.shape[0] == data.num_items and "state_dict" in out
