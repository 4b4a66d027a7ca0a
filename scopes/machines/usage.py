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

from django.conf import settings

from accounts import background
from scopes.machines.models import PERSONAL_TOKEN_PREFIX, PersonalAccessToken

_MAX_REMEMBERED = 10_000
_written: dict[int, float] = {}  # token id -> when this process last noted it (time.monotonic)
_lock = threading.Lock()
_times = background.LastUsedTimes("personal token last use", PersonalAccessToken, key="access_token_id")


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
    _times.note(token_id, tenant_id=tenant_id)


flush = _times.flush


def is_personal(raw_token: str) -> bool:
    """A personal access token, told by its prefix (no query)."""
    return raw_token.startswith(PERSONAL_TOKEN_PREFIX)


def forget() -> None:
    """Forget what this process noted and wrote (tests)."""
    with _lock:
        _written.clear()
    _times.forget()
