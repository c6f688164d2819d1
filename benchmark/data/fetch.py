"""Make a card's files present and verified under the data root.

Order of sources for each missing file: the data root itself, the mirror (``KDBENCH_MIRROR``: a
folder or an http(s) URL prefix laid out like the data root, ``<mirror>/<card.path>/<file>``),
the file's official URL, then an official archive that holds it. Every file is checked
against the card's sha256; verified hashes are remembered in ``<data root>/<card.path>/
.verified.json`` (keyed by size and mtime) so large files are hashed once. Any failure is one
:class:`~benchmark.errors.DataError` line naming the file, what was tried and the fix.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import socket
import tempfile
import urllib.error
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from benchmark.errors import DataError

if TYPE_CHECKING:
    from benchmark.data.card import ArchiveSpec, DatasetCard, FileSpec

DATA_ENV = "KDBENCH_DATA"
MIRROR_ENV = "KDBENCH_MIRROR"
TIMEOUT_ENV = "KDBENCH_TIMEOUT"
VERIFIED = ".verified.json"
_CHUNK = 1 << 20


def default_data_root() -> Path:
    """``$KDBENCH_DATA``, else ``$XDG_CACHE_HOME/kdbench/data``, else ``~/.cache/kdbench/data``."""
    env = os.environ.get(DATA_ENV)
    if env:
        return Path(env).expanduser()
    cache = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(cache).expanduser() / "kdbench" / "data"


def default_mirror() -> str | None:
    """``$KDBENCH_MIRROR`` (a folder or an http(s) URL prefix), or ``None``."""
    return os.environ.get(MIRROR_ENV) or None


def sha256_file(path: Path) -> str:
    """Hex sha256 of a file, read in 1 MiB chunks."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(_CHUNK):
            h.update(chunk)
    return h.hexdigest()


def _short(digest: str | None) -> str:
    return "unpinned" if digest is None else digest[:12]


def _is_url(mirror: str) -> bool:
    return mirror.startswith(("http://", "https://"))


class _Verified:
    """The per-folder record of verified hashes: ``{file: {size, mtime_ns, sha256, origin}}``."""

    def __init__(self, folder: Path) -> None:
        self.file = folder / VERIFIED
        try:
            self.entries: dict[str, dict[str, Any]] = json.loads(self.file.read_text())
        except (OSError, ValueError):
            self.entries = {}
        self.dirty = False

    def sha256(self, folder: Path, rel: str) -> str:
        """The file's sha256, from the record when size and mtime still match."""
        st = (folder / rel).stat()
        entry = self.entries.get(rel)
        if entry and entry.get("size") == st.st_size and entry.get("mtime_ns") == st.st_mtime_ns:
            return str(entry["sha256"])
        digest = sha256_file(folder / rel)
        self.entries[rel] = {"size": st.st_size, "mtime_ns": st.st_mtime_ns, "sha256": digest}
        self.dirty = True
        return digest

    def origin(self, rel: str) -> str | None:
        return self.entries.get(rel, {}).get("origin")

    def record(self, folder: Path, rel: str, digest: str, origin: str) -> None:
        st = (folder / rel).stat()
        self.entries[rel] = {
            "size": st.st_size,
            "mtime_ns": st.st_mtime_ns,
            "sha256": digest,
            "origin": origin,
        }
        self.dirty = True

    def save(self) -> None:
        if not self.dirty:
            return
        tmp = self.file.with_name(f"{VERIFIED}.{os.getpid()}.tmp")
        try:
            tmp.write_text(json.dumps(self.entries, indent=1, sort_keys=True))
            os.replace(tmp, self.file)
        except OSError:  # a read-only data root still works, it only re-hashes next time
            tmp.unlink(missing_ok=True)


@contextlib.contextmanager
def _timeout() -> Iterator[None]:
    """Bound every socket operation of PyG's ``download_url`` (it sets no timeout itself)."""
    old = socket.getdefaulttimeout()
    socket.setdefaulttimeout(float(os.environ.get(TIMEOUT_ENV, "30")))
    try:
        yield
    finally:
        socket.setdefaulttimeout(old)


class _Unreachable(OSError):
    """A host that did not answer; later URLs on it are skipped instead of waited for."""


