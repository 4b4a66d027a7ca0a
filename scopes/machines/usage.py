"""When a personal access token was last used: noted in the process, written off the request path.

Writing on every request would add a statement to every API call; so each process notes the time
in memory (at most once per token every `PERSONAL_TOKEN_LAST_USED_MINUTES`, default 5; 0 notes
every use) and its bookkeeping thread writes the notes as one UPDATE every few seconds and at exit
(accounts.background). The column is not versioned (scopes.access.freshness), so the write never
makes a cached authorization stale. Across processes the time is as fresh as the interval plus
the flush; a crash loses at most the last few seconds' times, never a right.
"""

from __future__ import annotations

import threading
import time
from datetime import datetime

from django.conf import settings
from django.db.models import Case, DateTimeField, Value, When
from django.utils import timezone

from accounts import background, tenancy
from scopes.machines.models import PERSONAL_TOKEN_PREFIX, PersonalAccessToken

_MAX_REMEMBERED = 10_000
_written: dict[int, float] = {}
# Token id -> (its tenant, when it was last used), not yet written.
_pending: dict[int, tuple[int, datetime]] = {}
_lock = threading.Lock()


def _interval() -> float:
    return 60.0 * float(getattr(settings, "PERSONAL_TOKEN_LAST_USED_MINUTES", 5))


def note_use(token_id: int, *, tenant_id: int) -> None:
    """Note that a personal access token was just used, unless noted lately in this process.

    Called after the answer (`api.bookkeeping`), for a token authentication accepted as a
    personal one (`is_personal`).
    """
    now = time.monotonic()
    with _lock:
        last = _written.get(token_id)
        if last is not None and now - last < _interval():
            return
        if len(_written) >= _MAX_REMEMBERED:
            _written.clear()
        _written[token_id] = now
        if len(_pending) < _MAX_REMEMBERED:
            _pending[token_id] = (tenant_id, timezone.now())
    background.noted()


@background.writer("personal token last use")
def flush() -> int:
    """Write every noted time in one UPDATE, in the tenants the tokens belong to; tokens noted."""
    with _lock:
        batch = dict(_pending)
        _pending.clear()
    if not batch:
        return 0
    whens = [
        When(access_token_id=token_id, then=Value(when)) for token_id, (_t, when) in sorted(batch.items())
    ]
    try:
        with tenancy.writing_in_tenants({tenant for tenant, _when in batch.values()}):
            # One statement: UPDATE ... SET last_used_at = CASE access_token_id WHEN ... END.
            PersonalAccessToken.objects.filter(access_token_id__in=sorted(batch)).update(
                last_used_at=Case(*whens, output_field=DateTimeField())
            )
    except Exception:
        with _lock:
            for token_id, noted in batch.items():
                _pending.setdefault(token_id, noted)
        raise
    return len(batch)


def is_personal(raw_token: str) -> bool:
    """A personal access token, told by its prefix (no query)."""
    return raw_token.startswith(PERSONAL_TOKEN_PREFIX)


def forget() -> None:
    """Forget what this process noted and wrote (tests)."""
    with _lock:
        _written.clear()
        _pending.clear()
