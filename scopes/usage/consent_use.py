"""When a consent was last used to mint tokens: noted in the process, written off the request path.

Every grant that mints tokens (code, refresh, device, client credentials) uses its consent; the
admin shows when (`Consent.last_used_at`). Writing it inside the token request put an UPDATE on
the path of every grant, so each process notes the time in memory and its bookkeeping thread
(accounts.background) writes the notes as one UPDATE every few seconds and at exit. The column is
a record, never a right: no decision or standing reads it and it is not versioned
(scopes.access.freshness), so the write never makes a cached authorization stale. A crash loses at
most the last few seconds' times.
"""

from __future__ import annotations

from accounts import background
from scopes.models import Consent

_times = background.LastUsedTimes("consent last use", Consent)


def note_use(consent_id: int, *, tenant_id: int) -> None:
    """A grant just minted tokens under this consent (`scopes.oauth.validators`)."""
    _times.note(consent_id, tenant_id=tenant_id)


flush = _times.flush
forget = _times.forget
