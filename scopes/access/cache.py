"""The API's authorization contexts, cached in each process and checked against the database.

Every API request runs the probe (`scopes.access.freshness.PROBE_SQL`): one statement that, on
PostgreSQL, also enters the token's tenant for row-level security, which the request had to do
anyway. It returns the token's *fingerprint*, the versions of every row its context is built
from (token, user, tenant, membership, role with its grants, consent with its scopes, app with
its allowed scopes, the tenant's app policy and the app's status and cap there, and the
registry epoch). The context cached for the token is used only when
its fingerprint is the probe's; otherwise it is read again (`scopes.access.standing.token_rows`, one
query) and stored under the probe's fingerprint. Why that can never serve a revoked right is said
once, in `scopes.access.freshness`.

So a warm request costs the probe statement and nothing else: no Redis, no signal, no shared
state between processes. Each process keeps at most `AUTHORIZATION_CACHE_ENTRIES` contexts
(least recently used go first; the default, 10,000, is a few MB); `AUTHORIZATION_CACHE_ENTRIES=0`
turns the cache off (every request then reads the context: the probe plus one query).

An entry is shared by every request of its token, so it holds plain values only (ids, names,
flags: `scopes.access.standing.UserValues`, `TenantValues`), never a model instance; the API
builds each request's user and tenant from them, without a query.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from typing import Any

from django.conf import settings
from django.db import connection

from accounts import tenancy
from scopes.access.freshness import PROBE_FUNCTION, PROBE_SQL
from scopes.access.rows import after_then_token_rows, prepared_row, token_rows
from scopes.access.selectors import registry_at
from scopes.access.standing import AuthorizationContext, context_from
from scopes.access.tenancy import token_checksum

DEFAULT_ENTRIES = 10_000

Fingerprint = tuple[Any, ...]


class _Contexts:
    """A bounded least-recently-used map: token checksum -> (fingerprint, context)."""

    def __init__(self) -> None:
        self._entries: OrderedDict[str, tuple[Fingerprint, AuthorizationContext]] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, checksum: str, fingerprint: Fingerprint) -> AuthorizationContext | None:
        with self._lock:
            found = self._entries.get(checksum)
            if found is None or found[0] != fingerprint:
                return None
            self._entries.move_to_end(checksum)
            return found[1]

    def put(self, checksum: str, fingerprint: Fingerprint, context: AuthorizationContext) -> None:
        limit = int(getattr(settings, "AUTHORIZATION_CACHE_ENTRIES", DEFAULT_ENTRIES))
        with self._lock:
            self._entries[checksum] = (fingerprint, context)
            self._entries.move_to_end(checksum)
            while len(self._entries) > limit:
                self._entries.popitem(last=False)

    def holds(self, checksum: str) -> bool:
        """Is there an entry for this token (of any fingerprint)? No lock: a hint, not an answer."""
        return checksum in self._entries

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()

    def __len__(self) -> int:
        return len(self._entries)


contexts = _Contexts()


def enabled() -> bool:
    """Entries have no expiry time: the probe proves them fresh on every request. Only their number is bounded."""
    return int(getattr(settings, "AUTHORIZATION_CACHE_ENTRIES", DEFAULT_ENTRIES)) > 0


_ENTER_AND_PROBE = "".join(
    (
        "SELECT set_config('app.tenant_ids', concat_ws(',', nullif(current_setting('app.tenant_ids', true),",
        " ''), p.tenant_id::text), true), p.* FROM ",
        PROBE_FUNCTION,
        "(%s) AS p",
    )
)


def probe(checksum: str) -> Fingerprint | None:
    """The token's fingerprint (None: no such token); on PostgreSQL its tenant is entered too."""
    if connection.vendor == "postgresql":
        row = prepared_row(_ENTER_AND_PROBE, [checksum])  # planned once per connection
        if row is None:
            return None
        tenancy.note_entered(row[0])
        return tuple(row[1:])
    with connection.cursor() as cursor:
        cursor.execute(PROBE_SQL.format(param="%s"), [checksum])
        row = cursor.fetchone()
        return None if row is None else tuple(row)


def load_context(raw_token: str) -> AuthorizationContext | None:
    """The authorization context of a Bearer token: the probe, plus ONE query when not cached.

    None when no such token exists (unknown, or revoked: revoked access tokens are deleted).
    """
    checksum = token_checksum(raw_token)
    if connection.vendor == "postgresql" and not contexts.holds(checksum):
        # A token this process has no context for: the probe and the read in one round trip.
        probed, found = after_then_token_rows(_ENTER_AND_PROBE, checksum)
        if probed is None:
            return None
        tenancy.note_entered(probed[0])
        fingerprint: Fingerprint | None = tuple(probed[1:])
    else:
        fingerprint = probe(checksum)
        if fingerprint is None:
            return None
        if enabled():
            cached = contexts.get(checksum, fingerprint)
            if cached is not None:
                return cached
        found = token_rows(checksum)
    if found is None or fingerprint is None:  # deleted between the probe and now
        return None
    # The registry under the epoch the probe saw (the fingerprint's last value).
    snapshot = registry_at(fingerprint[-1])
    context = context_from(found, snapshot.implications, snapshot.requirements)
    if enabled():
        contexts.put(checksum, fingerprint, context)
    return context


def clear() -> None:
    """Forget every context of this process (tests; never needed for correctness)."""
    contexts.clear()
