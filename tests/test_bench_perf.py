"""The speed scripts of ``bench/``: a report carries its provenance."""

from __future__ import annotations

import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parents[1] / "bench"))
from _perf import perf_args, provenance, write_report


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
