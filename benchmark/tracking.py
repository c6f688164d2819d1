"""MLflow tracking: one parent run per ``fit`` (or cell), one child run per seed.

Embedded default: ``sqlite:///<runs>/mlflow.db`` with ``<runs>`` = ``$KDBENCH_RUNS`` or
``./runs``; ``MLFLOW_TRACKING_URI`` wins when set. Runs are written with ``MlflowClient``
and one ``log_batch`` per run (batched: a server round-trip per run, not per metric).
Every run carries provenance tags: method, dataset, backbone, seed, protocol, split, stage,
config hash, git SHA, hardware and package versions.

A finished result is never lost to an unreachable store: :meth:`Tracker.record` writes a run
that cannot be logged (after MLflow's own retries) to ``<runs>/spool/`` as JSON, says so in
one line, and replays it as soon as a later run goes through (or the next :class:`Tracker`
of that experiment on this machine starts).

:class:`~benchmark.tracking_process.TrackerProcess` runs the same tracker in a child
process (``kdbench fit``).
"""

from __future__ import annotations

import hashlib
import json
import os
import platform
import subprocess
import sys
import time
import urllib.request
import uuid
from collections.abc import Callable
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    pass

from benchmark.errors import KdbenchError

REPO = Path(__file__).resolve().parents[1]


def runs_dir() -> Path:
    """The folder holding the embedded stores (``$KDBENCH_RUNS``, default ``./runs``)."""
    return Path(os.environ.get("KDBENCH_RUNS", "runs")).resolve()


def runs_root(tracking_uri: str) -> Path:
    """The runs folder of a store: the folder of an embedded SQLite store (where the runner
    keeps ``<sweep>/optuna.journal`` beside ``mlflow.db``), else :func:`runs_dir`."""
    if tracking_uri.startswith("sqlite:///"):
        return Path(tracking_uri[len("sqlite:///") :]).parent
    return runs_dir()


def tracking_uri() -> str:
    """``$MLFLOW_TRACKING_URI`` if set, else the embedded SQLite store under :func:`runs_dir`."""
    uri = os.environ.get("MLFLOW_TRACKING_URI")
    if uri:
        return uri
    d = runs_dir()
    d.mkdir(parents=True, exist_ok=True)
    return f"sqlite:///{d / 'mlflow.db'}"


def check_reachable(uri: str, timeout: float = 5.0) -> None:
    """Fail fast, in one line, if an HTTP tracking server does not answer ``/health``."""
    from benchmark.urls import mask

    if not uri.startswith(("http://", "https://")):
        return
    try:
        urllib.request.urlopen(uri.rstrip("/") + "/health", timeout=timeout)
    except OSError as exc:
        raise KdbenchError(
            f"MLflow tracking server {mask(uri)} is unreachable ({getattr(exc, 'reason', exc)}); "
            "start it, or unset MLFLOW_TRACKING_URI to use the embedded SQLite store, "
            "or pass --no-track"
        ) from None


def config_hash(config: dict[str, Any]) -> str:
    """A stable 16-hex-digit hash of a JSON-able configuration."""
    blob = json.dumps(config, sort_keys=True, default=str).encode()
    return hashlib.sha256(blob).hexdigest()[:16]


@lru_cache(maxsize=1)
def git_sha() -> str:
    """The checkout's commit (``-dirty`` if it has uncommitted changes), or ``unknown``."""
    try:
        sha = subprocess.run(
            ["git", "rev-parse", "HEAD"],
            cwd=REPO,
            capture_output=True,
            text=True,
            timeout=5,
            check=True,
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            cwd=REPO,
            capture_output=True,
            text=True,
            timeout=5,
        ).stdout
        return sha + ("-dirty" if dirty.strip() else "")
    except (OSError, subprocess.SubprocessError):
        return "unknown"


def hardware(device: Any = None) -> str:
    """A one-line description of the machine and device, e.g. ``x86_64 2 cores; cpu``."""
    import torch

    desc = f"{platform.machine()} {os.cpu_count()} cores"
    if device is not None and str(device).startswith("cuda"):
        desc += f"; {torch.cuda.get_device_name(torch.device(device))}"
    else:
        desc += "; cpu"
    return desc


