"""Leaderboard statistics (:mod:`leaderboard.stats`) on small hand-made frames with known
answers, checked against scipy directly; no Streamlit, no store."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy.stats import friedmanchisquare, wilcoxon

from leaderboard import stats

# datasets × rows: A is best everywhere, C worst except on d4 where B is worst.
SCORES = {
    "d1": (0.90, 0.80, 0.70),
    "d2": (0.85, 0.75, 0.65),
    "d3": (0.95, 0.90, 0.60),
    "d4": (0.70, 0.50, 0.60),
}
ROWS = [("vanilla", "GCN", ""), ("vanilla", "MLP", ""), ("kd", "MLP", "GCN")]


def cells(scores=SCORES, metric: str = "accuracy") -> pd.DataFrame:
    out = []
    for ds, values in scores.items():
        for (method, backbone, teacher), v in zip(ROWS, values):
            if v is None:
                continue
            out.append(
                {
                    "dataset": ds,
                    "method": method,
                    "backbone": backbone,
                    "teacher": teacher,
                    "sweep": "s",
                    "protocol": "",
                    "metric": metric,
                    "test_mean": v,
                }
            )
    return pd.DataFrame(out)


def test_friedman_matches_scipy_and_known_ranks():
    m, dropped_rows = stats.score_matrix(cells())
    assert m.shape == (4, 3) and not dropped_rows
    res = stats.friedman(m)
    a, b, c = (np.array([SCORES[d][i] for d in SCORES]) for i in range(3))
    expected = friedmanchisquare(a, b, c)
    assert res.statistic == pytest.approx(expected.statistic)
    assert res.pvalue == pytest.approx(expected.pvalue)
    # ranks per dataset (1 = best): A 1,1,1,1; B 2,2,2,3; C 3,3,3,2
    assert res.ranks.to_dict() == pytest.approx(
        {"vanilla · GCN": 1.0, "vanilla · MLP": 2.25, "kd · MLP ← GCN": 2.75}
    )
    assert res.ranks.index[0] == "vanilla · GCN"  # ascending: best first
    # by hand: chi2 = 12 / (N k (k+1)) * sum R_j^2 - 3 N (k+1), N=4, k=3, rank sums 4, 9, 11
    assert res.statistic == pytest.approx(12 / (4 * 3 * 4) * (16 + 81 + 121) - 3 * 4 * 4)
    nem = res.nemenyi
    assert (nem.to_numpy() == nem.to_numpy().T).all() and set(nem.index) == set(m.columns)
    # the farthest pair in rank is the least alike
    assert nem.at["vanilla · GCN", "kd · MLP ← GCN"] < nem.at["vanilla · MLP", "kd · MLP ← GCN"]


def test_lower_is_better_metrics_are_ranked_reversed():
    res = stats.friedman(stats.score_matrix(cells(metric="rmse"))[0])
    assert res.ranks.index[0] == "kd · MLP ← GCN"  # the smallest rmse on 3 of 4


def test_incomplete_rows_are_dropped_and_too_few_is_a_sentence():
    scores = {d: (a, b, None if d == "d1" else c) for d, (a, b, c) in SCORES.items()}
    m, dropped_rows = stats.score_matrix(cells(scores))
    assert dropped_rows == ["kd · MLP ← GCN (3/4 datasets)"] and m.shape == (4, 2)
    with pytest.raises(stats.NotEnoughData, match="at least 3 rows"):
        stats.friedman(m)
    with pytest.raises(stats.NotEnoughData, match="2 dataset"):
        stats.friedman(stats.score_matrix(cells({"d1": SCORES["d1"], "d2": SCORES["d2"]}))[0])


def test_friedman_drops_incomplete_rows_never_datasets():
    """Three rows on every dataset and three that each miss two: the incomplete rows go, every
    dataset stays (a greedy removal dropped d1, the one most rows miss), and the panel's sentence
    names the rows left out."""
    from leaderboard import panels

    full = cells().assign(sweep="s")
    partial = [
        full[full["dataset"].isin(keep)].assign(method=f"p{i}")
        for i, keep in enumerate([("d3", "d4"), ("d2", "d4"), ("d2", "d3")])
    ]
    m, dropped_rows = stats.score_matrix(pd.concat([full, *partial]))
    assert list(m.index) == ["d1", "d2", "d3", "d4"] and m.shape == (4, 3)
    assert len(dropped_rows) == 9 and all(r.endswith("(2/4 datasets)") for r in dropped_rows)
    assert stats.friedman(m).n_datasets == 4
    sentence = panels.left_out(dropped_rows)
    assert "9 row(s) missing a dataset" in sentence and "p0 · GCN (2/4 datasets)" in sentence
    assert panels.left_out([]) == ""


def seed_runs(student: list[float], teacher: list[float], dataset: str = "Cora") -> pd.DataFrame:
    rows = []
    for seed, v in enumerate(student):
        rows.append(
            {"method": "kd", "backbone": "MLP", "teacher": "GCN", "seed": str(seed), "m.test": v}
        )
    for seed, v in enumerate(teacher):
        rows.append(
            {"method": "vanilla", "backbone": "GCN", "teacher": "", "seed": str(seed), "m.test": v}
        )
    rows.append(
        {"method": "vanilla", "backbone": "MLP", "teacher": "", "seed": "0", "m.test": 0.1}
    )  # another backbone: not the teacher
    df = pd.DataFrame(rows).assign(dataset=dataset, sweep="s", protocol="", metric="accuracy")
    return df.sample(frac=1.0, random_state=0)  # order must not matter: pairs are by seed


def test_wilcoxon_pairs_by_seed_and_matches_scipy():
    teacher = [0.80, 0.81, 0.79, 0.82, 0.80, 0.78]
    student = [t + d for t, d in zip(teacher, [0.01, 0.02, 0.03, 0.04, 0.05, 0.06])]
    out = stats.wilcoxon_vs_teacher(seed_runs([*student, 0.99], teacher))  # seed 6: no pair
    assert len(out) == 1
    row = out.iloc[0]
    assert row["pairs"] == 6 and row["teacher"] == "GCN"
    assert row["p"] == pytest.approx(wilcoxon(student, teacher).pvalue)
    assert row["p"] == pytest.approx(2 / 2**6)  # exact: all six differences positive
    assert row["sig"] == "*" and row["mean diff"] == pytest.approx(0.035)
    assert row["vanilla teacher"] == pytest.approx(np.mean(teacher))


def test_wilcoxon_mixed_signs_and_degenerate_cases():
    teacher = [0.80, 0.70, 0.75, 0.72, 0.90, 0.60, 0.65, 0.77]
    student = [0.82, 0.69, 0.78, 0.71, 0.93, 0.64, 0.60, 0.80]
    row = stats.wilcoxon_vs_teacher(seed_runs(student, teacher)).iloc[0]
    # tied |differences| (0.01, 0.03 three times): the normal approximation with tie correction
    assert row["p"] == pytest.approx(wilcoxon(student, teacher, method="approx").pvalue)
    assert row["sig"] == stats.stars(row["p"])
    same = stats.wilcoxon_vs_teacher(seed_runs(teacher, teacher)).iloc[0]
    assert np.isnan(same["p"]) and same["sig"] == ""  # all differences zero: no test
    one = stats.wilcoxon_vs_teacher(seed_runs([0.9], [0.8])).iloc[0]
    assert one["pairs"] == 1 and np.isnan(one["p"])
    no_teacher = seed_runs(student, teacher)
    no_teacher = no_teacher[no_teacher["backbone"] != "GCN"]
    assert stats.wilcoxon_vs_teacher(no_teacher).empty


def test_wilcoxon_batches_cells_with_different_numbers_of_pairs():
    rng = np.random.default_rng(1)
    frames, expected = [], {}
    for i, n in enumerate([6, 6, 9, 4, 12]):
        teacher = rng.uniform(0.6, 0.9, n).tolist()
        student = (np.array(teacher) + rng.normal(0.01, 0.02, n)).tolist()
        f = seed_runs(student, teacher, dataset=f"D{i}")
        frames.append(f)
        expected[f"D{i}"] = wilcoxon(student, teacher).pvalue  # no ties: scipy's exact test
    out = stats.wilcoxon_vs_teacher(pd.concat(frames)).set_index("dataset")
    assert out["pairs"].to_dict() == {"D0": 6, "D1": 6, "D2": 9, "D3": 4, "D4": 12}
    assert out["p"].to_dict() == pytest.approx(expected)


def test_stars_and_min_p():
    assert [stats.stars(p) for p in (0.0005, 0.005, 0.03, 0.2, float("nan"))] == [
        "***",
        "**",
        "*",
        "n.s.",
        "",
    ]
    assert stats.min_attainable_p(5) == pytest.approx(0.0625)
    assert stats.min_attainable_p(6) < 0.05


def test_cd_diagram_draws_every_row():
    res = stats.friedman(stats.score_matrix(cells())[0])
    fig = stats.cd_diagram(res)
    texts = {t.get_text() for t in fig.axes[0].texts}
    assert all(any(label in t for t in texts) for label in res.ranks.index)
