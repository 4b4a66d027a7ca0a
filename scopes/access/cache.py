"""The API's authorization contexts, cached in each process and checked against the database.

Every API request runs the probe (`scopes.access.freshness.PROBE_SQL`): one statement that, on
PostgreSQL, also enters the token's tenant for row-level security, which the request had to do
anyway. It returns the token's *fingerprint*, the versions of every row its context is built
from (token, user, tenant, membership, role with its grants, consent with its scopes, app with
its allowed scopes, the tenant's app policy and the app's status and cap there, and the
registry epoch). The context cached for the token is used only when
its fingerprint is the probe's; otherwise it is read again (`scopes.access.rows.token_rows`, one
query) and stored under the versions that query read with its rows (`fingerprint_of`). Why that can
never serve a revoked right is said once, in `scopes.access.freshness`.

So a warm request costs the probe statement and nothing else: no Redis, no signal, no shared
state between processes. A token this process has not seen costs the same one statement when the
process holds its grant (the rows every token of one user, tenant and app is judged on): the
first-use probe (`scopes.access.freshness.FIRST_USE_SQL`) returns the fingerprint and the token's
own columns, and the grant's rows are used only when the fingerprint's grant part is theirs; a
grant new to the process costs one statement more, which reads it (`scopes.access.rows.grant_rows`).
Beside a grant's rows the process keeps what its tokens share (`scopes.access.standing.GrantJudgements`:
the user and tenant as plain values, the standing for each set of scopes and album limit), so a new
token of a held grant is judged without running the rule again; it goes when the rows go.
The token endpoint's client-credentials grant reads its service account's grant from the same kept
rows (`locked_source_grant`): one statement, the grant probe, when they are fresh.

Each process keeps at most `AUTHORIZATION_CACHE_ENTRIES` contexts and as many grants (least
recently used go first; at the default, 10,000, at most about 19 MB of contexts and 23 MB of
grants: 1.9 KB a context and 2.3 KB a grant with its judgements, 0.6 KB of that, measured with
tracemalloc on the bench's data after 6,000 cold requests, 8 December 2026).
`AUTHORIZATION_CACHE_ENTRIES=0` turns both off: every request then sends the first-use probe and
reads its grant.

An entry is shared by every request of its token, so it holds plain values only (ids, names,
flags: `scopes.access.standing.UserValues`, `TenantValues`), never a model instance; the API
builds each request's user and tenant from them, without a query. A grant's rows do hold the user
and tenant as read, but they never leave this module: `context_from` only reads them, and the
client-credentials grant gets a copy with instances of its own (`scopes.access.rows.own_copy`).
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Hashable
from dataclasses import replace
from typing import Any, Generic, TypeVar

from django.conf import settings
from django.db import connection

from accounts import tenancy
from accounts.prepared import prepared_row
from scopes.access.freshness import FIRST_USE_FUNCTION, FIRST_USE_SQL, PROBE_FUNCTION, PROBE_SQL, PROBE_WIDTH
from scopes.access.rows import (
    GrantRows,
    TokenRows,
    grant_key,
    grant_probe_sql,
    grant_rows,
    locks_consent,
    own_copy,
    probed_grant,
    source_grant_rows,
    token_on_grant,
    token_rows,
)
from scopes.access.scope_registry import epoch_read
from scopes.access.selectors import registry_at
from scopes.access.standing import AuthorizationContext, GrantJudgements, context_from
from scopes.access.tenancy import token_checksum

DEFAULT_ENTRIES = 10_000

Fingerprint = tuple[Any, ...]
K = TypeVar("K", bound=Hashable)
V = TypeVar("V")


class _Fresh(Generic[K, V]):
    """A bounded least-recently-used map: key -> (fingerprint, value), a value given out only under
    its own fingerprint."""

    def __init__(self) -> None:
        self._entries: OrderedDict[K, tuple[Fingerprint, V]] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: K, fingerprint: Fingerprint) -> V | None:
        with self._lock:
            found = self._entries.get(key)
            if found is None or found[0] != fingerprint:
                return None
            self._entries.move_to_end(key)
            return found[1]

    def put(self, key: K, fingerprint: Fingerprint, value: V) -> None:
        limit = int(getattr(settings, "AUTHORIZATION_CACHE_ENTRIES", DEFAULT_ENTRIES))
        with self._lock:
            self._entries[key] = (fingerprint, value)
            self._entries.move_to_end(key)
            while len(self._entries) > limit:
                self._entries.popitem(last=False)

    def holds(self, key: K) -> bool:
        """Is there an entry for this key (of any fingerprint)? No lock: a hint, not an answer."""
        return key in self._entries

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()

    def __len__(self) -> int:
        return len(self._entries)


# Token checksum -> its context, under the token's fingerprint.
contexts: _Fresh[str, AuthorizationContext] = _Fresh()
# (user id, tenant id, app id) -> the grant's rows, with what its tokens share (`GrantJudgements`),
# under the fingerprint's grant part (`grant_print`).
grants: _Fresh[tuple[Any, Any, Any], GrantJudgements] = _Fresh()


def enabled() -> bool:
    """Entries have no expiry time: the probe proves them fresh on every request. Only their number is bounded."""
    return int(getattr(settings, "AUTHORIZATION_CACHE_ENTRIES", DEFAULT_ENTRIES)) > 0


def _entering(function: str) -> str:
    """`function`'s row, in the statement that also enters the token's tenant (row-level security)."""
    return "".join(
        (
            "SELECT set_config('app.tenant_ids', concat_ws(',', nullif(current_setting('app.tenant_ids', true),",
            " ''), p.tenant_id::text), true), p.* FROM ",
            function,
            "(%s) AS p",
        )
    )


_ENTER_AND_PROBE = _entering(PROBE_FUNCTION)
_ENTER_AND_FIRST_USE = _entering(FIRST_USE_FUNCTION)


def _probed(entering: str, sql: str, checksum: str) -> tuple[Any, ...] | None:
    """The row of a probe statement; on PostgreSQL the token's tenant is entered too."""
    if connection.vendor == "postgresql":
        row = prepared_row(entering, [checksum])  # planned once per connection
        if row is None:
            return None
        tenancy.note_entered(row[0])
        return tuple(row[1:])
    with connection.cursor() as cursor:
        cursor.execute(sql.format(param="%s"), [checksum])
        row = cursor.fetchone()
        return None if row is None else tuple(row)


