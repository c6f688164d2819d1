"""``kdbench``: the command line, one module per command group.

``catalogue`` (``datasets``, ``methods``), ``fit``, ``grid`` (``run``, ``worker``, ``tune``,
``status``, ``export``), ``pretrain``, ``serve``, ``slurm``, ``verify`` (and ``status
--record``), ``tables`` and ``app`` (``leaderboard``);
the options they share are declared once in :mod:`benchmark.cli.options`. Building the parser
imports none of torch, PyG, Optuna, MLflow or Streamlit: each command imports what it needs
when it runs, so ``kdbench --help`` starts at once. Any
:class:`~benchmark.errors.KdbenchError` is printed as one ``error:`` line with exit status 2.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence

from benchmark.errors import KdbenchError

__all__ = ["build_parser", "main"]


def build_parser() -> argparse.ArgumentParser:
    """The ``kdbench`` parser with every sub-command (light: no heavy imports)."""
    from benchmark.cli import app, catalogue, fit, grid, pretrain, serve, slurm, tables, verify

    parser = argparse.ArgumentParser(
        prog="kdbench",
        description="Benchmark of knowledge distillation for graph neural networks.",
    )
    sub = parser.add_subparsers(dest="command", required=True)
    for group in (catalogue, fit, grid, pretrain, serve, slurm, verify, tables, app):
        group.add_parsers(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Parse ``argv`` (default ``sys.argv[1:]``), set up the process and run the command;
    returns the exit status."""
    import logging

    from benchmark.cli.options import apply_process_options

    os.environ.setdefault("MLFLOW_SUPPRESS_PRINTING_URL_TO_STDOUT", "true")
    logging.getLogger("mlflow").setLevel(logging.WARNING)
    logging.getLogger("alembic").setLevel(logging.WARNING)
    args = build_parser().parse_args(argv)
    try:
        apply_process_options(args)
        return args.func(args)
    except KdbenchError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted: finished seeds are logged; rerun to train the rest", file=sys.stderr)
        return 130
