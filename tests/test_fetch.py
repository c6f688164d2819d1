"""Fetching: data root → mirror (folder or URL) → official URL/archive, always verified."""

from __future__ import annotations

import gzip
import hashlib
import json
import shutil
import zipfile
from pathlib import Path

import pytest

from benchmark.data import fetch
from benchmark.data.card import DatasetCard, get_card
from benchmark.data.fetch import VERIFIED, default_data_root, ensure_files
from benchmark.errors import DataError

pytest_plugins = ["tests.conftest_data"]


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _one_line(err: pytest.ExceptionInfo) -> str:
    msg = str(err.value)
    assert "\n" not in msg
    return msg


@pytest.fixture
def small_mirror(tmp_path: Path) -> Path:
    """A mirror holding two files of the toy card (path ``Toy``)."""
    mirror = tmp_path / "mirror"
    (mirror / "Toy" / "raw").mkdir(parents=True)
    (mirror / "Toy" / "raw" / "a.txt").write_bytes(b"alpha\n")
    (mirror / "Toy" / "raw" / "b.txt").write_bytes(b"beta\n")
    return mirror


@pytest.fixture
def toy(make_card) -> DatasetCard:
    """The toy card with the two files of ``small_mirror``, both pinned."""
    files = [
        {"path": "raw/a.txt", "sha256": _sha(b"alpha\n")},
        {"path": "raw/b.txt", "sha256": _sha(b"beta\n")},
    ]
    return make_card(files=files)