def probe(checksum: str) -> Fingerprint | None:
    """The token's fingerprint (None: no such token); on PostgreSQL its tenant is entered too."""
    return _probed(_ENTER_AND_PROBE, PROBE_SQL, checksum)


def grant_print(fingerprint: Fingerprint) -> Fingerprint:
    """The fingerprint less the token's own id and version: the versions of its grant's rows."""
    return fingerprint[1:2] + fingerprint[3:]


def fingerprint_of(found: TokenRows) -> Fingerprint:
    """The fingerprint `found` was read at: the token's version as read with its columns, its
    grant's versions as read with its rows (`GrantRows.versions`), in the probe's order.

    A context is kept under this, not under the probe's answer before it: a row absent at the probe
    (a LEFT JOIN's NULL) and present when the rows were read must not be served once it is absent
    again, when the probe shows NULL once more."""
    versions = found.rows.versions
    return (found.token_id, versions[0], found.version, *versions[1:])


def _first_use(checksum: str) -> tuple[Fingerprint, TokenRows, GrantJudgements] | None:
    """A token this process holds no context for: its fingerprint and rows, in ONE statement when the
    process holds its grant under the same versions, else two (the grant is read and kept). With
    them, what the token shares with the grant's other tokens (`GrantJudgements`), kept with the rows."""
    row = _probed(_ENTER_AND_FIRST_USE, FIRST_USE_SQL, checksum)
    if row is None:
        return None
    fingerprint, (user_id, application_id, *token) = row[:PROBE_WIDTH], row[PROBE_WIDTH:]
    key, versions = (user_id, fingerprint[1], application_id), grant_print(fingerprint)
    judged = grants.get(key, versions) if enabled() else None
    if judged is None:
        rows = grant_rows(user_id=user_id, tenant_id=fingerprint[1], application_id=application_id)
        if rows is None:  # the tenant is gone
            return None
        judged = GrantJudgements(rows)
        if enabled():
            grants.put(key, rows.versions, judged)  # the versions its own statement read them at
    found = token_on_grant(judged.rows, (fingerprint[0], *token), version=fingerprint[2])
    return fingerprint, found, judged


