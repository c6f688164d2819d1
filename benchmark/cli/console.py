"""The rich console every command prints through (imported when a command runs)."""

from __future__ import annotations

from typing import Any


def console(stderr: bool = False) -> Any:
    """A ``rich`` console on stdout (or stderr), without highlighting, wrapping softly."""
    from rich.console import Console

    return Console(stderr=stderr, highlight=False, soft_wrap=True)


def progress_bar(out: Any, label: str) -> Any:
    """A ``rich`` progress display on ``out`` (a console): ``label`` (a format string over the
    task's fields, e.g. ``"seed {task.fields[seed]}"``), bar, done/total, elapsed; silent
    where ``out`` is not a terminal."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    columns = (TextColumn(label), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    return Progress(*columns, console=out, disable=not out.is_terminal)
