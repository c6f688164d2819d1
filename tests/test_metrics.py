import numpy as np
import pytest
import torch
from sklearn.metrics import roc_auc_score

from benchmark.errors import KdbenchError
from benchmark.metrics import Evaluator


def test_accuracy_device_and_host_agree():
    y = torch.tensor([0, 1, 2, 1])
    p = torch.tensor([[3.0, 0, 0], [0, 1, 0], [0, 2, 1], [5, 0, 0]])
    ev = Evaluator("accuracy")
    assert ev.eval(y, p) == pytest.approx(0.5)
    assert float(ev.score(y, p)) == pytest.approx(0.5)


def test_rocauc_matches_sklearn_with_ties_and_missing_labels():
    g = torch.Generator().manual_seed(0)
    y = (torch.rand(200, 3, generator=g) > 0.6).float()
    y[torch.rand(200, 3, generator=g) < 0.2] = float("nan")
    y[:, 2] = 1.0  # a task with one class only: skipped, as OGB does
    y[0, 2] = float("nan")
    s = torch.round(torch.randn(200, 3, generator=g) * 2) / 2  # many ties
    ev = Evaluator("rocauc")
    expected = np.mean(
        [roc_auc_score(y[~torch.isnan(y[:, t]), t], s[~torch.isnan(y[:, t]), t]) for t in (0, 1)]
    )
    assert ev.eval(y, s) == pytest.approx(expected)
    assert float(ev.score(y, s)) == pytest.approx(expected, abs=1e-6)


def test_rmse_ignores_missing_targets():
    y = torch.tensor([[1.0], [float("nan")], [3.0]])
    p = torch.tensor([[2.0], [100.0], [3.0]])
    ev = Evaluator("rmse")
    assert not ev.higher_is_better
    assert ev.eval(y, p) == pytest.approx(np.sqrt(0.5))
    assert float(ev.score(y, p)) == pytest.approx(np.sqrt(0.5))


def test_ogb_evaluator_is_used_for_ogb_cards():
    y = torch.tensor([[0.0], [1.0], [1.0], [0.0]])
    p = torch.tensor([[0.1], [0.9], [0.4], [0.3]])
    assert Evaluator("rocauc", "ogbg-molbace").eval(y, p) == pytest.approx(
        roc_auc_score(y.numpy(), p.numpy())
    )


@pytest.mark.parametrize(
    ("metric", "y", "p"),
    [
        ("accuracy", torch.zeros(4, 2), torch.zeros(4, 2)),
        ("accuracy", torch.zeros(3, dtype=torch.long), torch.zeros(4, 2)),
        ("rocauc", torch.zeros(4), torch.zeros(4, 1)),
    ],
)
def test_bad_shapes_say_what_was_expected(metric, y, p):
    with pytest.raises(KdbenchError, match="expected"):
        Evaluator(metric).eval(y, p)


def test_unknown_metric():
    with pytest.raises(KdbenchError, match="unknown metric"):
        Evaluator("f1")
