"""Store URLs for users: passwords masked wherever a URL is shown, and database errors
turned into one line that names the problem and the fix.

``mask`` hides the password of a SQLAlchemy URL (``dialect+driver://user:password@host/db``)
or an http(s) URL with credentials; ``store_error`` classifies what SQLAlchemy/psycopg2 raise
(malformed URL, missing driver, unreachable server, wrong password, missing database).
"""

from __future__ import annotations

import re

from benchmark.errors import KdbenchError

#: ``//user:password@`` wherever it appears (also in a malformed URL missing its ``:``).
_CREDENTIALS = re.compile(r"(?P<pre>//)(?P<user>[^:@/\s]*):(?P<pw>[^@\s]*)@")


def password(url: str) -> str | None:
    """The password in ``url``, if it carries one."""
    m = _CREDENTIALS.search(url)
    return m.group("pw") if m and m.group("pw") else None


def mask(url: str) -> str:
    """``url`` with its password replaced by ``***`` (unchanged without one)."""
    return _CREDENTIALS.sub(lambda m: f"{m['pre']}{m['user']}:***@", url)


def scrub(text: str, url: str) -> str:
    """``text`` (an error message) with ``url``'s password, wherever it appears, masked."""
    pw = password(url)
    return text.replace(pw, "***") if pw else text


def parse_db_url(url: str):  # -> sqlalchemy.engine.URL
    """The SQLAlchemy URL object; a malformed URL raises one line, password masked."""
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError

    try:
        return make_url(url)
    except (ArgumentError, ValueError):
        raise KdbenchError(
            f"malformed storage URL {mask(url)}: expected dialect+driver://user:password@host:"
            "port/database (e.g. postgresql+psycopg2://kdbench@db:5432/kdbench) or "
            "journal:<path>"
        ) from None


def store_error(url: str, exc: BaseException, what: str = "Optuna storage") -> KdbenchError:
    """One line for a failure to open the database at ``url`` (password masked)."""
    masked = mask(url)
    text = scrub(str(exc), url)
    first = text.strip().splitlines()[0] if text.strip() else type(exc).__name__
    try:
        u = parse_db_url(url)
        where = f"{u.host or 'localhost'}:{u.port or 'default port'}"
        db = u.database
    except KdbenchError:
        where, db = "?", None
    low = text.lower()
    if (
        isinstance(exc, ModuleNotFoundError)
        or "no module named" in low
        or ("can't load plugin" in low)
    ):
        return KdbenchError(
            f"the database driver for {masked} is not installed: "
            "pip install 'kdbench[scale]' (psycopg2-binary)"
        )
    if "password authentication failed" in low or "no password supplied" in low:
        return KdbenchError(f"wrong user or password for {masked}: fix the URL (or PGPASSWORD)")
    if "does not exist" in low and "database" in low:
        return KdbenchError(
            f"database '{db}' does not exist on {where} ({masked}): create it "
            f"(createdb -h HOST -p PORT -U USER {db})"
        )
    if any(
        s in low
        for s in (
            "connection refused",
            "could not connect",
            "timeout expired",
            "could not translate host name",
            "name or service not known",
            "server closed the connection",
        )
    ):
        return KdbenchError(
            f"cannot reach the database server at {where} ({masked}): start "
            "it, or check the host and port"
        )
    return KdbenchError(f"cannot open {what} {masked}: {first}")
