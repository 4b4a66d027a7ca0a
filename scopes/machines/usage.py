"""When a personal access token was last used, written at most once per token every few minutes.

Writing on every request would add a statement to every warm API call; so each process remembers
when it last wrote a token's time and writes again only after `PERSONAL_TOKEN_LAST_USED_MINUTES`
(default 5; 0 writes every time). The column is not versioned (scopes.freshness), so the write
never makes a cached authorization stale. Across processes the time is as fresh as the interval.
"""

from __future__ import annotations

import threading
import time

from django.conf import settings
from django.utils import timezone

from scopes.machines.models import PERSONAL_TOKEN_PREFIX, PersonalAccessToken

_MAX_REMEMBERED = 10_000
_written: dict[int, float] = {}
_lock = threading.Lock()


def _interval() -> float:
    return 60.0 * float(getattr(settings, "PERSONAL_TOKEN_LAST_USED_MINUTES", 5))


def note_use(token_id: int) -> None:
    """Record that a personal access token was just used, unless recorded lately in this process.

    Called after the answer (`scopes.api.bookkeeping`), for a token authentication accepted as a
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
    PersonalAccessToken.objects.filter(access_token_id=token_id).update(last_used_at=timezone.now())


def is_personal(raw_token: str) -> bool:
    """A personal access token, told by its prefix (no query)."""
    return raw_token.startswith(PERSONAL_TOKEN_PREFIX)


def forget() -> None:
    """Forget what this process wrote (tests)."""
    with _lock:
        _written.clear()