def locked_source_grant(source: str, params: list[Any]) -> GrantRows | None:
    """The rows of the one grant `source` names (`scopes.access.rows.source_grant_rows`), its consent
    locked FOR UPDATE until the transaction ends: the token endpoint's client-credentials grant,
    which writes a token in this transaction. None when `source` finds nothing (or the tenant is gone).

    ONE statement when this process holds the grant under the versions it has now: the *grant
    probe* (`scopes.access.rows.grant_probe_sql`), which locks the consent as the grant's query
    does and reads the versions of the rows the query would read, without reading them. The rows
    kept are the ones every token of the grant is judged on (`grants`, shared with the API's first
    use), each kept under the versions its own statement read (`GrantRows.versions`), so rows kept
    under the versions the probe shows are the rows as they are (scopes.access.freshness).
    Otherwise the grant's query follows, and its rows are kept.

    When the lock waited for a writer that changed the consent (`_CONSENT_MOVED`), the probe's other
    versions are of its snapshot, older than the consent's: the grant's query reads the rows again,
    with the lock held.
    """
    if not enabled():
        return source_grant_rows(source, params, lock_consent=True)
    locking = locks_consent(True)
    row = prepared_row(grant_probe_sql(source, lock_consent=locking), params)
    if row is None:
        return None
    probed = probed_grant(row, lock_consent=locking)
    if not probed.moved:
        held = grants.get(probed.key, probed.versions)
        if held is not None:
            epoch_read(probed.versions[-1])  # this request's registry is the one these rows were read at
            # The probe locked the consent when it found one.
            return replace(own_copy(held.rows), consent_locked=locking and probed.consent_found)
    rows = source_grant_rows(source, params, lock_consent=True)
    if rows is not None:
        # Kept without the lock, and with instances of its own: the request gets `rows`' user.
        kept = replace(own_copy(rows), consent_locked=False)
        grants.put(grant_key(rows), rows.versions, GrantJudgements(kept))
    return rows


def load_context(raw_token: str) -> AuthorizationContext | None:
    """The authorization context of a Bearer token: the probe, plus ONE query when not fresh here.

    None when no such token exists (unknown, or revoked: revoked access tokens are deleted).
    """
    checksum = token_checksum(raw_token)
    found: TokenRows | None
    judged: GrantJudgements | None = None
    if not contexts.holds(checksum):
        first = _first_use(checksum)
        if first is None:
            return None
        fingerprint, found, judged = first
    else:
        probed = probe(checksum)
        if probed is None:
            return None
        fingerprint = probed
        if enabled():
            cached = contexts.get(checksum, fingerprint)
            if cached is not None:
                return cached
        # Something the context was built from changed: read it all again.
        found = token_rows(checksum)
        if found is None:  # deleted between the probe and now
            return None
    # Kept under the versions the rows were read at (`fingerprint_of`), which are the probe's unless
    # something changed in between; the registry under the epoch read with them.
    read_at = fingerprint_of(found)
    snapshot = registry_at(read_at[-1])
    context = context_from(found, snapshot.implications, snapshot.requirements, judged)
    if enabled():
        contexts.put(checksum, read_at, context)
    return context


def clear() -> None:
    """Forget every context and grant of this process (tests; never needed for correctness)."""
    contexts.clear()
    grants.clear()
