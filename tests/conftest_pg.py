"""A throwaway PostgreSQL server on 127.0.0.1 for the scale-out tests (Debian's binaries;
the tests that need it skip, saying why, where it cannot start). Password authentication is
on, so that a wrong password is a real error."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
from pathlib import Path

import pytest

PASSWORD = "s3cret-Pw"


def _pg_bin() -> Path | None:
    found = sorted(Path("/usr/lib/postgresql").glob("*/bin"), key=lambda p: int(p.parent.name))
    if found:
        return found[-1]
    initdb = shutil.which("initdb")
    return Path(initdb).parent if initdb else None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="session")
def postgres() -> dict[str, str | int]:
    """``{"url": postgresql+psycopg2://postgres:PASSWORD@127.0.0.1:PORT/kdbench, "port",
    "password", "start", "stop"}`` (the last two: commands that start and stop the server);
    the cluster lives for the session, with fsync off (throwaway only)."""
    pytest.importorskip("psycopg2", reason="psycopg2 is not installed (pip install '.[dev]')")
    pg = _pg_bin()
    if pg is None or not (pg / "initdb").exists():
        pytest.skip("PostgreSQL binaries not found (Debian: apt-get install postgresql)")
    root = os.geteuid() == 0
    as_pg = ["runuser", "-u", "postgres", "--"] if root else []
    data = Path(tempfile.mkdtemp(prefix="kdbench-pg-"))
    pwfile = data.parent / f"{data.name}.pw"
    pwfile.write_text(PASSWORD + "\n")
    if root:
        shutil.chown(data, "postgres", "postgres")
        shutil.chown(pwfile, "postgres", "postgres")
    data.chmod(0o700)
    port = _free_port()
    log = data / "server.log"
    start = [
        *as_pg,
        str(pg / "pg_ctl"),
        "-D",
        str(data),
        "-l",
        str(log),
        "-w",
        "-o",
        f"-k {data} -h 127.0.0.1 -p {port} -c fsync=off -c synchronous_commit=off "
        "-c max_connections=200",
        "start",
    ]
    try:
        subprocess.run(
            [
                *as_pg,
                str(pg / "initdb"),
                "-D",
                str(data),
                "-U",
                "postgres",
                "--auth=scram-sha-256",
                f"--pwfile={pwfile}",
                "-E",
                "UTF8",
                "--locale=C.UTF-8",
                "--no-sync",
            ],
            check=True,
            capture_output=True,
        )
        subprocess.run(start, check=True, capture_output=True)
        env = {**os.environ, "PGPASSWORD": PASSWORD}
        subprocess.run(
            [
                "psql",
                "-h",
                "127.0.0.1",
                "-p",
                str(port),
                "-U",
                "postgres",
                "-c",
                "create database kdbench",
            ],
            check=True,
            capture_output=True,
            env=env,
        )
    except (subprocess.CalledProcessError, FileNotFoundError) as exc:
        shutil.rmtree(data, ignore_errors=True)
        pytest.skip(f"cannot start a throwaway PostgreSQL: {exc}")
    url = f"postgresql+psycopg2://postgres:{PASSWORD}@127.0.0.1:{port}/kdbench"
    stop = [*as_pg, str(pg / "pg_ctl"), "-D", str(data), "-m", "fast", "-w", "stop"]
    yield {"url": url, "port": port, "password": PASSWORD, "start": start, "stop": stop}
    subprocess.run(stop, capture_output=True)
    shutil.rmtree(data, ignore_errors=True)
    pwfile.unlink(missing_ok=True)


@pytest.fixture
def pg_database(postgres) -> str:
    """A fresh, empty database on the session's server: its URL."""
    import uuid

    import psycopg2

    name = f"t{uuid.uuid4().hex[:10]}"
    conn = psycopg2.connect(
        host="127.0.0.1",
        port=postgres["port"],
        user="postgres",
        password=postgres["password"],
        dbname="postgres",
    )
    conn.autocommit = True
    with conn.cursor() as cur:
        cur.execute(f"create database {name}")
    conn.close()
    return str(postgres["url"]).rsplit("/", 1)[0] + f"/{name}"
