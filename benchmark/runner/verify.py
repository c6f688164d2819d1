"""``kdbench verify``: re-fit sampled (cell, seed) pairs of the record and compare them.

A pair is one seed of a record cell (:mod:`benchmark.results.record`). :func:`eligible_pairs`
keeps the seeds of fresh cells (:mod:`benchmark.runner.staleness`; all cells with
``stale=True``) whose key matches the globs and whose recorded ``train_seconds`` is at most
``max_seconds``; :func:`draw` samples ``n`` of them with ``random.Random(seed)``.

:func:`refit` trains a pair again through the runner's own pipeline — the runner cell of the
record's key, :func:`benchmark.runner.cellrun.cell_plan` (its protocol) and
:func:`benchmark.fitting.fit_seed` — with the seed's recorded parameters, on the recorded
number of torch threads (:func:`torch.set_num_threads` while it fits), and a fresh artefact
cache, so a teacher is trained again too: with the parameters its own record cell (the
runner's dependency key, :meth:`benchmark.runner.sweep.Cell.dependency`) recorded for the same
seed, or, when the record has no such cell or seed, the defaults (said in the pair's note).
A pair reproduces when ``|Δval|`` and ``|Δtest|`` are both at most the tolerance: exact
(``1e-9``) by default, since the runner's CPU fits are deterministic at equal torch version
and threads (:func:`torch_geometric.seed_everything` per fit, seeded loaders).
"""

from __future__ import annotations

import contextlib
import math
import random
import tempfile
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, replace
from fnmatch import fnmatchcase
from pathlib import Path
from typing import Any

import torch

from benchmark.artifacts import ArtifactCache
from benchmark.errors import KdbenchError
from benchmark.fitting import default_dependency_params, fit_seed
from benchmark.method import Dependency
from benchmark.results.record import RecordCell, SeedRow
from benchmark.runner.cellrun import Env, cell_plan
from benchmark.runner.staleness import record_staleness
from benchmark.runner.sweep import Cell
from benchmark.tracking import config_hash, cpu_name

#: default tolerance on |Δval| and |Δtest|: exact up to float printing
EXACT = 1e-9
#: torch threads for a pair whose provenance does not record them (the runner's CI and
#: studies run with ``--threads 1``)
DEFAULT_THREADS = 1

Pair = tuple[RecordCell, SeedRow]


@dataclass
class Check:
    """One re-fitted pair: recorded and new scores, the largest absolute difference, whether
    it is within the tolerance, and notes (teacher defaults, threads, parameters)."""

    cell: str
    seed: int
    threads: int
    val: float
    test: float
    now_val: float | None = None
    now_test: float | None = None
    delta: float | None = None
    ok: bool = False
    note: str = ""


def runner_cell(cell: RecordCell) -> Cell:
    """The runner's :class:`~benchmark.runner.sweep.Cell` of a record cell: its identity,
    the protocol, trial budget and selection its key names, and its fixed values."""
    parts = dict(p.split("=", 1) for p in cell["cell"].split("/")[4:] if "=" in p)
    out = Cell(
        cell["sweep"],
        cell["method"],
        cell["dataset"],
        cell["backbone"],
        cell.get("teacher") or None,
        parts.get("protocol"),
        tuple(sorted(cell.get("fixed", {}).items())),
        int(parts["trials"]) if "trials" in parts else None,
        "shared" if parts.get("selection") == "shared" else None,
    )
    if out.key != cell["cell"]:
        raise KdbenchError(
            f"record cell {cell['cell']} does not name a runner cell (rebuilt as {out.key}); "
            "re-export it with `kdbench export --record`"
        )
    return out


