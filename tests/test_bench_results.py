"""The scripts of ``bench/``: seed chunks of one configuration merge into one row; a speed
report carries its provenance."""

from __future__ import annotations

import json
import statistics
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parents[1] / "bench"))
from _results import merge_seeds, perf_args, provenance, rows_by_key, write_report


def _row(seeds: list[int], tests: list[float], variant: str = "lad") -> dict:
    return {
        "dataset": "D",
        "variant": variant,
        "seeds": seeds,
        "test": tests,
        "val": [t / 2 for t in tests],
        "best_epoch": [s * 10 for s in seeds],
        "test_mean": statistics.fmean(tests),
        "wall_seconds": 1.5,
    }


def test_chunks_merge_in_seed_order_with_recomputed_statistics(tmp_path: Path) -> None:
    out = tmp_path / "r.jsonl"
    rows = [_row([5, 6], [0.5, 0.6]), _row([0, 1], [0.0, 0.1]), _row([0], [0.9], "base")]
    out.write_text("".join(json.dumps(r) + "\n" for r in rows))
    by = rows_by_key(out, lambda r: (r["dataset"], r["variant"]))
    lad = by[("D", "lad")]
    assert lad["seeds"] == [0, 1, 5, 6]
    assert lad["test"] == [0.0, 0.1, 0.5, 0.6] and lad["best_epoch"] == [0, 10, 50, 60]
    assert lad["test_mean"] == pytest.approx(0.3)
    assert lad["test_std"] == pytest.approx(statistics.stdev([0.0, 0.1, 0.5, 0.6]))
    assert lad["val_mean"] == pytest.approx(0.15) and lad["wall_seconds"] == 3.0
    assert by[("D", "base")]["test"] == [0.9]


def test_a_seed_run_twice_keeps_its_first_result() -> None:
    merged = merge_seeds([_row([0, 1], [0.2, 0.4]), _row([1, 2], [0.9, 0.6])])
    assert merged["seeds"] == [0, 1, 2] and merged["test"] == [0.2, 0.4, 0.6]


def test_a_speed_report_records_command_machine_and_threads(tmp_path: Path, monkeypatch) -> None:
    import argparse

    import torch

    monkeypatch.setattr(
        sys,
        "argv",
        ["bench/perf_x.py", "--threads", "1", "--device", "cpu", "--out", str(tmp_path / "r.json")],
    )
    threads = torch.get_num_threads()
    try:
        args, device = perf_args(argparse.ArgumentParser(), "docs/results/perf_x.json")
        assert device == torch.device("cpu") and torch.get_num_threads() == 1
        write_report(args.out, provenance(device) | {"rows": [1]})
    finally:
        torch.set_num_threads(threads)
    report = json.loads((tmp_path / "r.json").read_text())
    assert report["command"].startswith("python bench/perf_x.py --threads 1")
    assert report["threads"] == 1 and report["device"] == "cpu" and report["rows"] == [1]
    assert {"date", "hardware", "cpu", "versions", "git_sha"} <= report.keys()


def test_a_grid_slice_exports_its_final_seeds_and_tuned_values(smoke_runs, tmp_path, monkeypatch):
    """``bench/grid_results.py`` on the session's smoke store: the per-seed test scores are
    the final runs MLflow holds, the parameters the best tuning trial's; a re-export replaces."""
    from _results import load_rows
    from grid_results import export, table

    from benchmark.results.aggregate import final_runs

    monkeypatch.setenv("KDBENCH_RUNS", str(smoke_runs))
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    smoke = str(Path(__file__).parents[1] / "sweeps" / "smoke.yaml")
    out = tmp_path / "tuned.jsonl"
    assert export(smoke, None, "*/MUTAG/*", None, out) == 2
    assert export(smoke, "vanilla", "*/MUTAG/GCN", None, out) == 1
    rows = load_rows(out)
    assert [r["cell"] for r in rows] == ["smoke/vanilla/MUTAG/GCN", "smoke/vanilla/MUTAG/MLP"]
    logged = final_runs(f"sqlite:///{smoke_runs / 'mlflow.db'}", "smoke")
    for r in rows:
        runs = logged[logged["cell"] == r["cell"]].sort_values("seed", key=lambda s: s.astype(int))
        assert r["seeds"] == [0, 1] and r["test"] == pytest.approx(list(runs["m.test"]))
        # MUTAG's folds: tuned per fold (nested), 3 trials each
        assert r["selection"] == "nested" and r["protocol_kind"] == "honest"
        assert set(r["params_per_seed"]) == {"0", "1"} and r["budget"] == 3
        assert all(set(p) == {"lr", "hidden"} for p in r["params_per_seed"].values())
        assert sum(r["trials"].values()) == 6 and r["hardware"]
    md = table(out, [("vanilla", "vanilla")]).splitlines()
    assert len(md) == 4 and md[2].startswith("| MUTAG | GCN | ") and " ± " in md[2]


def test_the_paper_protocol_gap_needs_ten_seeds_under_both_protocols(tmp_path: Path) -> None:
    from lad_reproduction import inflation

    def row(backbone: str, setting: str, tests: list[float]) -> dict:
        seeds = list(range(len(tests)))
        return _row(seeds, tests, "base") | {
            "backbone": backbone,
            "setting": setting,
            "dataset": "MUTAG",
        }

    out = tmp_path / "r.jsonl"
    rows = [
        row("GCN", "honest", [0.70] * 10),
        row("GCN", "paper", [0.75] * 10),
        row("GIN", "honest", [0.70] * 10),
        row("GIN", "paper", [0.90] * 5),
    ]
    out.write_text("".join(json.dumps(r) + "\n" for r in rows))
    assert inflation(out).splitlines()[2] == "| MUTAG | +5.0 | – | – | – |"


def test_the_lad_tests_are_corrected_for_their_number_and_need_ten_seeds(tmp_path: Path) -> None:
    from lad_reproduction import multiplicity

    def row(backbone: str, setting: str, variant: str, tests: list[float]) -> dict:
        return _row(list(range(len(tests))), tests, variant) | {
            "backbone": backbone,
            "setting": setting,
            "dataset": "MUTAG",
        }

    base = [0.70 + 0.01 * i for i in range(10)]
    rows = [
        row("GCN", "honest", "base", base),  # LAD above base in all ten: p = 2 / 2**10
        row("GCN", "honest", "lad", [t + 0.02 + 0.001 * i for i, t in enumerate(base)]),
        row("GIN", "honest", "base", base),
        row("GIN", "honest", "lad", base),  # p = 1
        row("GIN", "paper", "base", base[:5]),
        row("GIN", "paper", "lad", base[:5]),
    ]
    out = tmp_path / "r.jsonl"
    out.write_text("".join(json.dumps(r) + "\n" for r in rows))
    md = multiplicity(out).splitlines()
    assert len(md) == 4  # header, rule, honest, both: the 5-seed paper cell is left out
    # m = 2; Holm and Benjamini–Hochberg both double the smallest p (0.00195 -> 0.0039)
    assert md[2] == "| honest | 2 | 1 | 0.1 | 0.002 (MUTAG/GCN/honest) | 0.004 | 0.004 |"
    assert md[3].startswith("| both | 2 | 1 | ")
