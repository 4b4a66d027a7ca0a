"""Statements a database connection plans once: protocol-level prepared statements (PostgreSQL).

The authorization path's queries (the API's probe, a token's or a grant's rows) and the writes
every revocation and audited change makes (`accounts.audit_stream.outbox.record`,
`scopes.consent.services.tokens_revoke`) are planned far more expensively than they run: their
sub-selects, data-modifying `WITH` parts and the row-level security policies of each table they
touch. On the bench's database the revocation's one statement planned in 0.6 to 0.9 ms and ran
in 0.2 to 0.3 ms (EXPLAIN ANALYZE); the grant's query planned in about 3 ms (docs/performance.md).

Each is sent as a protocol-level prepared statement (psycopg's `prepare=True`, server-side
parameters), which keeps its plan for the connection's life: PostgreSQL plans the first five
executions with their values, then settles on a generic plan when it is no dearer (the bench's
showed thousands of generic executions to five custom ones), and plans again by itself when a
table it reads changes shape or the role changes (row-level security depends on the role), so
the plan is never stale. It pays with persistent connections (`DB_CONN_MAX_AGE`, production
600); with a connection per request each statement is prepared anew. Protocol-level statements
work through PgBouncer 1.21+ in transaction mode (`max_prepared_statements`); Django's own
statements stay unprepared, as Django leaves them. Elsewhere (SQLite) these are plain statements.

psycopg prepares one statement per query text *and* parameter types, and types a Python int by
its size (int2, int4, int8): pass ids as `psycopg.types.numeric.Int8` (or `CAST` them in the
text and pass a typed value) so that one statement serves every id.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import partial
from typing import Any

from django.core.exceptions import ImproperlyConfigured
from django.db import connection

try:  # psycopg 3's cursor with server-side parameters, as Django names it
    from django.db.backends.postgresql.base import ServerBindingCursor  # type: ignore[attr-defined]
except (ImportError, ImproperlyConfigured):  # no PostgreSQL driver: only SQLite, never reached
    ServerBindingCursor = None


def prepared_row(sql: str, params: list[Any]) -> Sequence[Any] | None:
    """One row of `sql` (None: none), as a statement this connection plans once.

    Also the API's probe (`scopes.access.cache`), sent on every request: prepared, PostgreSQL
    neither parses nor plans it again, which on the bench's database saved about 50 us of
    database CPU per request against the same statement sent as text."""
    if connection.vendor != "postgresql":
        with connection.cursor() as cursor:
            cursor.execute(sql, params)
            return cursor.fetchone()
    connection.ensure_connection()
    with connection.wrap_database_errors, ServerBindingCursor(connection.connection) as cursor:
        _execute_prepared(cursor, sql, params)
        return cursor.fetchone()


def prepared_execute(sql: str, params: list[Any]) -> int:
    """Run `sql`, a statement that returns no rows, as one this connection plans once; its row count."""
    if connection.vendor != "postgresql":
        with connection.cursor() as cursor:
            cursor.execute(sql, params)
            return int(cursor.rowcount)
    connection.ensure_connection()
    with connection.wrap_database_errors, ServerBindingCursor(connection.connection) as cursor:
        _execute_prepared(cursor, sql, params)
        return int(cursor.rowcount)


def _execute_prepared(cursor: Any, sql: str, params: list[Any]) -> None:
    """Run `sql` prepared on a psycopg cursor, seen as Django's own statements are: through the
    connection's execute wrappers (whatever counts or times statements counts these too: the
    bench's report, any instrumentation) and logged when queries are (query-count tests).

    A wrapper gets psycopg's cursor as `context["cursor"]`, not Django's wrapper of it."""

    def run(sql: str, params: Any, _many: bool, _context: Any) -> None:
        if connection.queries_logged:
            with connection.make_debug_cursor(cursor).debug_sql(sql, params):
                cursor.execute(sql, params, prepare=True)
        else:
            cursor.execute(sql, params, prepare=True)

    executor: Any = run
    for wrapper in reversed(connection.execute_wrappers):  # as Django's CursorWrapper applies them
        executor = partial(wrapper, executor)
    executor(sql, params, False, {"connection": connection, "cursor": cursor})
