"""Bookkeeping kept in the process and written off the request path, in batches.

Some writes are records of what happened, not rights: the day a scope was last used
(`scopes.usage.recorder`), when a personal access token was last used (`scopes.machines.usage`).
Writing them inside the request would put an INSERT or UPDATE on the path of every cold request;
instead each process notes them in memory and a daemon thread of that process writes what was
noted every `BOOKKEEPING_FLUSH_SECONDS` (default 5), each kind as one multi-row statement in one
transaction. The process also writes what is left when it exits: gunicorn's `worker_exit` hook
(gunicorn.conf.py) and, for any other process, `atexit`.

What a crash can lose (docs/performance.md): the counts noted since the last flush, at most a few
seconds of "last used" times, never a right: nothing here is read by the decision or the
standing, and no cached authorization depends on it (the columns are not versioned).

`BOOKKEEPING_FLUSH_SECONDS=0` starts no thread and registers nothing at exit: notes are written
only when `flush()` is called (the test suite, which asks for them where it checks them) or by
gunicorn's `worker_exit`.
"""

from __future__ import annotations

import atexit
import logging
import os
import threading
from collections.abc import Callable

from django.conf import settings
from django.db import close_old_connections, connections

logger = logging.getLogger(__name__)

DEFAULT_INTERVAL = 5.0

# Each writer: writes what its module noted since the last call, returns how many rows it wrote.
Writer = Callable[[], int]

_writers: dict[str, Writer] = {}
_lock = threading.Lock()
_started_in: int | None = None  # the process whose thread runs (a forked worker starts its own)
_stop = threading.Event()


def interval() -> float:
    return float(getattr(settings, "BOOKKEEPING_FLUSH_SECONDS", DEFAULT_INTERVAL))


def writer(name: str) -> Callable[[Writer], Writer]:
    """Declare a module's batch writer (at import: the modules that note bookkeeping)."""

    def declare(write: Writer) -> Writer:
        _writers[name] = write
        return write

    return declare


def noted() -> None:
    """Something was noted: make sure this process's writer thread runs (once per process)."""
    global _started_in
    if _started_in == os.getpid() or interval() <= 0:
        return
    with _lock:
        if _started_in == os.getpid():
            return
        first = _started_in is None
        _started_in = os.getpid()
        thread = threading.Thread(target=_run, name="bookkeeping-writer", daemon=True)
        thread.start()
        if first:  # a forked worker inherits the registration
            atexit.register(at_exit)


def flush() -> int:
    """Write everything noted so far, now, on this thread's connection; rows written.

    A writer that fails keeps what it could not write for the next flush (up to its bound) and
    is logged; the others still write.
    """
    written = 0
    for name, write in list(_writers.items()):
        try:
            written += write()
        except Exception:
            logger.exception("bookkeeping: the %s batch was not written; it is kept for the next flush", name)
    return written


def _run() -> None:
    while not _stop.wait(interval()):
        try:
            flush()
        finally:
            # The thread's own connection, kept or closed as CONN_MAX_AGE says (and after a failure).
            close_old_connections()


def at_exit() -> None:
    """The process is ending: write what is left, then close this thread's connection."""
    try:
        flush()
    finally:
        connections.close_all()
