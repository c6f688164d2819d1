"""Tiny synthetic record cells for the tests of the results layer and the app."""

from __future__ import annotations

from collections.abc import Sequence

from benchmark.results.record import RecordCell, build_cell, cell_key


def toy_cell(
    sweep: str, method: str, dataset: str, backbone: str, tests: Sequence[float]
) -> RecordCell:
    """An honest, untuned record cell of ``method`` with ``backbone`` on ``dataset`` (public
    Planetoid protocol, accuracy): one seed per test value, seeds 0, 1, …"""
    seeds = [
        (
            {"seed": s, "val": 0.5, "test": t},
            {"config_hash": "h", "params": {"lr": 0.01}},
            {"code_commit": "abc", "date": "2026-12-01"},
        )
        for s, t in enumerate(tests)
    ]
    identity = {
        "cell": cell_key(sweep, method, dataset, backbone),
        "sweep": sweep,
        "method": method,
        "dataset": dataset,
        "backbone": backbone,
        "teacher": None,
        "protocol": "planetoid_public",
        "protocol_kind": "honest",
        "selection": "none",
        "metric": "accuracy",
    }
    return build_cell(identity, seeds)
