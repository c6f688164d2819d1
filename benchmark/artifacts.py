"""The artefact cache: teachers (and any other trained dependency) built once, reused by all.

An artefact is keyed by the content hash of what determines it — dataset, split name, seed,
method, backbone and the full hyper-parameter dict — and stored as ``<root>/<hash>.pt`` with a
line in ``<root>/index.jsonl`` recording when and by whom it was built. Several processes may
ask for the same artefact at once: the first takes ``<hash>.lock`` (``O_EXCL``), builds, writes
atomically (temp file + rename); the others wait for the file. A lock left by a dead process on
this host is taken over.
"""

from __future__ import annotations

import json
import os
import socket
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch

from benchmark.errors import KdbenchError
from benchmark.tracking import config_hash


class ArtifactCache:
    """See the module docstring. ``built`` counts the artefacts this process built."""

    def __init__(self, root: Path, wait_seconds: float = 6 * 3600) -> None:
        self.root = Path(root)
        self.root.mkdir(parents=True, exist_ok=True)
        self.wait_seconds = wait_seconds
        self.built = 0

    def path(self, key: dict[str, Any]) -> Path:
        return self.root / f"{config_hash(key)}.pt"

    def get_or_create(self, key: dict[str, Any], build: Callable[[], Any]) -> Any:
        """The artefact for ``key``, built with ``build()`` if no process has built it yet."""
        path = self.path(key)
        lock = path.with_suffix(".lock")
        deadline = time.monotonic() + self.wait_seconds
        while True:
            if path.exists():
                return torch.load(path, weights_only=False)
            if self._acquire(lock):
                try:
                    if path.exists():  # built between our check and the lock
                        return torch.load(path, weights_only=False)
                    value = build()
                    tmp = path.with_suffix(f".tmp{os.getpid()}")
                    torch.save(value, tmp)
                    os.replace(tmp, path)
                    self.built += 1
                    with (self.root / "index.jsonl").open("a") as f:
                        f.write(
                            json.dumps(
                                {
                                    "hash": path.stem,
                                    "key": key,
                                    "pid": os.getpid(),
                                    "host": socket.gethostname(),
                                    "time": time.time(),
                                },
                                default=str,
                            )
                            + "\n"
                        )
                    return value
                finally:
                    lock.unlink(missing_ok=True)
            if time.monotonic() > deadline:
                raise KdbenchError(
                    f"waited too long for artefact {path} (lock {lock}); "
                    "delete the lock if its process is gone"
                )
            time.sleep(0.5)

    def builds(self) -> list[dict[str, Any]]:
        """Every build recorded in the index (all processes)."""
        index = self.root / "index.jsonl"
        if not index.exists():
            return []
        return [json.loads(line) for line in index.read_text().splitlines() if line.strip()]

    @staticmethod
    def _acquire(lock: Path) -> bool:
        owner = f"{socket.gethostname()}:{os.getpid()}"
        try:
            fd = os.open(lock, os.O_CREAT | os.O_EXCL | os.O_WRONLY)
        except FileExistsError:
            try:
                host, pid = lock.read_text().rsplit(":", 1)
            except (OSError, ValueError):
                return False
            if host == socket.gethostname() and not _alive(int(pid)):
                lock.unlink(missing_ok=True)  # its builder died; try again next round
            return False
        with os.fdopen(fd, "w") as f:
            f.write(owner)
        return True


def resolve_dependencies(
    cache: ArtifactCache,
    method: Any,
    data: Any,
    split: Any,
    seed: int,
    backbone: str,
    teacher: str | None,
    device: Any,
    params_for: Callable[[Any], dict[str, Any]],
    params: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Train (once, through ``cache``) every dependency of ``method`` for this split and seed.

    ``params_for(dep)`` gives a :class:`~benchmark.method.Dependency`'s hyper-parameters when it
    does not fix them (the runner: the tuned configuration of the teacher's cell; ``kdbench
    fit``: the defaults). Dependencies are trained without test evaluation and export their
    outputs for every node or graph (``FitResult.outputs``). ``params``: the student's own
    hyper-parameters, passed to :meth:`~benchmark.method.Method.dependencies`.
    """
    from benchmark.method import FitContext
    from benchmark.metrics import evaluator_for
    from benchmark.registry import METHODS

    out: dict[str, Any] = {}
    for dep in method.dependencies(data.task, backbone, teacher, params):
        if dep.build is not None:  # not a run on this cell's data (a pre-trained encoder)
            out[dep.name] = dep.build(cache, device)
            continue
        dep_params = (
            dep.params if dep.params is not None else {**params_for(dep), **(dep.overrides or {})}
        )
        dep_method = METHODS.get(dep.method)()
        key = {
            "dataset": data.name,
            "split": split.name,
            "seed": seed,
            "method": dep.method,
            "backbone": dep.backbone,
            "params": dep_params,
        }
        if dep_method.revision:
            key["revision"] = dep_method.revision

        def build(dep_method: Any = dep_method, dep: Any = dep, params: Any = dep_params) -> Any:
            inner = resolve_dependencies(
                cache, dep_method, data, split, seed, dep.backbone, None, device, params_for, params
            )
            ctx = FitContext(
                data,
                split,
                dep.backbone,
                params,
                seed,
                device,
                evaluator_for(data.card),
                artifacts=inner,
                evaluate_test=False,
                export_outputs=True,
            )
            result = dep_method.fit(ctx)
            result.val_pred = None
            return result

        out[dep.name] = cache.get_or_create(key, build)
    return out


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