def _download(url: str, folder: Path, dead_hosts: set[str]) -> Path:
    """Download ``url`` into ``folder`` with PyG's ``download_url``; a failure raises OSError."""
    from urllib.parse import urlsplit

    from torch_geometric.data import download_url

    host = urlsplit(url).netloc
    if host in dead_hosts:
        raise _Unreachable(f"could not reach {url} (host {host} did not answer before)")
    try:
        with _timeout():
            return Path(download_url(url, str(folder)))
    except urllib.error.HTTPError as e:
        raise OSError(f"{url} answered HTTP {e.code}") from e
    except (OSError, ValueError) as e:
        dead_hosts.add(host)
        reason = getattr(e, "reason", None) or e
        raise _Unreachable(f"could not reach {url} ({reason})") from e


def _has_official(card: DatasetCard, spec: FileSpec) -> bool:
    return bool(spec.url) or any(a.provides(spec.path) for a in card.archives)


def _fix(card: DatasetCard, spec: FileSpec) -> str:
    fix = f"set {MIRROR_ENV} to a folder holding {card.path}/{spec.path}"
    return fix + (" or connect to the internet" if _has_official(card, spec) else "")


def _accepted(card: DatasetCard, spec: FileSpec, digest: str, origin: str | None) -> bool:
    """Whether ``digest`` is acceptable for ``spec``: pinned match, unpinned, or an inexact
    official source the record says it came from."""
    if spec.sha256 is None or digest == spec.sha256:
        return True
    inexact = {a.url for a in card.archives if not a.exact}
    if spec.url and not spec.exact:
        inexact.add(spec.url)
    return origin in inexact


class _Fetch:
    """One ``ensure_files`` call: fetches missing files into ``folder`` via ``scratch``."""

    def __init__(self, card: DatasetCard, folder: Path, verified: _Verified, scratch: Path):
        self.card, self.folder, self.verified, self.scratch = card, folder, verified, scratch
        self.dead_hosts: set[str] = set()
        self.n = 0

    def _work(self) -> Path:
        self.n += 1
        return self.scratch / str(self.n)

    def place(self, tmp: Path, spec: FileSpec, origin: str, check: bool) -> None:
        """Verify the fetched ``tmp`` (when ``check``) and move it into place atomically."""
        digest = sha256_file(tmp)
        if check and spec.sha256 is not None and digest != spec.sha256:
            raise DataError(
                f"{self.card.name}: {spec.path} from {origin} has sha256 {_short(digest)}…, "
                f"the card pins {_short(spec.sha256)}…; the source holds another version. "
                f"Fix: {_fix(self.card, spec)}, or correct the card if the new file is right."
            )
        target = self.folder / spec.path
        target.parent.mkdir(parents=True, exist_ok=True)
        os.replace(tmp, target)
        self.verified.record(self.folder, spec.path, digest, origin)

    def from_mirror(self, spec: FileSpec, mirror: str) -> str | None:
        """Copy one file from the mirror; returns None on success or what went wrong."""
        if _is_url(mirror):
            url = f"{mirror.rstrip('/')}/{self.card.path}/{spec.path}"
            try:
                tmp = _download(url, self._work(), self.dead_hosts)
            except OSError as e:
                return f"mirror: {e}"
            self.place(tmp, spec, url, check=True)
            return None
        src = Path(mirror).expanduser() / self.card.path / spec.path
        if not src.is_file():
            return f"mirror: no {src}"
        tmp = self._work() / Path(spec.path).name
        tmp.parent.mkdir(parents=True)
        shutil.copyfile(src, tmp)
        self.place(tmp, spec, str(src), check=True)
        return None

    def from_url(self, spec: FileSpec) -> str | None:
        assert spec.url is not None
        try:
            tmp = _download(spec.url, self._work(), self.dead_hosts)
        except OSError as e:
            return str(e)
        self.place(tmp, spec, spec.url, check=spec.exact)
        return None

    def from_archive(self, archive: ArchiveSpec, wanted: list[FileSpec]) -> str | None:
        """Download one archive, extract it and place the ``wanted`` files it holds."""
        from torch_geometric.data import extract_gz, extract_tar, extract_zip

        work = self._work()
        try:
            path = _download(archive.url, work, self.dead_hosts)
        except OSError as e:
            return str(e)
        if archive.sha256 is not None and (got := sha256_file(path)) != archive.sha256:
            raise DataError(
                f"{self.card.name}: archive {archive.url} has sha256 {_short(got)}…, the card "
                f"pins {_short(archive.sha256)}…. Fix: {_fix(self.card, wanted[0])}, or "
                "correct the card."
            )
        # PyG's extract_gz writes beside the archive (it ignores ``folder``): out = work
        out = work if archive.kind == "gz" else work / "extracted"
        extract = {"zip": extract_zip, "gz": extract_gz, "tar": extract_tar}[archive.kind]
        extract(str(path), str(out), log=False)
        for spec in wanted:
            member = out / archive.member(spec.path)
            if not member.is_file():
                return f"{archive.url} has no member {archive.member(spec.path)}"
            self.place(member, spec, archive.url, check=archive.exact)
        return None

    def run(self, missing: list[FileSpec], mirror: str | None) -> None:
        """Mirror first, then the file's URL, then the archives; one error for what is left."""
        tried: dict[str, list[str]] = {spec.path: [] for spec in missing}
        left: list[FileSpec] = []
        for spec in missing:
            problem = (
                self.from_mirror(spec, mirror) if mirror else f"no mirror ({MIRROR_ENV} unset)"
            )
            if problem and spec.url:
                tried[spec.path].append(problem)
                problem = self.from_url(spec)
            if problem:
                tried[spec.path].append(problem)
                left.append(spec)
        for archive in self.card.archives:
            wanted = [s for s in left if archive.provides(s.path)]
            if wanted:
                problem = self.from_archive(archive, wanted)
                for s in wanted:
                    if problem is None:
                        left.remove(s)
                    else:
                        tried[s.path].append(problem)
        if left:
            spec = left[0]
            more = f" (and {len(left) - 1} more files)" if len(left) > 1 else ""
            none = "" if _has_official(self.card, spec) else "; the card knows no official source"
            raise DataError(
                f"{self.card.name}: cannot get {self.card.path}/{spec.path}{more}: "
                f"{'; '.join(tried[spec.path])}{none}. Fix: {_fix(self.card, spec)}."
            )