def eligible_pairs(
    cells: Sequence[RecordCell],
    *,
    globs: Sequence[str] = (),
    max_seconds: float | None = None,
    stale: bool = False,
    same_cpu: bool = False,
    sweeps_dir: Path | None = None,
) -> tuple[list[Pair], dict[str, int]]:
    """The (cell, seed) pairs that may be drawn, sorted by cell and seed, and how many
    cells were left out by each filter (``glob``, ``stale``, ``unknown`` staleness,
    ``max_seconds``, ``other cpu``: with ``same_cpu``, seeds not recorded on this machine's
    CPU model and kernel instruction set, whose float rounding may differ)."""
    dropped = {"glob": 0, "stale": 0, "unknown": 0, "max_seconds": 0, "other cpu": 0}
    kept = [c for c in cells if not globs or any(fnmatchcase(c["cell"], g) for g in globs)]
    dropped["glob"] = len(cells) - len(kept)
    if not stale and kept:
        states = record_staleness(kept, sweeps_dir=sweeps_dir)
        for state in ("stale", "unknown"):
            dropped[state] = sum(s.state == state for s in states)
        kept = [c for c, s in zip(kept, states, strict=True) if s.state == "fresh"]
    pairs: list[Pair] = []
    for c in sorted(kept, key=lambda c: c["cell"]):
        seeds = [
            s
            for s in c["seeds"]
            if max_seconds is None or s.get("train_seconds", math.inf) <= max_seconds
        ]
        dropped["max_seconds"] += not seeds
        if same_cpu and seeds:
            seeds = [s for s in seeds if on_this_cpu(c["provenance"][int(s.get("provenance", 0))])]
            dropped["other cpu"] += not seeds
        pairs += [(c, s) for s in sorted(seeds, key=lambda s: s["seed"])]
    return pairs, dropped


def this_cpu() -> tuple[str, str]:
    """This machine's CPU model and torch's kernel instruction set."""
    return cpu_name(), torch.backends.cpu.get_cpu_capability()


def on_this_cpu(prov: dict[str, Any]) -> bool:
    """Whether a provenance entry was recorded on this machine's CPU model and instruction set
    (unknown: no)."""
    return (prov.get("cpu"), prov.get("cpu_capability")) == this_cpu()


def draw(pairs: Sequence[Pair], n: int, seed: int = 0) -> list[Pair]:
    """``n`` pairs drawn without replacement with ``random.Random(seed)`` (all when fewer)."""
    return random.Random(seed).sample(list(pairs), min(n, len(pairs)))


@contextlib.contextmanager
def torch_threads(n: int) -> Iterator[None]:
    """Torch's intra-op threads set to ``n`` inside the block, restored after."""
    old = torch.get_num_threads()
    torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(old)


def _teacher_params(
    cell: Cell, index: dict[str, RecordCell], data: Any, params: dict[str, Any], notes: list[str]
) -> Callable[[Dependency, int], dict[str, Any]]:
    """``(dep, seed) -> params``: the dependency cell's recorded parameters for ``seed``,
    else the defaults (with a note)."""

    def params_of(dep: Dependency, seed: int) -> dict[str, Any]:
        key = cell.dependency(dep.method, dep.backbone).key
        rec = index.get(key)
        row = next((s for s in rec["seeds"] if s["seed"] == seed), None) if rec else None
        if rec is None or row is None:
            notes.append(f"{dep.name}: defaults ({key} seed {seed} not in the record)")
            return default_dependency_params(data, params, dep)
        return dict(rec["configs"][int(row.get("config", 0))]["params"])

    return params_of


