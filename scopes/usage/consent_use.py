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

import threading
from datetime import datetime

from django.db.models import Case, DateTimeField, Value, When
from django.utils import timezone

from accounts import background, tenancy
from scopes.models import Consent

# Bounded: past it (the database away for long) new notes are dropped; the next grant notes again.
_MAX_PENDING = 10_000
# Consent id -> (its tenant, when it was last used), not yet written.
_pending: dict[int, tuple[int, datetime]] = {}
_lock = threading.Lock()


def note_use(consent_id: int, *, tenant_id: int) -> None:
    """A grant just minted tokens under this consent (`scopes.oauth.validators`)."""
    with _lock:
        if len(_pending) >= _MAX_PENDING and consent_id not in _pending:
            return
        _pending[consent_id] = (tenant_id, timezone.now())
    background.noted()


@background.writer("consent last use")
def flush() -> int:
    """Write every noted time in one UPDATE, in the tenants the consents belong to; consents noted."""
    with _lock:
        batch = dict(_pending)
        _pending.clear()
    if not batch:
        return 0
    whens = [When(pk=consent_id, then=Value(when)) for consent_id, (_t, when) in sorted(batch.items())]
    try:
        with tenancy.writing_in_tenants({tenant for tenant, _when in batch.values()}):
            # One statement: UPDATE ... SET last_used_at = CASE id WHEN ... END WHERE id IN (...).
            Consent.objects.filter(pk__in=sorted(batch)).update(
                last_used_at=Case(*whens, output_field=DateTimeField())
            )
    except Exception:
        with _lock:
            for consent_id, noted in batch.items():
                _pending.setdefault(consent_id, noted)
        raise
    return len(batch)


def forget() -> None:
    """Forget what this process noted (tests)."""
    with _lock:
        _pending.clear()