def ensure_files(
    card: DatasetCard, data_root: Path | None = None, mirror: str | None = None
) -> Path:
    """Make every file of ``card`` present and verified under ``data_root / card.path``.

    ``data_root`` defaults to :func:`default_data_root`; ``mirror`` (a folder or an http(s)
    URL prefix) to ``$KDBENCH_MIRROR``, and ``""`` means no mirror. Returns the dataset
    folder. A file already present must match its sha256 (a corrupt file is never overwritten
    silently: the error says to delete it).
    """
    root = Path(data_root) if data_root is not None else default_data_root()
    mirror = mirror if mirror is not None else default_mirror()
    folder = root / card.path
    verified = _Verified(folder)
    missing: list[FileSpec] = []
    try:
        for spec in card.files:
            target = folder / spec.path
            if not target.is_file():
                missing.append(spec)
                continue
            digest = verified.sha256(folder, spec.path)
            if not _accepted(card, spec, digest, verified.origin(spec.path)):
                raise DataError(
                    f"{card.name}: {target} has sha256 {_short(digest)}…, the card pins "
                    f"{_short(spec.sha256)}…. Fix: delete the corrupt file {target} to "
                    "re-fetch it."
                )
        if missing:
            folder.mkdir(parents=True, exist_ok=True)
            with tempfile.TemporaryDirectory(prefix=".fetch-", dir=folder) as scratch:
                _Fetch(card, folder, verified, Path(scratch)).run(missing, mirror)
    finally:
        if folder.is_dir():
            verified.save()
    return folder


def availability(card: DatasetCard, data_root: Path, mirror: str | None) -> str:
    """Where the card's files are, without hashing: ``"data root"``, ``"mirror"``,
    ``"download"`` (an official source covers every file) or ``"no"``."""
    if all((data_root / card.path / f.path).is_file() for f in card.files):
        return "data root"
    if mirror and not _is_url(mirror):
        base = Path(mirror).expanduser() / card.path
        if all((base / f.path).is_file() for f in card.files):
            return "mirror"
    elif mirror:
        return "mirror"
    if all(_has_official(card, f) for f in card.files):
        return "download"
    return "no"
