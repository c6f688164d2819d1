"""The reproduction scripts' results files: seed chunks of one configuration merge into one row."""

from __future__ import annotations

import json
import statistics
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parents[1] / "bench"))
from _results import merge_seeds, rows_by_key


def _row(seeds: list[int], tests: list[float], variant: str = "lad") -> dict:
    return {"dataset": "D", "variant": variant, "seeds": seeds, "test": tests,
            "val": [t / 2 for t in tests], "best_epoch": [s * 10 for s in seeds],
            "test_mean": statistics.fmean(tests), "wall_seconds": 1.5}  # fmt: skip


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
