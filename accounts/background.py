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
from datetime import datetime

from django.conf import settings
from django.db import close_old_connections, connections, models
from django.db.models import Case, DateTimeField, Value, When
from django.utils import timezone

from accounts import tenancy

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


class LastUsedTimes:
    """ "Last used" times of one table's rows, noted in memory and written as ONE statement per flush.

    `note` keeps the newest time per row (bounded: past `bound` rows waiting, new rows are dropped
    until the next flush; their next use notes them again); the process's writer thread writes them
    as `UPDATE ... SET <column> = CASE <key> WHEN ... END WHERE <key> IN (...)`, in the tenants the
    rows belong to (row-level security), and keeps what it could not write for the next flush. The
    column must be a record, never a right: nothing the decision or the standing reads.
    """

    def __init__(
        self, name: str, model: type[models.Model], *, key: str = "pk", column: str = "last_used_at"
    ) -> None:
        self.model, self.key, self.column = model, key, column
        self.bound = 10_000
        self._pending: dict[int, tuple[int, datetime]] = {}  # row key -> (its tenant, when it was used)
        self._lock = threading.Lock()
        writer(name)(self.flush)

    def note(self, row: int, *, tenant_id: int) -> None:
        """The row was used just now (unless `bound` rows already wait)."""
        with self._lock:
            if len(self._pending) >= self.bound and row not in self._pending:
                return
            self._pending[row] = (tenant_id, timezone.now())
        noted()

    def flush(self) -> int:
        """Write every noted time in one UPDATE; how many rows were noted."""
        with self._lock:
            batch, self._pending = self._pending, {}
        if not batch:
            return 0
        whens = [When(**{self.key: row}, then=Value(when)) for row, (_tenant, when) in sorted(batch.items())]
        try:
            with tenancy.writing_in_tenants({tenant for tenant, _when in batch.values()}):
                self.model._default_manager.filter(**{f"{self.key}__in": sorted(batch)}).update(
                    **{self.column: Case(*whens, output_field=DateTimeField())}
                )
        except Exception:
            with self._lock:
                for row, noted_at in batch.items():
                    self._pending.setdefault(row, noted_at)
            raise
        return len(batch)

    def forget(self) -> None:
        """Forget what this process noted (tests)."""
        with self._lock:
            self._pending.clear()
