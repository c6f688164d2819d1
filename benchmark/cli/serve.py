"""``kdbench serve``: an MLflow tracking server for many workers, with safe defaults.

Wraps ``mlflow server``: loopback only unless ``--host`` says otherwise, artifacts served by
the server (``--artifacts``), one web worker, MLflow's job-execution consumers off (they
outlive the server otherwise), and the server in its own process group so that stopping
``kdbench serve`` stops all of it. Workers then log with ``--tracking-uri http://HOST:PORT``.
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import time

from benchmark.errors import KdbenchError


def serve_command(
    backend: str, artifacts: str, host: str, port: int, allowed_hosts: str | None = None
) -> list[str]:
    """The ``mlflow server`` command line."""
    cmd = [
        sys.executable,
        "-m",
        "mlflow",
        "server",
        "--backend-store-uri",
        backend,
        "--artifacts-destination",
        artifacts,
        "--host",
        host,
        "--port",
        str(port),
        "--workers",
        "1",
    ]
    if allowed_hosts:
        cmd += ["--allowed-hosts", allowed_hosts]
    return cmd


def wait_healthy(url: str, proc: subprocess.Popen, timeout: float = 120.0) -> None:
    """Return once ``url``/health answers; raise if the server exits or never answers."""
    import urllib.request

    deadline = time.time() + timeout
    while time.time() < deadline:
        if proc.poll() is not None:
            raise KdbenchError(
                f"the MLflow server exited with code {proc.returncode}; see "
                "its output above (a database it cannot open? a port in "
                "use?)"
            )
        try:
            urllib.request.urlopen(url + "/health", timeout=2)
            return
        except OSError:
            time.sleep(0.5)
    raise KdbenchError(f"the MLflow server did not answer {url}/health within {timeout:.0f} s")


def start_server(
    backend: str,
    artifacts: str,
    host: str = "127.0.0.1",
    port: int = 5000,
    allowed_hosts: str | None = None,
) -> subprocess.Popen:
    """Start the server in its own process group; returns once it is healthy."""
    from benchmark.urls import mask, parse_db_url

    if not backend.startswith(("sqlite:", "postgresql", "mysql", "mssql")):
        raise KdbenchError(
            f"--backend {mask(backend)}: expected a database URL "
            "(postgresql+psycopg2://user:password@host/db or "
            "sqlite:///path)"
        )
    parse_db_url(backend)
    env = {
        **os.environ,
        "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false",
        "MLFLOW_DISABLE_TELEMETRY": "true",
    }
    os.makedirs(artifacts, exist_ok=True)
    proc = subprocess.Popen(
        serve_command(backend, artifacts, host, port, allowed_hosts),
        env=env,
        start_new_session=True,
    )
    try:
        wait_healthy(f"http://{'127.0.0.1' if host in ('0.0.0.0', '::') else host}:{port}", proc)
    except BaseException:
        stop_server(proc)
        raise
    return proc


def stop_server(proc: subprocess.Popen, timeout: float = 15.0) -> None:
    """SIGTERM the server's process group (SIGKILL after ``timeout``)."""
    if proc.poll() is not None:
        return
    try:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
    except ProcessLookupError:
        pass


def cmd_serve(args: argparse.Namespace) -> int:
    from benchmark.tracking import runs_dir
    from benchmark.urls import mask

    backend = args.backend or f"sqlite:///{runs_dir() / 'mlflow.db'}"
    artifacts = args.artifacts or str(runs_dir() / "mlartifacts")
    runs_dir().mkdir(parents=True, exist_ok=True)
    proc = start_server(backend, artifacts, args.host, args.port, args.allowed_hosts)
    url = f"http://{args.host}:{args.port}"
    print(
        f"MLflow tracking server on {url} (store {mask(backend)}, artifacts {artifacts}); "
        f"workers: --tracking-uri {url}; Ctrl-C stops it",
        flush=True,
    )
    if args.host not in ("127.0.0.1", "localhost", "::1"):
        print(
            "note: the server has no authentication; expose it only on a trusted network "
            "(and set --allowed-hosts to the names clients use)",
            flush=True,
        )
    signal.signal(signal.SIGTERM, lambda *_: stop_server(proc))
    try:
        return proc.wait()
    except KeyboardInterrupt:
        stop_server(proc)
        return 0


def add_parsers(sub: argparse._SubParsersAction) -> None:
    """Add ``serve`` to the ``kdbench`` sub-commands."""
    p = sub.add_parser("serve", help="run an MLflow tracking server for many workers")
    p.add_argument(
        "--backend",
        default=None,
        help="database of the runs, e.g. postgresql+psycopg2://user@db/kdbench "
        "(default: runs/mlflow.db)",
    )
    p.add_argument("--artifacts", default=None, help="artifact folder (default runs/mlartifacts)")
    p.add_argument("--host", default="127.0.0.1", help="address to bind (default loopback)")
    p.add_argument("--port", type=int, default=5000)
    p.add_argument(
        "--allowed-hosts",
        default=None,
        help="host names clients may use (MLflow's host-header check), e.g. 'db.lab,10.0.0.5:5000'",
    )
    p.set_defaults(func=cmd_serve)
