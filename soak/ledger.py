"""What the soak saw: requests by status, checks passed and failed, uploads and revoked tokens.

Shared by every client thread; every method takes the one lock.
"""

from __future__ import annotations

import threading
from collections import Counter
from dataclasses import dataclass, field

LIVE, DELETING, DELETED = "live", "deleting", "deleted"
KEEP_FAILURES = 20


@dataclass
class Upload:
    """An upload the server acknowledged (201): it must be retrievable until its owner deletes it."""

    photo_id: int
    tenant: str
    owner: str
    sha256: str
    state: str = LIVE


@dataclass
class Ledger:
    statuses: Counter = field(default_factory=Counter)
    passed: Counter = field(default_factory=Counter)
    failed: Counter = field(default_factory=Counter)
    failures: list[str] = field(default_factory=list)
    uploads: dict[int, Upload] = field(default_factory=dict)
    revoked: list[tuple[str, str]] = field(default_factory=list)  # (access token, tenant)
    events: Counter = field(default_factory=Counter)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def status(self, code: int) -> None:
        with self.lock:
            self.statuses[code] += 1

    def event(self, name: str) -> None:
        with self.lock:
            self.events[name] += 1

    def check(self, name: str, ok: bool, detail: str = "") -> bool:
        with self.lock:
            if ok:
                self.passed[name] += 1
            else:
                self.failed[name] += 1
                if len(self.failures) < KEEP_FAILURES:
                    self.failures.append(f"{name}: {detail}")
        return ok

    # --- uploads

    def acknowledge(self, upload: Upload) -> None:
        with self.lock:
            self.uploads[upload.photo_id] = upload

    def set_state(self, photo_id: int, state: str) -> None:
        with self.lock:
            self.uploads[photo_id].state = state

    def state_of(self, photo_id: int) -> str:
        with self.lock:
            return self.uploads[photo_id].state

    def live(self, *, tenant: str, owner: str | None = None) -> list[Upload]:
        with self.lock:
            return [
                u
                for u in self.uploads.values()
                if u.tenant == tenant and u.state == LIVE and (owner is None or u.owner == owner)
            ]

    def ids_of_other_tenants(self, tenant: str) -> set[int]:
        with self.lock:
            return {u.photo_id for u in self.uploads.values() if u.tenant != tenant}

    # --- tokens

    def revoke(self, token: str, tenant: str) -> None:
        with self.lock:
            self.revoked.append((token, tenant))

    def revoked_tokens(self) -> list[tuple[str, str]]:
        with self.lock:
            return list(self.revoked)

    @property
    def ok(self) -> bool:
        return not self.failed