def refit(
    cell: RecordCell,
    row: SeedRow,
    index: dict[str, RecordCell],
    device: torch.device,
    cache: ArtifactCache,
    *,
    data_root: Any = None,
    mirror: str | None = None,
    tolerance: float = EXACT,
    env_data: dict[str, Any] | None = None,
) -> Check:
    """Re-fit one pair (see the module docstring) and compare it with the record."""
    seed = int(row["seed"])
    prov = cell["provenance"][int(row.get("provenance", 0))]
    config = cell["configs"][int(row.get("config", 0))]
    threads = int(prov.get("threads") or DEFAULT_THREADS)
    notes = [] if prov.get("threads") else [f"threads not recorded: {DEFAULT_THREADS}"]
    if not on_this_cpu(prov):
        notes.append(
            f"recorded on {prov.get('cpu', 'an unrecorded CPU')} "
            f"({prov.get('cpu_capability', '?')}): float rounding may differ here"
        )
    check = Check(cell["cell"], seed, threads, float(row["val"]), float(row["test"]))
    try:
        rcell = runner_cell(cell)
        params = dict(config["params"])
        if config_hash({"cell": rcell.key, "params": params}) != config["config_hash"]:
            notes.append("recorded params do not hash to the recorded config")
        env = Env(sweep=None, storage=None, tracker=None, cache=cache, device=device)  # type: ignore[arg-type]
        env.data_root, env.mirror = data_root, mirror
        if env_data is not None:
            env.datasets = env_data  # one load per dataset across pairs
        plan = cell_plan(env, rcell, params)
        plan = replace(
            plan, dependency_params=_teacher_params(rcell, index, plan.data, params, notes)
        )
        with torch_threads(threads):
            result = fit_seed(plan, seed, device, cache, evaluate_test=True).result
    except Exception as exc:  # the pair fails, the others are still re-fitted
        first = str(exc).splitlines()[0] if str(exc).strip() else ""
        check.note = "; ".join([*notes, f"error: {type(exc).__name__}: {first}"])
        return check
    check.now_val, check.now_test = float(result.val), float(result.test)
    check.delta = max(_diff(check.val, check.now_val), _diff(check.test, check.now_test))
    check.ok = check.delta <= tolerance
    check.note = "; ".join(dict.fromkeys(notes))
    return check


def _diff(a: float, b: float) -> float:
    if math.isnan(a) and math.isnan(b):
        return 0.0
    d = abs(a - b)
    return math.inf if math.isnan(d) else d


def no_pair_error(n_cells: int, dropped: dict[str, int], stale: bool) -> KdbenchError:
    """The one-line error when no pair qualifies, naming what left the cells out and the fix."""
    labels = {
        "glob": "not matching --cells",
        "stale": "stale",
        "unknown": "of unknown staleness",
        "max_seconds": "without a seed under --max-seconds",
        "other cpu": "without a seed recorded on this CPU (--same-cpu)",
    }
    why = ", ".join(f"{v} {labels[k]}" for k, v in dropped.items() if v) or "no cell"
    hint = (
        ""
        if stale
        else "; `kdbench status --record` says why cells are stale, and --stale verifies "
        "them anyway"
    )
    return KdbenchError(
        f"no (cell, seed) pair to verify among the record's {n_cells} cells ({why}); "
        "make fresh cells with `kdbench run <sweep.yaml> && kdbench export --record`" + hint
    )


def verify(
    cells: Sequence[RecordCell],
    *,
    sample: int = 5,
    seed: int = 0,
    globs: Sequence[str] = (),
    max_seconds: float | None = None,
    stale: bool = False,
    same_cpu: bool = False,
    tolerance: float = EXACT,
    device: torch.device | None = None,
    data_root: Any = None,
    mirror: str | None = None,
    sweeps_dir: Path | None = None,
    on_pair: Callable[[int, int, Pair], None] | None = None,
) -> list[Check]:
    """Draw ``sample`` pairs of ``cells`` (:func:`eligible_pairs`, :func:`draw`) and re-fit
    each (:func:`refit`) with a fresh artefact cache; raises when no pair qualifies."""
    pairs, dropped = eligible_pairs(
        cells,
        globs=globs,
        max_seconds=max_seconds,
        stale=stale,
        same_cpu=same_cpu,
        sweeps_dir=sweeps_dir,
    )
    if not pairs:
        raise no_pair_error(len(cells), dropped, stale)
    chosen = draw(pairs, sample, seed)
    index = {c["cell"]: c for c in cells}
    device = device if device is not None else torch.device("cpu")
    datasets: dict[str, Any] = {}
    checks = []
    with tempfile.TemporaryDirectory(prefix="kdbench-verify-") as tmp:
        cache = ArtifactCache(Path(tmp))
        for i, (cell, row) in enumerate(chosen):
            if on_pair is not None:
                on_pair(i, len(chosen), (cell, row))
            checks.append(
                refit(
                    cell,
                    row,
                    index,
                    device,
                    cache,
                    data_root=data_root,
                    mirror=mirror,
                    tolerance=tolerance,
                    env_data=datasets,
                )
            )
    return checks
