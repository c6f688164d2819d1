"""Is a record cell what today's code would run? Why not, if it is not (issue #30, item 6).

A record cell (:mod:`benchmark.results.record`) is **stale** for one or both reasons:

- ``code``: the code that determines a fit changed since a seed was made: its provenance's
  ``code_hash`` (:mod:`benchmark.runner.fingerprint`: the hash of the cell's code files that
  the runner tags every final run with, or that the export computed from its commit) differs
  from the working tree's. The code files are the shared core, :data:`CODE_PATHS` (data,
  splits and cards, backbones, the training loop, the method API, the fit pipeline, artefacts
  and metrics), plus the source files of the cell's method and, recursively, of its
  dependencies' methods (a distillation cell's teacher). A change elsewhere (another method,
  the runner, the app) leaves the cell fresh; the runner's choice of parameters is the
  ``config`` check's. The details name the changed files where git has the seed's commit
  (its files then, read with git, against the working tree's); a seed recorded without a
  code hash is judged by that comparison alone.
- ``config``: the configuration hash today's runner would log differs from the recorded one.
  The cell's sweep file is the ``sweeps/**/*.yaml`` whose ``name:`` is the cell's sweep; its
  cell of the same key gets the parameters :func:`benchmark.runner.cellrun.cell_params`
  resolves (defaults ∪ the sweep's and entry's fixed values ∪ tuned values, epoch cap) with,
  as tuned values, the recorded parameters restricted to the names the sweep's space tunes
  for that method (none for an untuned cell), hashed as the runner hashes a final run:
  :func:`benchmark.tracking.config_hash` of ``{"cell": key, "params": params}``. Each recorded
  configuration is compared with its own.

Where a check cannot be made the cell is flagged **unknown** (``code?``: no code hash was
recorded and the commit is not in this clone, e.g. a shallow one — ``git fetch
--unshallow``; ``config?``: no sweep file of that
name, the cell is not in it, or its method tunes on its own search space, whose names vary
by draw). A cell with no reason is **fresh**.

:func:`record_staleness` answers for a list of cells with one git read per distinct commit
and one sweep load per sweep; ``kdbench status --record`` and the app read it.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from benchmark.errors import KdbenchError
from benchmark.results.record import RecordCell, parse_value
from benchmark.runner.fingerprint import (
    CODE_PATHS,
    CommitFiles,
    cell_paths,
    disk_files,
    disk_hash,
    method_files,
    under,
)
from benchmark.tracking import REPO, config_hash

__all__ = ["CODE_PATHS", "method_files"]  # re-exported: where the code check's paths come from

#: the roots compared once per commit (the core and every method)
DIFF_ROOTS = ("benchmark", "methods", "datasets")
STATES = ("fresh", "stale", "unknown")


@dataclass
class Staleness:
    """One record cell's answer: ``reasons`` ⊆ {``code``, ``config``, ``code?``,
    ``config?``} (empty: fresh), each explained by a line of ``details``."""

    cell: str
    sweep: str
    method: str
    dataset: str
    n: int
    commit: str
    date: str
    reasons: list[str] = field(default_factory=list)
    details: list[str] = field(default_factory=list)

    @property
    def state(self) -> str:
        """``fresh`` (no reason), ``stale`` (``code`` or ``config``) or ``unknown`` (only
        checks that could not be made)."""
        if any(r in ("code", "config") for r in self.reasons):
            return "stale"
        return "unknown" if self.reasons else "fresh"

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "state": self.state}


def _short(commit: str) -> str:
    return commit[:7]


class GitDiffs:
    """The code files under :data:`DIFF_ROOTS` whose content differs between a commit and the
    working tree of ``repo`` (:class:`~benchmark.runner.fingerprint.CommitFiles` against the
    disk: one git read per commit; ``None``: the commit is not in this clone), and the working
    tree's code hashes."""

    def __init__(self, repo: Path = REPO) -> None:
        self.repo = Path(repo)
        self.commits = CommitFiles(self.repo)
        self._cache: dict[str, frozenset[str] | None] = {}
        self._today: dict[frozenset[str], str] = {}
        self._disk: dict[str, bytes] | None = None

    def today_hash(self, paths: frozenset[str]) -> str:
        """The working tree's code hash of the files under ``paths`` (once per set)."""
        if paths not in self._today:
            self._today[paths] = disk_hash(sorted(paths), self.repo)
        return self._today[paths]

    def changed(self, commit: str) -> frozenset[str] | None:
        sha = commit.removesuffix("-dirty")
        if sha not in self._cache:
            then = self.commits.files(sha)
            if then is None:
                self._cache[sha] = None
            else:
                if self._disk is None:
                    self._disk = disk_files(DIFF_ROOTS, self.repo)
                now = self._disk
                self._cache[sha] = frozenset(
                    p for p in then.keys() | now.keys() if then.get(p) != now.get(p)
                )
        return self._cache[sha]


