"""Options and values shared by the ``kdbench`` commands, each declared once here: data
location (``--data-root``, ``--mirror``), ``--device``, ``--threads``, ``--tracking-uri``,
``--seeds`` and ``--set``; :func:`apply_process_options` acts on the process-wide ones once,
before a command runs. Light on purpose: building the parser imports no torch."""

from __future__ import annotations

import argparse
import contextlib
import gc
import os
from collections.abc import Iterator, Sequence
from typing import Any

from benchmark.errors import KdbenchError


def parse_seeds(spec: str) -> list[int]:
    """``"0-9"`` → 0..9, ``"0,3,5"`` → [0, 3, 5], ``"4"`` → [4]."""
    seeds: list[int] = []
    try:
        for part in spec.split(","):
            if "-" in part.strip()[1:]:
                lo, hi = part.split("-", 1)
                seeds += list(range(int(lo), int(hi) + 1))
            else:
                seeds.append(int(part))
    except ValueError:
        raise KdbenchError(f"bad --seeds '{spec}'; use e.g. 0-9 or 0,3,5") from None
    if not seeds or len(set(seeds)) != len(seeds) or min(seeds) < 0:
        raise KdbenchError(f"bad --seeds '{spec}'; give distinct non-negative seeds, e.g. 0-9")
    return seeds


def parse_overrides(items: Sequence[str] | None) -> dict[str, Any]:
    """``["hidden=64", "lr=0.01"]`` → ``{"hidden": 64, "lr": 0.01}`` (values read as YAML).
    A key given twice with the same value is kept once; with two values it is an error."""
    import yaml

    out: dict[str, Any] = {}
    for item in items or []:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise KdbenchError(f"bad --set '{item}'; use key=value, e.g. --set hidden=64 lr=0.01")
        try:
            parsed = yaml.safe_load(value)
        except yaml.YAMLError:
            raise KdbenchError(f"bad value in --set '{item}'") from None
        if isinstance(parsed, str):  # YAML 1.1 reads 1e-3 as a string
            with contextlib.suppress(ValueError):
                parsed = float(parsed)
        key = key.strip()
        if key in out and out[key] != parsed:
            raise KdbenchError(
                f"--set {key} is given twice, as {out[key]!r} and {parsed!r}; keep one"
            )
        out[key] = parsed
    return out


def add_set_option(parser: argparse.ArgumentParser, help: str) -> None:
    """``--set KEY=VALUE ...``, repeatable: ``--set a=1 b=2`` and ``--set a=1 --set b=2`` give
    the same list (argparse's ``extend``; a plain ``nargs`` option keeps the last one only)."""
    parser.add_argument(
        "--set",
        action="extend",
        nargs="+",
        default=[],
        metavar="KEY=VALUE",
        help=f"{help}; repeatable (--set a=1 b=2 or --set a=1 --set b=2)",
    )


def add_seeds_option(parser: argparse.ArgumentParser, default: str = "0-9") -> None:
    """``--seeds``: a list of seeds, read with :func:`parse_seeds`."""
    parser.add_argument("--seeds", default=default, help=f"e.g. 0-9 or 0,3,5 (default {default})")


def add_data_options(parser: argparse.ArgumentParser) -> None:
    """``--data-root`` and ``--mirror``: where datasets live and where missing files come
    from."""
    parser.add_argument(
        "--data-root",
        default=None,
        help="where datasets are stored and processed (default $KDBENCH_DATA or "
        "~/.cache/kdbench/data)",
    )
    parser.add_argument(
        "--mirror",
        default=None,
        help="folder or URL laid out like the official servers (default $KDBENCH_MIRROR)",
    )


def add_device_option(parser: argparse.ArgumentParser) -> None:
    """``--device``: ``auto``, ``cpu`` or ``cuda:N``."""
    parser.add_argument("--device", default="auto", help="auto, cpu or cuda:N (default auto)")


def add_threads_option(parser: argparse.ArgumentParser) -> None:
    """``--threads``: torch's intra-op CPU threads for this process (0: torch's default)."""
    parser.add_argument(
        "--threads",
        type=int,
        default=0,
        help="torch CPU threads of this process (default: torch's choice)",
    )


def add_tracking_option(parser: argparse.ArgumentParser) -> None:
    """``--tracking-uri``: the MLflow store this command (and the workers it starts) uses."""
    parser.add_argument(
        "--tracking-uri",
        default=None,
        help="MLflow tracking URI, e.g. http://HOST:5000 from `kdbench serve` "
        "(default: $MLFLOW_TRACKING_URI or runs/mlflow.db)",
    )


def positive_int(text: str) -> int:
    """An argparse type: an integer ≥ 1."""
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a whole number ≥ 1, got '{text}'")
    return value


def add_record_option(parser: argparse.ArgumentParser, help: str, alone: bool = True) -> None:
    """``--record [DIR]``: the record folder (default ``docs/results/record`` of this
    checkout); ``alone``: the flag may come without a folder (then ``""``: the default)."""
    extra: dict[str, Any] = {"nargs": "?", "const": ""} if alone else {}
    parser.add_argument("--record", default=None, metavar="DIR", help=help, **extra)


def add_training_options(parser: argparse.ArgumentParser) -> None:
    """What every training command takes: ``--device``, ``--threads``, ``--tracking-uri``
    and ``--no-track``."""
    add_device_option(parser)
    add_threads_option(parser)
    add_tracking_option(parser)
    parser.add_argument("--no-track", action="store_true", help="do not log to MLflow")


@contextlib.contextmanager
def frozen_imports() -> Iterator[None]:
    """Import torch, PyG and the training code inside this block: the garbage collector is
    off while they load, and the ~350 000 objects they create, which live as long as the
    process, are then frozen (:func:`gc.freeze`: never scanned again). Otherwise the
    collector's full passes over them cost about 0.4 s during the imports and as much again
    at the exit of a command (``bench/perf_fit.py``). A later block in the same process (a
    test calling commands again) first collects what is not frozen yet, so that no garbage
    is frozen with the modules."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if gc.get_freeze_count():
            gc.collect()
        gc.freeze()
        if enabled:
            gc.enable()


def apply_process_options(args: argparse.Namespace) -> None:
    """Act once on the options that set up the process: ``--tracking-uri`` becomes
    ``$MLFLOW_TRACKING_URI`` (so the workers a command starts log there too) and ``--threads``
    sets torch's intra-op threads (torch is imported only then: a profile of a command run
    with ``--threads`` shows torch's whole import, about a second, under this function; it
    is the command's import of torch, moved here, not extra work)."""
    uri = getattr(args, "tracking_uri", None)
    if uri:
        os.environ["MLFLOW_TRACKING_URI"] = uri
    threads = getattr(args, "threads", 0)
    if threads:
        with frozen_imports():
            import torch

        torch.set_num_threads(threads)
