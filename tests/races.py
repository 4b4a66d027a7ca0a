"""Two transactions at once on PostgreSQL, where the second must wait for a lock the first holds.

`pg_blocking_pids` says for whom a session waits, so a test can prove the wait happened rather
than hope a sleep was long enough (tests/scopes/oauth, tests/accounts/audit_stream).
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

from django.db import connection, transaction


def blocked_by(backend: int) -> int:
    """How many sessions wait for a lock that the session `backend` holds."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE %s = ANY(pg_blocking_pids(pid))", [backend]
        )
        return int(cursor.fetchone()[0])


def wait_until_blocked_by(backend: int, thread: threading.Thread, seen: object) -> None:
    """Return once some session waits for `backend`'s lock; fail (showing `seen`) after 20 s."""
    for _ in range(400):
        if blocked_by(backend):
            return
        thread.join(timeout=0.05)
    raise AssertionError(f"the second transaction did not wait for the first's lock: {seen}")


def race(
    hold: Callable[[], Any], then: Callable[[Any], Any], waiting: Callable[[], Any]
) -> list[BaseException]:
    """`hold()` in a transaction that then pauses; `waiting()` in another, which must wait for a
    lock the first holds (and not finish meanwhile); then the first goes on with `then(held)`,
    commits, and both finish. Returns the errors either raised (a deadlock is an OperationalError
    in one of them)."""
    holding = threading.Event()
    release = threading.Event()
    backend: list[int] = []
    errors: list[BaseException] = []
    finished: list[bool] = []

    def first() -> None:
        try:
            with transaction.atomic():
                backend.append(connection.connection.info.backend_pid)
                held = hold()
                holding.set()
                assert release.wait(timeout=30)
                then(held)
        except BaseException as error:  # reported to the test, not lost in the thread
            errors.append(error)
            holding.set()
        finally:
            connection.close()

    def second() -> None:
        try:
            with transaction.atomic():
                waiting()
            finished.append(True)
        except BaseException as error:
            errors.append(error)
        finally:
            connection.close()

    one = threading.Thread(target=first)
    one.start()
    assert holding.wait(timeout=30) and not errors, errors
    two = threading.Thread(target=second)
    two.start()
    try:
        wait_until_blocked_by(backend[0], two, errors)
        assert not finished, "the second transaction finished while the first held its lock"
    finally:
        release.set()
        one.join(timeout=30)
        two.join(timeout=30)
    return errors