def code_reasons(cell: RecordCell, diffs: GitDiffs) -> tuple[list[str], list[str]]:
    """``code`` / ``code?`` and their details for ``cell`` (see the module docstring): a
    seed's recorded ``code_hash`` against today's hash of the cell's code files; without one,
    the files git finds changed since its ``code_commit``."""
    try:
        paths = cell_paths(cell["method"], cell["dataset"], cell["backbone"], cell.get("teacher"))
    except KdbenchError as exc:
        return ["code?"], [f"code?: {str(exc).splitlines()[0]}"]
    today = diffs.today_hash(paths)
    changed: set[str] = set()
    stale_at, unknown, hashed = [], [], []
    for prov in _used_provenance(cell):
        commit = prov.get("code_commit", "")
        files = diffs.changed(commit) if commit else None
        hit = {f for f in files if under(f, paths)} if files is not None else set()
        if prov.get("code_hash"):
            if prov["code_hash"] != today:
                stale_at.append(_short(commit) or prov["code_hash"])
                changed |= hit
                if not hit:
                    hashed.append(prov["code_hash"])
            continue
        if files is None:
            unknown.append(_short(commit) or "(none recorded)")
        elif hit:
            stale_at.append(_short(commit))
            changed |= hit
    reasons, details = [], []
    if changed or hashed:
        names = sorted(changed)
        more = f" (+{len(names) - 3} more)" if len(names) > 3 else ""
        what = f"{', '.join(names[:3])}{more} changed" if names else "its code files changed"
        hashes = f" (code hash {', '.join(sorted(set(hashed)))}, today {today})" if hashed else ""
        reasons.append("code")
        details.append(f"code: {what} since {', '.join(stale_at)}{hashes}")
    if unknown:
        reasons.append("code?")
        details.append(
            f"code?: commit {', '.join(unknown)} is not in this clone and no code hash was "
            "recorded (a shallow clone: `git fetch --unshallow`)"
        )
    return reasons, details


def _used_provenance(cell: RecordCell) -> list[dict[str, Any]]:
    provs = cell.get("provenance", [])
    return [dict(provs[i]) for i in sorted({int(s.get("provenance", 0)) for s in cell["seeds"]})]


def sweep_paths(sweeps_dir: Path) -> dict[str, Path]:
    """Sweep name → its file, for every ``*.yaml`` under ``sweeps_dir`` with a ``name:``
    (the first file wins when two share a name)."""
    out: dict[str, Path] = {}
    for path in sorted(Path(sweeps_dir).rglob("*.yaml")):
        m = re.search(r"^name:\s*['\"]?([A-Za-z0-9_.-]+)", path.read_text(), re.MULTILINE)
        if m:
            out.setdefault(m.group(1), path)
    return out


class Sweeps:
    """Today's sweeps under ``sweeps_dir``: each loaded and expanded once, on demand."""

    def __init__(self, sweeps_dir: Path) -> None:
        self.dir = Path(sweeps_dir)
        self.paths = sweep_paths(self.dir)
        self._cells: dict[str, tuple[Any, dict[str, Any]] | str] = {}

    def cells(self, name: str) -> tuple[Any, dict[str, Any]] | str:
        """(the sweep, its cells by key), or why there is none (a one-line reason)."""
        if name not in self._cells:
            from benchmark.runner.sweep import expand, load_sweep

            path = self.paths.get(name)
            if path is None:
                self._cells[name] = f"no sweep file named {name} under {self.dir}"
            else:
                try:
                    sweep = load_sweep(path)
                    self._cells[name] = (sweep, {c.key: c for c in expand(sweep)})
                except KdbenchError as exc:
                    self._cells[name] = f"{path.name} does not load today: {exc}"
        return self._cells[name]


def todays_params(env: Any, cell: Any, recorded: dict[str, Any]) -> dict[str, Any] | None:
    """The full parameters today's runner would give ``cell`` when its tuning chose the
    values ``recorded`` has for the names it tunes; ``None`` when the cell tunes on its
    method's own space (names unknown)."""
    from benchmark.runner.cellrun import cell_params, selection_of, space_names

    if selection_of(env, cell) == "none":
        return cell_params(env, cell, {})
    names = space_names(env, cell)
    if names is None:
        return None
    return cell_params(env, cell, {k: recorded[k] for k in names if k in recorded})