def test_default_data_root(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("KDBENCH_DATA", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert default_data_root() == tmp_path / "xdg" / "kdbench" / "data"
    monkeypatch.setenv("KDBENCH_DATA", str(tmp_path / "d"))
    assert default_data_root() == tmp_path / "d"


def test_fetch_from_folder_mirror_then_reuse(
    small_mirror: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, toy
) -> None:
    root = tmp_path / "root"
    folder = ensure_files(toy, root, str(small_mirror))
    assert folder == root / "Toy"
    assert (folder / "raw" / "a.txt").read_bytes() == b"alpha\n"
    record = json.loads((folder / VERIFIED).read_text())
    assert record["raw/b.txt"]["sha256"] == _sha(b"beta\n")
    assert not list(folder.glob(".fetch-*"))  # scratch cleaned up

    def no_hashing(path: Path) -> str:
        raise AssertionError(f"re-hashed {path}")

    monkeypatch.setattr(fetch, "sha256_file", no_hashing)
    shutil.rmtree(small_mirror)
    assert ensure_files(toy, root, None) == folder  # verified record, no mirror needed


def test_mirror_from_environment(small_mirror: Path, tmp_path: Path, monkeypatch, toy) -> None:
    monkeypatch.setenv("KDBENCH_MIRROR", str(small_mirror))
    monkeypatch.setenv("KDBENCH_DATA", str(tmp_path / "envroot"))
    assert ensure_files(toy) == tmp_path / "envroot" / "Toy"


def test_corrupt_local_file_is_reported(small_mirror: Path, tmp_path: Path, toy) -> None:
    root = tmp_path / "root"
    folder = ensure_files(toy, root, str(small_mirror))
    (folder / "raw" / "b.txt").write_bytes(b"bet\n")
    with pytest.raises(DataError) as err:
        ensure_files(toy, root, str(small_mirror))
    msg = _one_line(err)
    assert str(folder / "raw" / "b.txt") in msg
    assert _sha(b"beta\n")[:12] in msg and _sha(b"bet\n")[:12] in msg
    assert "delete the corrupt file" in msg


def test_corrupt_mirror_file_is_reported(small_mirror: Path, tmp_path: Path, toy) -> None:
    (small_mirror / "Toy" / "raw" / "a.txt").write_bytes(b"alpha?\n")
    root = tmp_path / "root"
    with pytest.raises(DataError) as err:
        ensure_files(toy, root, str(small_mirror))
    msg = _one_line(err)
    assert "raw/a.txt" in msg and str(small_mirror) in msg and "KDBENCH_MIRROR" in msg
    assert not (root / "Toy" / "raw" / "a.txt").exists()  # never placed


def test_missing_mirror_file_names_file_and_mirror(small_mirror: Path, tmp_path: Path, toy) -> None:
    (small_mirror / "Toy" / "raw" / "b.txt").unlink()
    with pytest.raises(DataError) as err:
        ensure_files(toy, tmp_path / "root", str(small_mirror))
    msg = _one_line(err)
    assert "Toy/raw/b.txt" in msg and str(small_mirror / "Toy" / "raw" / "b.txt") in msg
    assert "no official source" in msg and "set KDBENCH_MIRROR to a folder holding" in msg


def test_unreachable_official_url_fails_fast(tmp_path: Path, make_card) -> None:
    card = make_card(
        files=[
            {"path": "raw/a.txt", "url": "http://127.0.0.1:9/a.txt"},
            {"path": "raw/b.txt", "url": "http://127.0.0.1:9/b.txt"},
        ]
    )
    with pytest.raises(DataError) as err:
        ensure_files(card, tmp_path / "root", "")
    msg = _one_line(err)
    assert "could not reach http://127.0.0.1:9/a.txt" in msg
    assert "connect to the internet" in msg and "(and 1 more files)" in msg


def test_http_mirror(small_mirror: Path, tmp_path: Path, http_serve, toy) -> None:
    url = http_serve(small_mirror)
    folder = ensure_files(toy, tmp_path / "root", url)
    assert (folder / "raw" / "b.txt").read_bytes() == b"beta\n"
    assert json.loads((folder / VERIFIED).read_text())["raw/a.txt"]["origin"].startswith(url)


def test_official_url_is_verified(
    tmp_path: Path, http_serve, small_mirror: Path, make_card
) -> None:
    url = http_serve(small_mirror / "Toy" / "raw")
    good = make_card(
        files=[{"path": "raw/a.txt", "sha256": _sha(b"alpha\n"), "url": f"{url}/a.txt"}]
    )
    assert (ensure_files(good, tmp_path / "r1", "") / "raw" / "a.txt").is_file()
    bad = make_card(files=[{"path": "raw/a.txt", "sha256": _sha(b"other"), "url": f"{url}/a.txt"}])
    with pytest.raises(DataError, match=r"raw/a\.txt from http://127.*/a\.txt has sha256"):
        ensure_files(bad, tmp_path / "r2", "")


def _tu_zip(folder: Path, content: bytes) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "Toy.zip"
    with zipfile.ZipFile(path, "w") as z:
        z.writestr("Toy/README.txt", "readme")
        z.writestr("Toy/a.txt", content)
    return path


def test_archive_route(tmp_path: Path, http_serve, make_card) -> None:
    served = tmp_path / "served"
    _tu_zip(served, b"alpha\n")
    url = http_serve(served)
    archive = {"url": f"{url}/Toy.zip", "kind": "zip", "member_prefix": "Toy/", "target": "raw/"}
    card = make_card(files=[{"path": "raw/a.txt", "sha256": _sha(b"alpha\n")}], archives=[archive])
    folder = ensure_files(card, tmp_path / "root", str(tmp_path / "empty-mirror"))
    assert (folder / "raw" / "a.txt").read_bytes() == b"alpha\n"
    assert not (folder / "raw" / "README.txt").exists()


def test_inexact_archive_is_accepted_and_remembered(tmp_path: Path, http_serve, make_card) -> None:
    """An official source of another form (TU originals of a converted set): kept unhashed."""
    served = tmp_path / "served"
    _tu_zip(served, b"original form\n")
    archive = {
        "url": f"{http_serve(served)}/Toy.zip",
        "kind": "zip",
        "member_prefix": "Toy/",
        "target": "raw/",
        "exact": False,
    }
    card = make_card(
        files=[{"path": "raw/a.txt", "sha256": _sha(b"converted\n")}], archives=[archive]
    )
    root = tmp_path / "root"
    folder = ensure_files(card, root, "")
    assert (folder / "raw" / "a.txt").read_bytes() == b"original form\n"
    assert ensure_files(card, root, "") == folder  # remembered as coming from that archive
    (folder / "raw" / "a.txt").write_bytes(b"tampered\n")
    with pytest.raises(DataError, match="delete the corrupt file"):
        ensure_files(card, root, "")


def test_gz_archive(tmp_path: Path, http_serve, make_card) -> None:
    served = tmp_path / "served"
    served.mkdir()
    (served / "t.csv.gz").write_bytes(gzip.compress(b"smiles\nCCO\n"))
    archive = {"url": f"{http_serve(served)}/t.csv.gz", "kind": "gz", "target": "raw/t.csv"}
    card = make_card(
        files=[{"path": "raw/t.csv", "sha256": _sha(b"smiles\nCCO\n")}], archives=[archive]
    )
    folder = ensure_files(card, tmp_path / "root", "")
    assert (folder / "raw" / "t.csv").read_bytes() == b"smiles\nCCO\n"


def test_real_card_from_mirror(real_mirror: Path, tmp_path: Path) -> None:
    card = get_card("MUTAG")
    folder = ensure_files(card, tmp_path, str(real_mirror))
    assert sorted(p.name for p in (folder / "raw").iterdir()) == sorted(
        Path(f.path).name for f in card.files
    )
