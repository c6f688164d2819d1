"""How long a sweep would take: its trainings counted, each costed from the record's seeds.

A cell runs ``fits`` trainings: its final seeds, plus its tuning trials — nested (a study per
final seed, each trial trains its seed): ``trials × final seeds``; shared (one study, each trial
trains every tuning seed): ``trials × tuning seeds``; untuned: none. Teacher cells are cells of
the sweep and count as such. A training's cost is the median ``train_seconds`` of the record's
seeds of the same (method, dataset, backbone), else of the same (method, dataset), else of
``vanilla`` on the same (dataset, backbone), else of anything on the dataset (the level used is
reported); with an epoch cap in the sweep below a seed's ``epochs_run``, its time is scaled by
the ratio. A cell with none of these is *unknown* and counted apart.

What it assumes (printed with it): the recorded seconds are those of this project's machine
(2-core CPU, one torch thread, often beside other work; the migrated studies at older, slower
code), so the hours are an order of magnitude for this machine, not a measurement; every trial
runs as long as a recorded final seed (the median pruner stops some early: an upper bound);
a method's cached dependencies that are not cells (e.g. LAD-GNN's label-attentive teacher,
trained once per seed and split) count only as far as its recorded seed times include them;
``N`` workers divide the time ideally (no queueing); a
GPU's time is this machine's divided by a speed-up that is not measured here (no GPU is lent):
give yours with ``--gpu-speedup``.
"""

from __future__ import annotations

import statistics
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from benchmark.runner.sweep import Cell, SweepFile, cell_trials
from benchmark.selection import selection_mode

LEVELS = ("method/dataset/backbone", "method/dataset", "vanilla/dataset/backbone", "dataset")


@dataclass(frozen=True)
class CellCost:
    """One cell's trainings (``fits``), the seconds one costs (``None``: unknown) and the
    record level that priced it."""

    cell: Cell
    fits: int
    seconds: float | None
    level: str

    @property
    def total(self) -> float:
        return self.fits * (self.seconds or 0.0)


def fits_of(sweep: SweepFile, cell: Cell) -> int:
    """The trainings ``cell`` runs: final seeds plus its tuning trials (module docstring)."""
    finals = len(sweep.budget.final_seeds)
    trials = cell_trials(sweep, cell)
    mode = selection_mode(cell.resolved_protocol(), cell.selection or "nested", trials)
    if mode == "nested":
        return finals + trials * finals
    if mode == "shared":
        return finals + trials * len(sweep.budget.tuning_seeds)
    return finals


def seed_costs(cells: Iterable[dict[str, Any]], epoch_cap: int | None = None) -> dict:
    """Seconds per training from record cells, by lookup key of every level of
    :data:`LEVELS`: the median over the matching seeds (scaled to ``epoch_cap``)."""
    found: dict[tuple[str, tuple], list[float]] = {}
    for c in cells:
        for s in c.get("seeds", []):
            t = s.get("train_seconds")
            if t is None:
                continue
            run = s.get("epochs_run")
            if epoch_cap is not None and run and run > epoch_cap:
                t = t * epoch_cap / run
            keys = {
                LEVELS[0]: (c["method"], c["dataset"], c["backbone"]),
                LEVELS[1]: (c["method"], c["dataset"]),
                LEVELS[3]: (c["dataset"],),
            }
            if c["method"] == "vanilla":
                keys[LEVELS[2]] = (c["dataset"], c["backbone"])
            for level, key in keys.items():
                found.setdefault((level, key), []).append(float(t))
    return {k: statistics.median(v) for k, v in found.items()}


def cost_of(costs: dict, cell: Cell) -> tuple[float | None, str]:
    """The seconds one training of ``cell`` costs and the level that priced it."""
    keys = (
        (cell.method, cell.dataset, cell.backbone),
        (cell.method, cell.dataset),
        (cell.dataset, cell.backbone),
        (cell.dataset,),
    )
    for level, key in zip(LEVELS, keys, strict=True):
        if (level, key) in costs:
            return costs[level, key], level
    return None, "unknown"


def estimate(sweep: SweepFile, cells: Sequence[Cell], record: Iterable[dict]) -> list[CellCost]:
    """Every cell of ``cells`` (the sweep's) with its trainings and their cost from ``record``."""
    costs = seed_costs(record, sweep.budget.epochs)
    out = []
    for cell in cells:
        seconds, level = cost_of(costs, cell)
        out.append(CellCost(cell, fits_of(sweep, cell), seconds, level))
    return out


def family(dataset: str) -> str:
    """The dataset card's task family (node | graph | molecular)."""
    from benchmark.data.card import get_card

    return get_card(dataset).family


def summary(costs: Sequence[CellCost], by: str = "family") -> list[dict[str, Any]]:
    """Rows per task ``family`` (or per ``method``): cells, trainings, hours on this machine
    (known cells), and the cells priced at no level (unknown)."""
    groups: dict[str, list[CellCost]] = {}
    for c in costs:
        key = family(c.cell.dataset) if by == "family" else c.cell.method
        groups.setdefault(key, []).append(c)
    return [
        {
            by: key,
            "cells": len(group),
            "trainings": sum(c.fits for c in group),
            "hours": sum(c.total for c in group) / 3600,
            "unknown cells": sum(c.seconds is None for c in group),
        }
        for key, group in sorted(groups.items())
    ]
