"""Options and values shared by the ``kdbench`` commands: seed lists and ``--set`` overrides."""

from __future__ import annotations

import argparse
import contextlib
from collections.abc import Sequence
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
            raise KdbenchError(f"--set {key} is given twice, as {out[key]!r} and {parsed!r}; "
                               "keep one")  # fmt: skip
        out[key] = parsed
    return out


def add_set_option(parser: argparse.ArgumentParser, help: str) -> None:
    """``--set KEY=VALUE ...``, repeatable: ``--set a=1 b=2`` and ``--set a=1 --set b=2`` give
    the same list (argparse's ``extend``; a plain ``nargs`` option keeps the last one only)."""
    parser.add_argument("--set", action="extend", nargs="+", default=[], metavar="KEY=VALUE",
                        help=f"{help}; repeatable (--set a=1 b=2 or --set a=1 --set b=2)")
