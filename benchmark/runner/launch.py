"""Entry points behind ``kdbench run | worker | tune | status``.

``run`` validates the sweep, prepares every cell (studies, parent runs, recovery of dead
workers' trials) and then works the grid itself or through ``--workers N`` processes, each a
``kdbench worker`` (spread over the visible GPUs with ``--device auto``). ``worker`` joins a
prepared grid from any machine that reaches the storage.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from dataclasses import dataclass
from fnmatch import fnmatchcase
from pathlib import Path

import torch

from benchmark.artifacts import ArtifactCache
from benchmark.device import resolve_device
from benchmark.errors import KdbenchError
from benchmark.runner.cellrun import Env
from benchmark.runner.grid import prepare, work
from benchmark.runner.progress import cell_state
from benchmark.runner.storage import make_storage
from benchmark.runner.sweep import Cell, SweepFile, cell_trials, expand, load_sweep
from benchmark.tracking import Tracker, runs_dir


def make_env(
    sweep: SweepFile,
    storage_url: str | None,
    device: str,
    track: bool = True,
    data_root: str | None = None,
    mirror: str | None = None,
    worker: int = 0,
) -> Env:
    folder = runs_dir() / sweep.name
    return Env(
        sweep=sweep,
        storage=make_storage(storage_url, folder),
        tracker=Tracker(sweep.name) if track else None,
        cache=ArtifactCache(runs_dir() / "artifacts"),
        device=resolve_device(device),
        data_root=data_root,
        mirror=mirror,
        worker=worker,
    )


@dataclass(frozen=True)
class Selection:
    """The part of a sweep to work: ``methods`` (comma-separated names) and ``cells``
    (comma-separated shell globs over cell keys ``sweep/method/dataset/backbone`` with
    ``/teacher=T``, ``/protocol=P`` and the grid entry's fixed ``/name=value`` appended where
    set, e.g. ``*/Cora-CPF/GAT*``). A cell is
    kept when it passes both filters; the teacher cells a kept cell needs are always kept."""

    methods: str | None = None
    cells: str | None = None

    def apply(self, cells: list[Cell]) -> list[Cell]:
        if not self.methods and not self.cells:
            return cells
        from benchmark.runner.sweep import teacher_cells

        names = set(self.methods.split(",")) if self.methods else None
        globs = self.cells.split(",") if self.cells else None
        chosen = [
            c
            for c in cells
            if (names is None or c.method in names)
            and (globs is None or any(fnmatchcase(c.key, g) for g in globs))
        ]
        if not chosen:
            raise KdbenchError(
                f"{self}: no cell of the sweep matches; `kdbench status SWEEP` lists the cell keys"
            )
        needed = {d for c in chosen for d in teacher_cells(c)} | set(chosen)
        return [c for c in cells if c in needed]

    def argv(self) -> list[str]:
        """The same selection as ``kdbench worker`` options."""
        return [
            *(["--only", self.methods] if self.methods else []),
            *(["--cells", self.cells] if self.cells else []),
        ]

    def __str__(self) -> str:
        return " ".join(self.argv())


def available(cells: list[Cell], data_root: str | None, mirror: str | None) -> list[Cell]:
    """Drop (with one warning line) the cells of datasets whose files cannot be had here."""
    from benchmark.data.card import get_card
    from benchmark.data.fetch import availability, default_data_root, default_mirror

    root = Path(data_root) if data_root else default_data_root()
    mirror = mirror if mirror is not None else default_mirror()
    missing = sorted(
        {c.dataset for c in cells if availability(get_card(c.dataset), root, mirror) == "no"}
    )
    if missing:
        print(
            f"warning: skipping the cells of {', '.join(missing)}: their files are not in the "
            "data root or the mirror and have no download source; see `kdbench datasets`",
            file=sys.stderr,
        )
    return [c for c in cells if c.dataset not in missing]


def run_sweep(
    path: str,
    workers: int = 1,
    storage_url: str | None = None,
    device: str = "auto",
    track: bool = True,
    selection: Selection = Selection(),
    data_root: str | None = None,
    mirror: str | None = None,
    on_progress=None,
    retry_failed: bool = False,
) -> list[Cell]:
    """Prepare and work the sweep at ``path`` (the cells ``selection`` keeps); returns them.
    Trials and seeds that failed for a reason of the environment are retried; with
    ``retry_failed``, every failed one."""
    sweep = load_sweep(path)
    cells = available(selection.apply(expand(sweep)), data_root, mirror)
    env = make_env(sweep, storage_url, device, track, data_root, mirror)
    prepare(env, cells, retry_failed)
    if workers <= 1:
        work(env, cells, on_progress=on_progress)
        return cells
    gpus = torch.cuda.device_count() if device == "auto" else 0
    threads = max(1, (os.cpu_count() or 1) // workers)
    procs = []
    for i in range(workers):
        dev = f"cuda:{i % gpus}" if gpus else device
        cmd = [
            sys.executable,
            "-m",
            "benchmark.cli",
            "worker",
            path,
            "--device",
            dev,
            "--threads",
            str(threads),
            "--index",
            str(i + 1),
        ]
        if storage_url:
            cmd += ["--storage", storage_url]
        if not track:
            cmd.append("--no-track")
        cmd += selection.argv()
        procs.append(subprocess.Popen(cmd))
    try:
        while any(p.poll() is None for p in procs):
            if on_progress is not None:
                on_progress()
            time.sleep(2)
    except KeyboardInterrupt:
        for p in procs:
            p.terminate()
        raise
    bad = [p.returncode for p in procs if p.returncode]
    if bad:
        raise KdbenchError(
            f"{len(bad)} worker(s) exited with an error (codes {bad}); rerun to "
            "resume: finished trials and seeds are kept"
        )
    return cells


def run_worker(
    path: str,
    storage_url: str | None,
    device: str,
    track: bool = True,
    selection: Selection = Selection(),
    index: int | None = None,
) -> None:
    """Work a prepared grid; ``index`` (default: from the process id) seeds the samplers."""
    sweep = load_sweep(path)
    cells = selection.apply(expand(sweep))
    worker = index if index is not None else os.getpid()
    env = make_env(sweep, storage_url, device, track, worker=worker)
    import optuna

    try:
        optuna.load_study(study_name=cells[0].key, storage=env.storage)
    except KeyError:
        raise KdbenchError(
            f"the grid of {path} is not prepared in this storage; start it with "
            "`kdbench run` first (it creates the studies)"
        ) from None
    work(env, cells)


def status_rows(path: str, storage_url: str | None) -> list[dict]:
    """Per cell: state, selection (nested / shared / none) and protocol kind, trials used /
    budget over all its tuning studies, studies (final seeds) whose tuning is over, running,
    final seeds done, failed trials and seeds with their distinct error messages, tuning and
    final seconds, and ``per_seed``: one entry per tuning study (``seed``: the final seed it
    serves, ``None`` for a shared study) with its trials and best parameters."""
    from benchmark.runner.cellrun import selection_of
    from benchmark.runner.spaces import space_source
    from benchmark.selection import protocol_kind

    sweep = load_sweep(path)
    env = make_env(sweep, storage_url, "cpu", track=False)
    rows = []
    for cell in expand(sweep):
        mode = selection_of(env, cell)
        base = {
            "cell": cell.key,
            "selection": mode,
            "kind": protocol_kind(cell.resolved_protocol(), mode),
            "space": space_source(sweep.search_spaces, cell.method),
        }
        try:
            s = cell_state(env, cell)
        except KeyError:  # not prepared yet
            n = len(sweep.budget.final_seeds) if mode == "nested" else int(mode == "shared")
            budget = cell_trials(sweep, cell) * n
            rows.append(
                {
                    **base,
                    "state": "pending",
                    "trials": f"0/{budget}",
                    "tuned": f"0/{n}",
                    "running": 0,
                    "final": f"0/{len(sweep.budget.final_seeds)}",
                    "failed": 0,
                    "errors": [],
                    "seconds": 0.0,
                    "final_seconds": 0.0,
                    "per_seed": [],
                }
            )
            continue
        rows.append(
            {
                **base,
                "state": s.label,
                "trials": f"{s.used}/{s.total_budget}",
                "tuned": f"{sum(st.over for st in s.studies)}/{len(s.studies)}",
                "running": s.running + s.final_running,
                "final": f"{s.final_done}/{s.final_total}",
                "failed": s.failed + s.final_failed,
                "errors": s.errors,
                "seconds": round(s.seconds, 1),
                "final_seconds": round(s.final_seconds, 1),
                "per_seed": [
                    {
                        "seed": st.seed,
                        "trials": f"{st.used}/{st.budget}",
                        "best_val": st.best_value,
                        "params": st.best,
                    }
                    for st in s.studies
                ],
            }
        )
    return rows


def eta_seconds(rows: list[dict]) -> tuple[float, int] | None:
    """Seconds the rest of the grid needs on one worker, and the number of finished pieces
    the estimate rests on: trials left × the mean duration of the finished tuning trials, plus
    final seeds left × the mean of the finished final seeds (each mean over the whole grid;
    ``None`` before anything finished)."""

    def pairs(key: str) -> list[tuple[int, int]]:
        return [tuple(map(int, r[key].split("/"))) for r in rows]  # type: ignore[misc]

    trials, finals = pairs("trials"), pairs("final")
    n_trials, n_finals = sum(d for d, _ in trials), sum(d for d, _ in finals)
    if not n_trials and not n_finals:
        return None
    per_trial = sum(r["seconds"] for r in rows) / n_trials if n_trials else 0.0
    per_final = sum(r["final_seconds"] for r in rows) / n_finals if n_finals else per_trial
    per_trial = per_trial or per_final
    left = sum(t - d for d, t in trials) * per_trial + sum(t - d for d, t in finals) * per_final
    return left, n_trials + n_finals


STATES = ("done", "running", "failed", "pending")


def status_counts(rows: list[dict]) -> dict[str, int]:
    """Cells per state (done, running, failed, pending) of :func:`status_rows`."""
    return {s: sum(r["state"] == s for r in rows) for s in STATES}


def sweep_dir(sweep: SweepFile) -> Path:
    return runs_dir() / sweep.name
