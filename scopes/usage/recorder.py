"""Record scope usage by day without adding SQL to a warm request.

Each process remembers the keys (tenant, app, user, scope) it wrote today. The first allowed call
of a key on a day writes one upsert (`INSERT ... ON CONFLICT DO UPDATE`, both databases) in the
request's transaction, and the key is remembered; every later call that day is a set lookup. With
W processes a key is written at most W times a day; the day is the server's UTC day.

In the API a use is a scope a decision allowed during a request that was then answered
successfully (2xx or 3xx): the decisions put what they allowed on the request, and the base view
hands it here once the answer is final (`scopes.api.bookkeeping`). A refused call (403, 404, 400)
records nothing, so attacks and mistakes do not count as using a scope.

Scopes are also exercised outside the API, and counted there (`note_grant_use`), or the report
would call them "never used" and narrowing them would break sign-in and refresh: a token issued
by any grant (code, refresh, device, client credentials) that carries an ID token uses `openid`
and the `profile`/`email` it discloses; one that carries a refresh token (issued or rotated) uses
`offline_access`; a userinfo answer uses `openid` and the claims' scopes it disclosed.

Known limit: when the request's transaction rolls back (a 5xx), that process has remembered a key
whose write did not commit, so its later calls that day are not recorded by it (another process,
or the next day, records them). Remembering only on commit would make every test transaction,
which never commits, look cold.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable
from datetime import date

from django.utils import timezone

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
    """A successful answer exercised `scopes` for this grant: an API call (`scopes.api.bookkeeping`),
    a token answer or a userinfo answer."""
    for scope in scopes:
        _record((tenant_id, application_id, user_id, str(scope)))


def _record(key: Key) -> None:
    day = today()
    scope = key[3]
    if remembered.seen(day, key):
        return
    ScopeUsage.objects.bulk_create(
        [ScopeUsage(tenant_id=key[0], application_id=key[1], user_id=key[2], scope=scope, last_used=day)],
        update_conflicts=True,
        unique_fields=["tenant", "application", "user", "scope"],
        update_fields=["last_used"],
    )
    remembered.add(day, key)


def forget() -> None:
    """Forget what this process wrote (tests; a forgotten key only costs one more upsert)."""
    remembered.clear()