def cpu_name() -> str:
    """The CPU's model name (``/proc/cpuinfo``; else the platform's), e.g. ``Intel(R) Xeon(R)
    Processor``: a CPU fit's float rounding, hence its numbers, may depend on it."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def versions() -> dict[str, str]:
    """The versions of kdbench, torch, PyG and Python, as plain strings (``torch.__version__``
    is a ``str`` subclass of torch's: a tag holding it would make the tracking process,
    which unpickles the tags, import torch — about a second)."""
    import torch
    import torch_geometric

    import benchmark

    return {
        "kdbench": benchmark.__version__,
        "torch": str(torch.__version__),
        "torch_geometric": str(torch_geometric.__version__),
        "python": platform.python_version(),
    }


def provenance_tags(
    method: str,
    dataset: str,
    backbone: str,
    teacher: str | None,
    protocol: str,
    metric: str,
    *,
    config: dict[str, Any] | None = None,
    device: Any = None,
) -> dict[str, Any]:
    """The provenance tags of a run — what it is (method, dataset, backbone, teacher backbone
    or ``""``, concrete protocol, metric), the code (git SHA, package versions) and, when
    given, the hash of its ``config`` and the ``device`` with its hardware, torch's CPU threads,
    the CPU's model and the instruction set torch's kernels use (a CPU fit's numbers depend on
    them: ``kdbench verify`` re-fits with the same threads and says when the CPU differs).
    ``kdbench fit`` and the runner both tag with this; the runner adds its cell's own tags on
    top."""
    tags: dict[str, Any] = {
        "method": method,
        "dataset": dataset,
        "backbone": backbone,
        "teacher": teacher or "",
        "protocol": protocol,
        "metric": metric,
        "git_sha": git_sha(),
        **{f"version.{k}": v for k, v in versions().items()},
    }
    if config is not None:
        tags["config_hash"] = config_hash(config)
    if device is not None:
        import torch

        tags.update(
            hardware=hardware(device),
            device=str(device),
            threads=torch.get_num_threads(),
            cpu=cpu_name(),
            cpu_capability=torch.backends.cpu.get_cpu_capability(),
        )
    return tags


class Tracker:
    """Writes runs to one MLflow experiment; see the module docstring."""

    def __init__(
        self,
        experiment: str,
        uri: str | None = None,
        notify: Callable[[str], None] | None = None,
    ) -> None:
        #: Where the tracker's one-line warnings go (default: standard error).
        self.notify: Callable[[str], None] = notify or to_stderr
        os.environ.setdefault("MLFLOW_SUPPRESS_PRINTING_URL_TO_STDOUT", "true")
        import logging

        from mlflow.tracking import MlflowClient

        for name in ("mlflow", "alembic"):  # table creation chatter on a new store
            logging.getLogger(name).setLevel(logging.WARNING)

        self.uri = uri or tracking_uri()
        self.experiment = experiment
        check_reachable(self.uri)
        self.client = MlflowClient(self.uri)
        try:
            exp = self.client.get_experiment_by_name(experiment)
            self.experiment_id = (
                exp.experiment_id if exp else self.client.create_experiment(experiment)
            )
        except Exception as exc:  # mlflow raises many types; say which store failed
            from benchmark.urls import mask, scrub

            raise KdbenchError(
                f"cannot open MLflow store {mask(self.uri)}: "
                f"{scrub(str(exc), self.uri).splitlines()[0]}; check "
                "MLFLOW_TRACKING_URI or pass --no-track"
            ) from None
        replayed = self.replay_spool()
        if replayed:
            self.notify(f"replayed {replayed} spooled run(s) into {experiment}")

    def start(self, name: str, tags: dict[str, Any], parent: str | None = None) -> str:
        """Open a run (nested under ``parent`` if given); returns its id."""
        tags = {k: str(v) for k, v in tags.items()} | {"mlflow.runName": name}
        if parent:
            tags["mlflow.parentRunId"] = parent
        return self.client.create_run(self.experiment_id, tags=tags).info.run_id

    def log(
        self,
        run_id: str,
        params: dict[str, Any] | None = None,
        metrics: dict[str, float | None] | None = None,
        curves: dict[str, list[float]] | None = None,
    ) -> None:
        """Params, scalar metrics and per-step curves in as few ``log_batch`` calls as MLflow
        allows (1000 metrics per call)."""
        from mlflow.entities import Metric, Param

        now = int(time.time() * 1000)
        ms = [Metric(k, float(v), now, 0) for k, v in (metrics or {}).items() if v is not None]
        for key, values in (curves or {}).items():
            ms += [Metric(key, float(v), now, step) for step, v in enumerate(values)]
        ps = [Param(k, str(v)[:6000]) for k, v in (params or {}).items()]
        for i in range(0, max(len(ms), 1), 1000):
            self.client.log_batch(run_id, metrics=ms[i : i + 1000], params=ps if i == 0 else [])

    def finish(self, run_id: str, status: str = "FINISHED") -> None:
        self.client.set_terminated(run_id, status)

    def record(
        self,
        name: str,
        tags: dict[str, Any],
        parent: str | None = None,
        params: dict[str, Any] | None = None,
        metrics: dict[str, float | None] | None = None,
        curves: dict[str, list[float]] | None = None,
        status: str = "FINISHED",
    ) -> str | None:
        """One whole run (open, log, close); returns its id, or ``None`` when the store could
        not be reached and the run went to the spool (see the module docstring)."""
        try:
            run = self.start(name, tags, parent)
            self.log(run, params=params, metrics=metrics, curves=curves)
            self.finish(run, status)
        except Exception as exc:  # the store is down or refuses: keep the result locally
            from benchmark.urls import scrub

            first = scrub(str(exc), self.uri).strip().splitlines()[0] if str(exc).strip() else ""
            run_args = {"name": name, "tags": tags, "parent": parent, "params": params}
            run_args |= {"metrics": metrics, "curves": curves, "status": status}
            self.notify(
                spool_run(self.experiment, self.uri, f"unreachable ({first[:200]})", run_args)
            )
            return None
        if self._spooled():  # the store is back: log what waited for it
            self.replay_spool()
        return run

    def _spooled(self) -> bool:
        folder = spool_dir()
        return folder.is_dir() and any(folder.glob("*.json"))

    def safely(self, what: str, fn: Any, *args: Any, **kwargs: Any) -> Any:
        """``fn(*args, **kwargs)``, or ``None`` and one warning line if the store fails (for
        bookkeeping runs — tuning trials, a cell's summary — whose loss costs no result: the
        Optuna store holds the trials, and final seeds go through :meth:`record`)."""
        try:
            return fn(*args, **kwargs)
        except Exception as exc:
            from benchmark.urls import mask, scrub

            first = (scrub(str(exc), self.uri).strip().splitlines() or [""])[0][:200]
            self.notify(
                f"warning: MLflow store {mask(self.uri)} unreachable ({first}); {what} not "
                "logged, the grid goes on"
            )
            return None

    def replay_spool(self) -> int:
        """Log the spooled runs of this experiment (oldest first); returns how many. A run
        that fails again stays in the spool."""
        folder = spool_dir()
        done = 0
        files = (
            sorted(folder.glob("*.json"), key=lambda p: p.stat().st_mtime)
            if (folder.is_dir())
            else []
        )
        for path in files:
            rec = json.loads(path.read_text())
            if rec.get("experiment") != self.experiment:
                continue
            try:
                run = self.start(rec["name"], rec["tags"], rec["parent"])
                self.log(run, params=rec["params"], metrics=rec["metrics"], curves=rec["curves"])
                self.finish(run, rec["status"])
            except Exception:  # still unreachable: keep it for the next time
                break
            path.unlink()
            done += 1
        return done


def spool_dir() -> Path:
    """Where runs wait for an unreachable tracking store (``<runs>/spool``)."""
    return runs_dir() / "spool"


def to_stderr(line: str) -> None:
    """Print one warning line to standard error (a tracker's default ``notify``)."""
    print(line, file=sys.stderr, flush=True)


def spool_run(experiment: str, uri: str, why: str, run: dict[str, Any]) -> str:
    """Keep one run (``run``: the keyword arguments of :meth:`Tracker.record`) in
    :func:`spool_dir` for :meth:`Tracker.replay_spool`; returns the warning line that says so
    (``why``: what happened to the store ``uri``)."""
    from benchmark.urls import mask

    path = spool_dir() / f"{uuid.uuid4().hex}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    record = {"experiment": experiment, **run}
    path.write_text(json.dumps(record, default=str))
    return (
        f"warning: MLflow store {mask(uri)} {why}; run '{run['name']}' kept in {path} and "
        "replayed by the next kdbench run"
    )
