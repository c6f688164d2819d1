"""A cell's Optuna studies as a worker holds them: its own study (attributes), one tuning
study per final seed (nested selection), one shared or none, and its ``#final`` study; each
tuning study with a TPE sampler and a median pruner seeded apart from every other study's."""

from __future__ import annotations

import zlib
from dataclasses import dataclass

import optuna

from benchmark.runner.cellrun import Env, study_names, tuning_seeds_of, tuning_study_name
from benchmark.runner.sweep import Cell

optuna.logging.set_verbosity(optuna.logging.WARNING)


def _sampler(env: Env, cell: Cell, seed: int | None) -> optuna.samplers.BaseSampler:
    """TPE seeded by the sweep's seed, the cell, the study's final seed and the worker:
    reproducible with one worker, and two workers never draw the same random start-up
    configurations."""
    name = tuning_study_name(cell, seed)
    s = env.sweep.sampler_seed + zlib.crc32(name.encode()) + 1_000_003 * env.worker
    return optuna.samplers.TPESampler(seed=s % 2**32)


def _pruner(env: Env) -> optuna.pruners.BasePruner:
    if env.sweep.pruner == "none":
        return optuna.pruners.NopPruner()
    return optuna.pruners.MedianPruner(n_startup_trials=3, n_warmup_steps=10)


@dataclass
class Studies:
    """A cell's studies as one worker holds them: ``cell`` (attributes: parent run, budget,
    selection), ``tuning`` (final seed or ``None`` → its tuning study) and ``final``."""

    cell: optuna.Study
    tuning: dict[int | None, optuna.Study]
    final: optuna.Study

    def all(self) -> list[optuna.Study]:
        """Each study once (a shared tuning study is the cell's own)."""
        studies = [self.cell, *self.tuning.values(), self.final]
        return list({id(s): s for s in studies}.values())


def load(env: Env, cell: Cell) -> Studies:
    """The cell's studies, loaded once per worker: each sampler keeps its random state from
    one trial to the next (a fresh seeded sampler per trial would repeat itself)."""
    if cell.key not in env.studies:
        own, final = study_names(cell)
        tuning = {
            seed: optuna.load_study(
                study_name=tuning_study_name(cell, seed),
                storage=env.storage,
                sampler=_sampler(env, cell, seed),
                pruner=_pruner(env),
            )
            for seed in tuning_seeds_of(env, cell)
        }
        env.studies[cell.key] = Studies(
            tuning.get(None) or optuna.load_study(study_name=own, storage=env.storage),
            tuning,
            optuna.load_study(study_name=final, storage=env.storage),
        )
    return env.studies[cell.key]