def _param_diff(recorded: dict[str, Any], today: dict[str, Any]) -> str:
    parts = []
    for k in sorted(recorded.keys() | today.keys()):
        if k not in today:
            parts.append(f"{k} gone")
        elif k not in recorded:
            parts.append(f"{k} new ({today[k]!r})")
        elif parse_value(str(recorded[k])) != parse_value(str(today[k])):
            parts.append(f"{k} {recorded[k]!r}→{today[k]!r}")
    more = f" (+{len(parts) - 4} more)" if len(parts) > 4 else ""
    return ", ".join(parts[:4]) + more if parts else "same values, other hash"


def config_reasons(cell: RecordCell, sweeps: Sweeps) -> tuple[list[str], list[str]]:
    """``config`` / ``config?`` and their details for ``cell`` (see the module docstring)."""
    from benchmark.runner.cellrun import Env

    found = sweeps.cells(cell["sweep"])
    if isinstance(found, str):
        return ["config?"], [f"config?: {found}"]
    sweep, by_key = found
    runner_cell = by_key.get(cell["cell"])
    if runner_cell is None:
        path = sweeps.paths[cell["sweep"]]
        return ["config?"], [f"config?: {path.name} has no cell {cell['cell']}"]
    env = Env(sweep=sweep, storage=None, tracker=None, cache=None, device=None)  # type: ignore[arg-type]
    used = sorted({int(s.get("config", 0)) for s in cell["seeds"]})
    for i in used:
        config = cell["configs"][i]
        try:
            params = todays_params(env, runner_cell, config["params"])
        except KdbenchError as exc:
            return ["config"], [f"config: {str(exc).splitlines()[0]}"]
        if params is None:
            return ["config?"], [f"config?: {cell['method']} tunes on its own search space"]
        today = config_hash({"cell": runner_cell.key, "params": params})
        if today != config["config_hash"]:
            seeds = [s["seed"] for s in cell["seeds"] if int(s.get("config", 0)) == i]
            return ["config"], [
                f"config: seeds {_ranges(seeds)} ran {config['config_hash']}, today "
                f"{today} ({_param_diff(config['params'], params)})"
            ]
    return [], []


def _ranges(seeds: Sequence[int]) -> str:
    s = sorted(seeds)
    if s and s == list(range(s[0], s[-1] + 1)) and len(s) > 2:
        return f"{s[0]}-{s[-1]}"
    return ",".join(map(str, s))


def record_staleness(
    cells: Sequence[RecordCell],
    repo: Path = REPO,
    sweeps_dir: Path | None = None,
) -> list[Staleness]:
    """Per record cell, in order: fresh, or why it is stale or unknown (the module
    docstring). ``repo``: the checkout whose working tree is today's code; ``sweeps_dir``:
    where its sweep files are (default ``<repo>/sweeps``)."""
    diffs = GitDiffs(repo)
    sweeps = Sweeps(sweeps_dir if sweeps_dir is not None else Path(repo) / "sweeps")
    out = []
    for cell in cells:
        provs = _used_provenance(cell)
        latest = max(provs, key=lambda p: p.get("date", ""), default={})
        code, code_why = code_reasons(cell, diffs)
        config, config_why = config_reasons(cell, sweeps)
        out.append(
            Staleness(
                cell=cell["cell"],
                sweep=cell["sweep"],
                method=cell["method"],
                dataset=cell["dataset"],
                n=len(cell["seeds"]),
                commit=_short(cell.get("code_commit", "")),
                date=latest.get("date", ""),
                reasons=code + config,
                details=code_why + config_why,
            )
        )
    return out


def summary(rows: Sequence[Staleness]) -> dict[str, int]:
    """Cell counts: ``fresh``, ``stale code``, ``stale config`` (a cell may be both) and
    ``unknown`` (no stale reason, but a check that could not be made)."""
    return {
        "cells": len(rows),
        "fresh": sum(r.state == "fresh" for r in rows),
        "stale code": sum("code" in r.reasons for r in rows),
        "stale config": sum("config" in r.reasons for r in rows),
        "unknown": sum(r.state == "unknown" for r in rows),
    }


def staleness_frame(rows: Sequence[Staleness]) -> Any:
    """The rows as a pandas frame (one row per cell; ``reasons`` and ``details`` joined by
    ``"; "``), for the app."""
    import pandas as pd

    frame = pd.DataFrame([r.to_dict() for r in rows])
    if not frame.empty:
        frame["reasons"] = frame["reasons"].map(" ".join)
        frame["details"] = frame["details"].map("; ".join)
    return frame
