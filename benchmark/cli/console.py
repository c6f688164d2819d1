"""The rich console every command prints through (imported when a command runs)."""

from __future__ import annotations

from typing import Any


def console(stderr: bool = False) -> Any:
    """A ``rich`` console on stdout (or stderr), without highlighting, wrapping softly."""
    from rich.console import Console

    return Console(stderr=stderr, highlight=False, soft_wrap=True)
