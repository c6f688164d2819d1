"""Which code made a fit: the files that determine a cell's fits and a hash of their contents.

A cell's **code files** are the shared core, :data:`CODE_PATHS` (data, splits and cards,
backbones, the training loop, the method API, the fit pipeline, artefacts and metrics: their
``*.py``, ``*.yaml`` and ``*.json`` files), plus the source files of its method — every class of
its MRO that lives in this checkout (``inspect``) — and, recursively, of its dependencies'
methods (a distillation cell's teacher). Its **code hash** is the SHA-256 (16 hex digits) of
the sorted (path, SHA-256 of the content) pairs of those files.

The runner tags every final run with the code hash of the working tree it ran from
(``code_hash``); the record keeps it per provenance entry, and
:mod:`benchmark.runner.staleness` compares it with today's — so staleness needs no git
history (a shallow clone, an exported tree). For seeds recorded without one,
:func:`commit_hash` computes it from a commit's files (``git cat-file``), the files of today's
set as they were at that commit.
"""

from __future__ import annotations

import functools
import hashlib
import inspect
import re
import subprocess
from collections.abc import Iterable, Mapping
from pathlib import Path

from benchmark.tracking import REPO

#: the training-relevant core: a change under any of these changes every cell's code hash
CODE_PATHS = (
    "benchmark/data",
    "benchmark/models",
    "benchmark/train",
    "benchmark/pretrain",
    "benchmark/fitting.py",
    "benchmark/fit_context.py",
    "benchmark/method.py",
    "benchmark/artifacts.py",
    "benchmark/metrics.py",
    "datasets",
)
#: the kinds of file under :data:`CODE_PATHS` that count (sources, cards, presets)
SUFFIXES = (".py", ".yaml", ".yml", ".json")


def under(path: str, roots: Iterable[str]) -> bool:
    """Whether ``path`` (relative, posix) is one of ``roots`` or inside one."""
    return any(path == r or path.startswith(r.rstrip("/") + "/") for r in roots)


@functools.lru_cache(maxsize=256)
def method_files(method: str, task: str, backbone: str, teacher: str | None) -> frozenset[str]:
    """The source files (relative to the checkout) of ``method``'s class and its bases, and
    of its dependencies' methods, recursively; only files inside this checkout."""
    from benchmark.registry import METHODS

    cls = METHODS.get(method)
    files: set[str] = set()
    for klass in cls.__mro__:
        try:
            src = inspect.getsourcefile(klass)
        except TypeError:  # a builtin (object)
            continue
        if src and Path(src).resolve().is_relative_to(REPO):
            files.add(Path(src).resolve().relative_to(REPO).as_posix())
    for dep in cls().dependencies(task, backbone, teacher):
        if dep.method in METHODS:  # not an encoder artefact (benchmark/pretrain, core)
            files |= method_files(dep.method, task, dep.backbone, None)
    return frozenset(files)


def cell_paths(method: str, dataset: str, backbone: str, teacher: str | None) -> frozenset[str]:
    """The roots of a cell's code files: :data:`CODE_PATHS` and its method files."""
    from benchmark.data.card import get_card

    task = get_card(dataset).task
    return frozenset(CODE_PATHS) | method_files(method, task, backbone, teacher or None)


def _counts(path: str) -> bool:
    return path.endswith(SUFFIXES) and "__pycache__" not in path


def digest(contents: Mapping[str, bytes]) -> str:
    """The code hash of ``contents`` (relative path → bytes)."""
    h = hashlib.sha256()
    for path in sorted(contents):
        h.update(path.encode() + b"\0" + hashlib.sha256(contents[path]).digest())
    return h.hexdigest()[:16]


def disk_files(roots: Iterable[str], repo: Path = REPO) -> dict[str, bytes]:
    """The code files under ``roots`` in the working tree of ``repo``."""
    out: dict[str, bytes] = {}
    for root in roots:
        p = Path(repo) / root
        found = [p] if p.is_file() else sorted(p.rglob("*")) if p.is_dir() else []
        for f in found:
            rel = f.relative_to(repo).as_posix()
            if f.is_file() and _counts(rel):
                out[rel] = f.read_bytes()
    return out


def disk_hash(roots: Iterable[str], repo: Path = REPO) -> str:
    """Today's code hash of the files under ``roots`` (the working tree)."""
    return digest(disk_files(roots, repo))


@functools.lru_cache(maxsize=256)
def cell_hash(method: str, dataset: str, backbone: str, teacher: str | None) -> str:
    """The code hash of a cell's files in the working tree (the runner's ``code_hash`` tag),
    read once per process: the code it imported when it started."""
    return disk_hash(sorted(cell_paths(method, dataset, backbone, teacher)))


class CommitFiles:
    """The code files of commits of ``repo``, read with git (one ``ls-tree`` and one
    ``cat-file --batch`` per commit); ``None`` for a commit this clone does not have."""

    def __init__(self, repo: Path = REPO) -> None:
        self.repo = Path(repo)
        self._files: dict[str, dict[str, bytes] | None] = {}

    def _git(self, *args: str, data: bytes | None = None) -> bytes | None:
        try:
            proc = subprocess.run(
                ["git", *args], cwd=self.repo, input=data, capture_output=True, timeout=120
            )
        except (OSError, subprocess.SubprocessError):
            return None
        return proc.stdout if proc.returncode == 0 else None

    def files(self, commit: str) -> dict[str, bytes] | None:
        sha = commit.removesuffix("-dirty")
        if sha not in self._files:
            self._files[sha] = self._read(sha)
        return self._files[sha]

    def _read(self, sha: str) -> dict[str, bytes] | None:
        if not re.fullmatch(r"[0-9a-f]{7,40}", sha):
            return None
        listing = self._git(
            "ls-tree", "-r", "--name-only", sha, "--", "benchmark", "methods", "datasets"
        )
        if listing is None:
            return None
        paths = [p for p in listing.decode().splitlines() if _counts(p)]
        blob = self._git(
            "cat-file", "--batch", data="".join(f"{sha}:{p}\n" for p in paths).encode()
        )
        if blob is None:
            return None
        out, pos = {}, 0
        for path in paths:  # each object: "<oid> blob <size>\n<content>\n"
            end = blob.index(b"\n", pos)
            size = int(blob[pos:end].split()[2])
            out[path] = blob[end + 1 : end + 1 + size]
            pos = end + 1 + size + 1
        return out

    def hash(self, commit: str, roots: Iterable[str]) -> str | None:
        """The code hash of the files under ``roots`` as they were at ``commit``."""
        files = self.files(commit)
        if files is None:
            return None
        roots = list(roots)
        return digest({p: b for p, b in files.items() if under(p, roots)})


def fill_code_hashes(cells: Iterable[dict], commits: CommitFiles | None = None) -> int:
    """Give every provenance entry of these record cells without a ``code_hash`` the hash of
    its cell's code files at its ``code_commit`` (when this clone has that commit); returns
    how many were filled. ``kdbench export --record`` calls it for runs made before the runner
    tagged ``code_hash``."""
    commits = commits or CommitFiles()
    filled = 0
    for cell in cells:
        roots = None
        for prov in cell.get("provenance", []):
            if prov.get("code_hash") or not prov.get("code_commit"):
                continue
            if roots is None:
                roots = cell_paths(
                    cell["method"], cell["dataset"], cell["backbone"], cell.get("teacher")
                )
            h = commits.hash(prov["code_commit"], roots)
            if h is not None:
                prov["code_hash"] = h
                filled += 1
    return filled
