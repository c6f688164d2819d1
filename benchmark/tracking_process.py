"""The MLflow tracker of :mod:`benchmark.tracking` in a child process (``kdbench fit``).

:class:`TrackerProcess` forks before the command imports torch: the child imports MLflow and
opens the store while the command imports torch and PyG and loads data (about 2 s of imports
moved off the command's path on a machine with a second core), and writes each seed's run
while the next seed trains. The records it has not acknowledged when it stops are spooled by
the command itself (:func:`benchmark.tracking.spool_run`), so no finished result is lost.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from benchmark.errors import KdbenchError
from benchmark.tracking import Tracker, spool_run, to_stderr, tracking_uri

if TYPE_CHECKING:
    from multiprocessing.connection import Connection


#: One request to the tracker of a :class:`TrackerProcess`: ``(method, args, kwargs)``, the
#: method being ``"open"`` (make the :class:`Tracker`) or one of the tracker's own.
Request = tuple[str, tuple[Any, ...], dict[str, Any]]
#: Its reply: ``(ok, value or exception, warning lines)``.
Reply = tuple[bool, Any, list[str]]


class _Serving:
    """Runs the requests of a :class:`TrackerProcess` on one :class:`Tracker` (in the child
    process, or in the command's own where there is no ``fork``)."""

    def __init__(self, uri: str) -> None:
        self.uri = uri
        self.tracker: Tracker | None = None

    def __call__(self, request: Request) -> Reply:
        op, args, kwargs = request
        notes: list[str] = []
        try:
            if op == "open":
                self.tracker = Tracker(*args, uri=self.uri, notify=notes.append, **kwargs)
                return True, self.tracker.experiment_id, notes
            if self.tracker is None:
                raise KdbenchError(f"tracker: '{op}' before 'open'")
            self.tracker.notify = notes.append
            return True, getattr(self.tracker, op)(*args, **kwargs), notes
        except Exception as exc:
            return False, _portable(exc), notes


def _portable(exc: Exception) -> Exception:
    """``exc`` if it survives pickling (to cross the pipe), else a :class:`KdbenchError`
    with its type and message."""
    import pickle

    try:
        pickle.loads(pickle.dumps(exc))
        return exc
    except Exception:
        return KdbenchError(f"{type(exc).__name__}: {exc}")


def _serve(conn: Connection, uri: str) -> None:
    """The child process of :class:`TrackerProcess`: import MLflow at once, then answer the
    requests in order until the command says stop (``None``) or is gone (end of the pipe).
    Ctrl-C is ignored here: it stops the command, which then closes the pipe, and every
    request already sent is still written. The child runs at a lower priority (``os.nice``):
    where the command's torch threads use every core, logging waits for them instead of
    stalling them."""
    import os
    import signal

    signal.signal(signal.SIGINT, signal.SIG_IGN)
    with contextlib.suppress(OSError, AttributeError):
        os.nice(10)
    try:  # a head start only: "open" reports any real problem
        import mlflow.tracking

        if uri.split(":", 1)[0].split("+", 1)[0] in ("sqlite", "postgresql", "mysql", "mssql"):
            import mlflow.store.tracking.sqlalchemy_store  # noqa: F401
    except Exception:
        pass
    serving = _Serving(uri)
    while True:
        try:
            request = conn.recv()
        except EOFError:
            break
        if request is None:
            break
        reply = serving(request)
        with contextlib.suppress(OSError):  # the command is gone: still write what it sent
            conn.send(reply)
    conn.close()


class TrackerProcess:
    """A :class:`Tracker` run by a child process, for a command that trains meanwhile.

    Make it first, before the command imports torch (a ``fork`` is cheap then, and the child
    imports only MLflow): the child imports MLflow while the command imports torch and loads
    data. :meth:`open` names the experiment (after the command has checked its arguments, so
    a typo opens no store); :meth:`start` waits for the child, so a store that cannot be
    opened fails there, before training, as :class:`Tracker` does; :meth:`log`,
    :meth:`finish` and :meth:`record` return at once and the child writes while the next seed
    trains. :meth:`close` (or leaving a ``with`` block) waits until everything is written,
    spools the records the child never acknowledged (it died) with :func:`spool_run`, and
    raises the first error of an :meth:`open`, :meth:`log` or :meth:`finish` that nothing
    waited for. The runs, parameters, metrics and tags written are the same as
    :class:`Tracker`'s, in the same order; the tracker's warnings reach ``notify`` (default
    standard error) in this process. Without ``fork`` (Windows) the same calls run here.
    """

    def __init__(self, uri: str | None = None, notify: Callable[[str], None] | None = None):
        import multiprocessing

        self.uri = uri or tracking_uri()
        self.notify: Callable[[str], None] = notify or to_stderr
        self.experiment = ""
        self.experiment_id = ""
        self._sent: list[Request] = []  # every request, by sequence number
        self._done = 0  # how many replies have come back (replies come in order)
        self._replies: list[Reply] = []  # in-process mode: replies not yet read
        self._errors: list[Exception] = []
        self._closing = False
        self._local: _Serving | None = None
        if "fork" not in multiprocessing.get_all_start_methods():
            self._local = _Serving(self.uri)
            return
        ctx = multiprocessing.get_context("fork")
        self._conn, child = ctx.Pipe()
        self._proc = ctx.Process(target=_serve, args=(child, self.uri), name="kdbench-tracker")
        self._proc.start()
        child.close()

    def __enter__(self) -> TrackerProcess:
        return self

    def __exit__(self, exc_type: Any, *_: Any) -> None:
        self.close(raise_errors=exc_type is None)

    # --- the tracker's calls ---------------------------------------------------------------

    def open(self, experiment: str) -> None:
        """Open the store and the experiment (in the background; see :meth:`start`)."""
        self.experiment = experiment
        self._send(("open", (experiment,), {}))

    def start(self, name: str, tags: dict[str, Any], parent: str | None = None) -> str:
        """:meth:`Tracker.start`, waiting for the run's id (and so for :meth:`open`)."""
        seq = self._send(("start", (name, tags, parent), {}))
        value = self._wait(seq)
        if self._errors:  # the first says why (a failed open makes the start fail too)
            first, self._errors = self._errors[0], []
            raise first
        if self._done <= seq:
            raise KdbenchError(
                f"the MLflow tracking process stopped (exit code {self._proc.exitcode}); "
                "rerun, or pass --no-track"
            )
        return str(value)

    def log(
        self,
        run_id: str,
        params: dict[str, Any] | None = None,
        metrics: dict[str, float | None] | None = None,
        curves: dict[str, list[float]] | None = None,
    ) -> None:
        """:meth:`Tracker.log`, written in the background."""
        self._send(("log", (run_id,), {"params": params, "metrics": metrics, "curves": curves}))

    def finish(self, run_id: str, status: str = "FINISHED") -> None:
        """:meth:`Tracker.finish`, written in the background."""
        self._send(("finish", (run_id, status), {}))

    def record(
        self,
        name: str,
        tags: dict[str, Any],
        parent: str | None = None,
        params: dict[str, Any] | None = None,
        metrics: dict[str, float | None] | None = None,
        curves: dict[str, list[float]] | None = None,
        status: str = "FINISHED",
    ) -> None:
        """:meth:`Tracker.record`, written (or spooled) in the background; nothing is
        returned, since the run's id is not known yet."""
        run = {"name": name, "tags": tags, "parent": parent, "params": params}
        run |= {"metrics": metrics, "curves": curves, "status": status}
        self._send(("record", (), run))

    def close(self, raise_errors: bool = True) -> None:
        """Wait until the child has written everything and stop it; spool what it did not
        acknowledge; then (``raise_errors``) raise the first error nothing waited for."""
        if not self._closing:
            self._closing = True
            if self._local is None and not self._sent:  # nothing to write (a bad argument)
                self._proc.terminate()
            elif self._local is None:
                with contextlib.suppress(OSError, ValueError):
                    self._conn.send(None)
        self._wait(len(self._sent) - 1)
        if self._local is None and not self._conn.closed:
            self._conn.close()
            self._proc.join()
        for op, _, kwargs in self._sent[self._done :]:  # never acknowledged: it died
            self._done += 1
            if op == "record":
                self.notify(
                    spool_run(
                        self.experiment,
                        self.uri,
                        "not reached (the tracking process stopped)",
                        kwargs,
                    )
                )
        if raise_errors and self._errors:
            raise self._errors.pop(0)

    # --- the pipe --------------------------------------------------------------------------

    def _send(self, request: Request) -> int:
        """Send ``request`` (in-process: run it); read the replies already there; returns
        its sequence number."""
        if self._closing:
            raise KdbenchError(f"tracker: '{request[0]}' after close")
        self._sent.append(request)
        if self._local is not None:
            self._replies.append(self._local(request))
        else:
            with contextlib.suppress(OSError, ValueError):  # gone: close() spools it
                self._conn.send(request)
        self._wait(-1)
        return len(self._sent) - 1

    def _wait(self, seq: int) -> Any:
        """Read replies until the one of request ``seq`` (``-1``: only those already there,
        without waiting); returns its value (``None`` if the child stopped first). A failed
        request that nothing waits for (``open``, ``log``, ``finish``) is kept for
        :meth:`start` or :meth:`close` to raise; a failed ``record`` is spooled here."""
        value = None
        while self._done < len(self._sent) and (seq >= self._done or self._ready()):
            try:
                ok, got, notes = (
                    self._replies.pop(0) if self._local is not None else self._conn.recv()
                )
            except (EOFError, OSError):
                break
            op, args, kwargs = self._sent[self._done]
            self._done += 1
            for line in notes:
                self.notify(line)
            if op == "open" and ok:
                self.experiment_id = str(got)
            if not ok and op == "record":
                why = f"refused the run ({str(got).strip()[:200]})"
                self.notify(spool_run(self.experiment, self.uri, why, *args, **kwargs))
            elif not ok:
                self._errors.append(got)
            if self._done - 1 == seq:
                value = got if ok else None
        return value

    def _ready(self) -> bool:
        if self._local is not None:
            return bool(self._replies)
        try:
            return bool(self._conn.poll())
        except (OSError, ValueError, EOFError):
            return False
