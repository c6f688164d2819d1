"""Fixtures for the data tests (catalogue, fetch, loaders); enabled per module with
``pytest_plugins = ["tests.conftest_data"]``.

``real_mirror`` is the shared offline mirror ($KDBENCH_MIRROR, else ``../shared/datasets``
beside the checkout); tests that need it skip with the reason when it is absent.
``session_data_root`` is one writable data root per test session, so each real dataset is
processed once however many tests load it.
"""

from __future__ import annotations

import functools
import http.server
import os
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

REPO = Path(__file__).resolve().parents[1]


def mirror_path() -> Path:
    env = os.environ.get("KDBENCH_MIRROR")
    return Path(env) if env else REPO.parent / "shared" / "datasets"


@pytest.fixture(scope="session")
def real_mirror() -> Path:
    path = mirror_path()
    if not path.is_dir():
        pytest.skip(
            f"no dataset mirror at {path} (set KDBENCH_MIRROR to the shared/datasets folder)"
        )
    return path


@pytest.fixture(scope="session")
def session_data_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("kdbench-data")


@pytest.fixture
def load_real(real_mirror: Path, session_data_root: Path) -> Callable[..., Any]:
    """``load_real("MUTAG")``: the real dataset, fetched from the mirror into the session root."""
    from benchmark.data.loaders import load_dataset

    return functools.partial(load_dataset, data_root=session_data_root, mirror=str(real_mirror))


@pytest.fixture
def http_serve() -> Iterator[Callable[[Path], str]]:
    """``http_serve(folder)`` serves ``folder`` on 127.0.0.1 and returns its URL prefix."""
    servers: list[http.server.ThreadingHTTPServer] = []

    class Quiet(http.server.SimpleHTTPRequestHandler):
        def log_message(self, *args: Any) -> None:
            pass

    def serve(folder: Path) -> str:
        handler = functools.partial(Quiet, directory=str(folder))
        server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        servers.append(server)
        return f"http://127.0.0.1:{server.server_address[1]}"

    yield serve
    for server in servers:
        server.shutdown()
        server.server_close()


@pytest.fixture
def card_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Callable[..., Path]:
    """``write_card(name=..., **fields)`` writes a card into a fresh KDBENCH_CARDS folder."""
    folder = tmp_path / "cards"
    folder.mkdir()
    monkeypatch.setenv("KDBENCH_CARDS", str(folder))

    def write_card(file: str | None = None, **fields: Any) -> Path:
        path = folder / (file or f"{fields['name'].lower()}.yaml")
        path.write_text(yaml.safe_dump(fields, sort_keys=False))
        return path

    return write_card


@pytest.fixture
def card_fields() -> Callable[..., dict[str, Any]]:
    """``card_fields(**over)``: the fields of a small valid card, ``over`` replacing some."""
    return toy_card_fields


@pytest.fixture
def make_card() -> Callable[..., Any]:
    """``make_card(**over)``: a validated :class:`DatasetCard` built from ``toy_card_fields``."""
    from benchmark.data.card import DatasetCard

    return lambda **over: DatasetCard.model_validate(toy_card_fields(**over))


def toy_card_fields(**over: Any) -> dict[str, Any]:
    """The fields of a small valid card (a graph task); ``over`` replaces any of them."""
    fields: dict[str, Any] = {
        "name": "Toy",
        "task": "graph",
        "family": "graph",
        "description": "a toy card",
        "loader": "tudataset",
        "path": "Toy",
        "files": [{"path": "raw/a.txt", "sha256": None}],
        "target": "multiclass",
        "metric": "accuracy",
        "protocol": "tu_10fold",
        "reference": "none",
        "mirrored": False,
    }
    fields.update(over)
    return fields
