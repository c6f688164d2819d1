"""``kdbench leaderboard``: serve the Streamlit leaderboard (``leaderboard/app.py``)."""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
from pathlib import Path

from benchmark.cli.options import add_tracking_option
from benchmark.errors import KdbenchError

APP = Path(__file__).resolve().parents[2] / "leaderboard" / "app.py"


def streamlit_command(tracking_uri: str, host: str, port: int) -> list[str]:
    """The ``python -m streamlit run`` command line serving the app on ``host:port``."""
    return [
        sys.executable,
        "-m",
        "streamlit",
        "run",
        str(APP),
        "--server.headless",
        "true",
        "--server.address",
        host,
        "--server.port",
        str(port),
        "--browser.gatherUsageStats",
        "false",
        "--",
        "--tracking-uri",
        tracking_uri,
    ]


def server_env(tracking_uri: str) -> dict[str, str]:
    """The server's environment: with an embedded SQLite store and no ``$KDBENCH_RUNS``, the
    runs folder is the store's folder (where the runner keeps the sweeps' Optuna journals)."""
    from benchmark.tracking import runs_root

    env = dict(os.environ)
    if tracking_uri.startswith("sqlite:///") and "KDBENCH_RUNS" not in env:
        env["KDBENCH_RUNS"] = str(runs_root(tracking_uri))
    return env


def cmd_leaderboard(args: argparse.Namespace) -> int:
    from benchmark.tracking import tracking_uri

    try:
        import streamlit  # noqa: F401
    except ImportError:
        raise KdbenchError(
            "the leaderboard needs Streamlit and Plotly: pip install 'kdbench[app]'"
        ) from None
    from benchmark.urls import mask

    uri = args.tracking_uri or tracking_uri()
    cmd = streamlit_command(uri, args.host, args.port)
    print(
        f"kdbench leaderboard on http://{args.host}:{args.port} (store: {mask(uri)}); "
        "Ctrl-C stops it",
        flush=True,
    )
    proc = subprocess.Popen(cmd, env=server_env(uri))
    signal.signal(signal.SIGTERM, lambda *_: proc.terminate())  # stop the server with us
    try:
        return proc.wait()
    except KeyboardInterrupt:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
        return 0


def add_parsers(sub: argparse._SubParsersAction) -> None:
    """Add ``leaderboard`` to the ``kdbench`` sub-commands."""
    p = sub.add_parser("leaderboard", help="serve the Streamlit leaderboard and print its URL")
    add_tracking_option(p)
    p.add_argument("--port", type=int, default=8501)
    p.add_argument("--host", default="127.0.0.1", help="address to bind (0.0.0.0 to share it)")
    p.set_defaults(func=cmd_leaderboard)
