"""User-facing errors: each says what was wrong, what was expected and how to fix it.

The CLI prints ``error: <message>`` on one line and exits with status 2 for any
:class:`KdbenchError`; everything else is a bug and keeps its traceback.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable


class KdbenchError(Exception):
    """An error caused by the user's input or environment, with the fix in its message."""


class UnknownNameError(KdbenchError, KeyError):
    """A name (method, dataset, backbone, protocol, ...) that is not registered."""

    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0])


class DataError(KdbenchError):
    """A dataset file that is missing, corrupt or unreachable."""


def unknown_name(kind: str, name: str, known: Iterable[str], hint: str = "") -> UnknownNameError:
    """Build the error for an unknown ``name`` of ``kind``, with a did-you-mean and the list."""
    known = sorted(known)
    close = difflib.get_close_matches(name, known, n=1, cutoff=0.5)
    if not close:  # case-insensitive match, e.g. 'cora' -> 'Cora'
        close = [k for k in known if k.lower() == name.lower()]
    mean = f" Did you mean '{close[0]}'?" if close else ""
    tail = f" {hint}" if hint else ""
    return UnknownNameError(
        f"unknown {kind} '{name}'.{mean} Known: {', '.join(known) or '(none)'}.{tail}"
    )
