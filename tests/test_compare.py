"""Paired comparisons of the results layer (:mod:`benchmark.results.compare`) on tiny frames
whose p values are known exactly."""

from __future__ import annotations

import math

import pandas as pd
import pytest

from benchmark.results.compare import Paired, adjusted, compare, paired


def frame(cells: dict[str, dict[int, float]], metric: str = "accuracy") -> pd.DataFrame:
    """A per-seed frame (the columns :func:`compare` reads) from cell → seed → test."""
    rows = [
        {"cell": c, "seed": str(s), "metric": metric, "m.test": t}
        for c, seeds in cells.items()
        for s, t in seeds.items()
    ]
    return pd.DataFrame(rows)


def test_all_positive_differences_give_the_exact_two_sided_p() -> None:
    base = {s: 50.0 + s for s in range(6)}
    row = {s: v + 1 + 0.1 * s for s, v in base.items()}  # six distinct positive differences
    got = paired(row, base)
    assert got.n == 6 and got.diff == pytest.approx(1.25)
    assert got.p == pytest.approx(2 / 2**6)  # only all-plus and all-minus are as extreme
    assert got.text() == "+1.2 (p = 0.031)"


def test_only_matching_seeds_are_paired() -> None:
    row = {s: 60.0 + 0.1 * s for s in range(0, 7)}
    base = {s: 50.0 for s in range(2, 9)}
    got = paired(row, base)
    assert got.n == 5  # seeds 2..6
    assert got.p == pytest.approx(2 / 2**5)


def test_identical_pairs_are_p_one_without_a_test() -> None:
    x = {s: 70.0 + s for s in range(10)}
    got = paired(x, dict(x))
    assert got.identical and got.p == 1.0 and got.diff == 0.0
    assert got.text() == "+0.0 (p = 1)"


def test_fewer_than_five_pairs_is_no_test() -> None:
    got = paired({s: 60.0 for s in range(4)}, {s: 50.0 for s in range(4)})
    assert got.n == 4 and got.diff == 10.0 and got.p is None
    assert got.text() == "–"
    none = paired({0: 1.0}, {1: 1.0})
    assert none.n == 0 and math.isnan(none.diff) and none.p is None


def test_holm_and_bh_adjust_over_the_cells_with_a_test() -> None:
    cells = {
        "A": Paired(6, 1.0, 0.01),
        "B": Paired(6, 1.0, 0.04),
        "C": Paired(6, 0.0, 1.0, identical=True),
        "D": Paired(3, 2.0, None),
    }
    got = adjusted(cells)
    # Holm: 3 · 0.01, max(0.03, 2 · 0.04), max(0.08, 1 · 1); BH: 0.03, 0.06, 1
    assert [got[k].holm for k in "ABC"] == pytest.approx([0.03, 0.08, 1.0])
    assert [got[k].bh for k in "ABC"] == pytest.approx([0.03, 0.06, 1.0])
    assert got["D"].holm is None and got["D"].bh is None
    assert got["A"].text(holm=True) == "+1.0 (p = 0.010, Holm 0.030)"


def test_compare_reads_the_per_seed_frame_in_points() -> None:
    runs = frame(
        {
            "s/kd/A": {s: 0.5 + 0.01 * s + 0.001 * (s + 1) for s in range(6)},
            "s/vanilla/A": {s: 0.5 + 0.01 * s for s in range(6)},
            "s/kd/B": {s: 0.6 for s in range(6)},
            "s/vanilla/B": {s: 0.6 for s in range(6)},
        }
    )
    got = compare(
        runs,
        {"A": ("s/kd/A", "s/vanilla/A"), "B": ("s/kd/B", "s/vanilla/B"), "C": (None, "s/x")},
    )
    assert got["A"].diff == pytest.approx(0.35)  # points: mean of 0.1 … 0.6
    assert got["A"].p == pytest.approx(2 / 2**6)
    assert got["A"].holm == pytest.approx(4 / 2**6)  # two tests: A and the identical B
    assert got["B"].identical and got["B"].holm == 1.0
    assert got["C"].n == 0 and got["C"].p is None


def test_errors_are_not_scaled() -> None:
    runs = frame({"a": {s: 2.0 for s in range(5)}, "b": {s: 1.0 for s in range(5)}}, "rmse")
    assert compare(runs, {"x": ("a", "b")})["x"].diff == pytest.approx(1.0)


def test_the_fast_sign_flip_p_is_scipys_permutation_p() -> None:
    import numpy as np
    from scipy.stats import wilcoxon

    from benchmark.results.compare import wilcoxon_p

    rng = np.random.default_rng(0)
    for _ in range(12):  # integer scores: ties and zero differences are common
        n = int(rng.integers(5, 11))
        a, b = rng.integers(60, 66, n).astype(float), rng.integers(60, 66, n).astype(float)
        if (a != b).any():
            assert wilcoxon_p(tuple(a), tuple(b)) == pytest.approx(wilcoxon(a, b).pvalue, abs=1e-12)


def test_cells_of_different_split_protocols_are_never_paired() -> None:
    """Seed r is the same split only under the same protocol: a paper-protocol cell beside an
    honest one has no pairs, whatever their seed numbers."""
    runs = frame(
        {"s/kd/A": {s: 0.6 + 0.01 * s for s in range(6)}, "s/v/A": {s: 0.5 for s in range(6)}}
    )
    runs["dataset"] = "A"
    runs["protocol"] = ["lad_paper" if c == "s/kd/A" else "tu_10fold" for c in runs["cell"]]
    got = compare(runs, {"A": ("s/kd/A", "s/v/A")})
    assert got["A"].n == 0 and got["A"].p is None
    runs["protocol"] = "tu_10fold"
    assert compare(runs, {"A": ("s/kd/A", "s/v/A")})["A"].n == 6
