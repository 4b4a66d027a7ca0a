"""Record scope usage by day without adding SQL to any request.

Each process remembers the keys (tenant, app, user, scope) it noted today. The first allowed call
of a key on a day notes it in memory, and the process's bookkeeping thread writes the notes in one
multi-row upsert (`INSERT ... ON CONFLICT DO UPDATE`, both databases) every few seconds and when
the process exits (accounts.background); every later call that day is a set lookup. With W
processes a key is written at most W times a day; the day is the server's UTC day.

In the API a use is a scope a decision allowed during a request that was then answered
successfully (2xx or 3xx): the decisions put what they allowed on the request, and the base view
hands it here once the answer is final (`api.bookkeeping`). A refused call (403, 404, 400)
records nothing, so attacks and mistakes do not count as using a scope.

Scopes are also exercised outside the API, and counted there (`note_grant_use`), or the report
would call them "never used" and narrowing them would break sign-in and refresh: a token issued
by any grant (code, refresh, device, client credentials) that carries an ID token uses `openid`
and the `profile`/`email` it discloses; one that carries a refresh token (issued or rotated) uses
`offline_access`; a userinfo answer uses `openid` and the claims' scopes it disclosed.

What a crash can lose: the notes of the last few seconds (a day's first use of a key, in that
process); another call of the key, in any process, or the next day's, writes it again. A note
is never a right: the report may call a scope used a few seconds late, nothing more.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable
from datetime import date

from django.utils import timezone

from accounts import background, tenancy
from scopes.constants import ScopeName
from scopes.usage.models import ScopeUsage

Key = tuple[int, int, int, str]


class _Remembered:
    """The keys this process wrote on `day`; forgets them all when the day changes."""

    def __init__(self) -> None:
        self.day: date | None = None
        self.keys: set[Key] = set()
        self._lock = threading.Lock()

    def seen(self, day: date, key: Key) -> bool:
        with self._lock:
            if self.day != day:
                self.day, self.keys = day, set()
            return key in self.keys

    def add(self, day: date, key: Key) -> None:
        with self._lock:
            if self.day == day:
                self.keys.add(key)

    def clear(self) -> None:
        with self._lock:
            self.day, self.keys = None, set()


remembered = _Remembered()


def today() -> date:
    return timezone.now().date()


# The scopes the OAuth and OpenID Connect endpoints exercise themselves (not the API).
IDENTITY_SCOPES = (ScopeName.OPENID, ScopeName.PROFILE, ScopeName.EMAIL)


def grant_scopes_exercised(scopes: Iterable[str], *, id_token: bool, refresh_token: bool) -> list[str]:
    """Which of a token response's (or userinfo answer's) scopes it exercised, by what it carried."""
    granted = set(scopes)
    used = [str(name) for name in IDENTITY_SCOPES if id_token and name in granted]
    if refresh_token and ScopeName.OFFLINE_ACCESS in granted:
        used.append(str(ScopeName.OFFLINE_ACCESS))
    return used


def note_grant_use(*, tenant_id: int, application_id: int, user_id: int, scopes: Iterable[str]) -> None:
    """A successful answer exercised `scopes` for this grant: an API call (`api.bookkeeping`),
    a token answer or a userinfo answer."""
    for scope in scopes:
        _record((tenant_id, application_id, user_id, str(scope)))


# Notes not yet written, with the day of their use. Bounded: past it (the database away for long)
# new notes are dropped rather than growing without end (the day's next use notes them again).
_MAX_PENDING = 100_000
_pending: dict[Key, date] = {}
_pending_lock = threading.Lock()


def _record(key: Key) -> None:
    day = today()
    if remembered.seen(day, key):
        return
    with _pending_lock:
        if len(_pending) >= _MAX_PENDING:
            return
        _pending[key] = day
    remembered.add(day, key)
    background.noted()


@background.writer("scope usage")
def flush() -> int:
    """Write every noted use in one multi-row upsert, in the tenants it names; rows written."""
    with _pending_lock:
        batch = dict(_pending)
        _pending.clear()
    if not batch:
        return 0
    rows = [
        ScopeUsage(tenant_id=t, application_id=a, user_id=u, scope=scope, last_used=day)
        for (t, a, u, scope), day in sorted(batch.items())
    ]
    try:
        with tenancy.writing_in_tenants({key[0] for key in batch}):
            ScopeUsage.objects.bulk_create(
                rows,
                update_conflicts=True,
                unique_fields=["tenant", "application", "user", "scope"],
                update_fields=["last_used"],
            )
    except Exception:
        with _pending_lock:
            for key, day in batch.items():
                if len(_pending) < _MAX_PENDING:
                    _pending.setdefault(key, day)
        raise
    return len(rows)


def forget() -> None:
    """Forget what this process noted and wrote (tests; a forgotten key only costs one more upsert)."""
    remembered.clear()
    with _pending_lock:
        _pending.clear()
