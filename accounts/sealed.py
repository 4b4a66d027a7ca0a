"""Secrets the server must read back (webhook signing secrets, ID-token signing keys), encrypted at rest
with keys from the environment.

A secret we only check is stored as a hash; one we must *use* (to sign a webhook) cannot be. So it
is sealed with Fernet (AES-128-CBC + HMAC-SHA256, authenticated) under `AUDIT_SECRET_KEY`, which
lives in the environment, never in the database: a query that leaks the column (a forgotten filter,
a backup, a replica) leaks ciphertext.

`AUDIT_SECRET_KEY` may list several keys, comma-separated: the first seals, every one unseals, so a
key is rotated by putting the new one first, re-sealing (`manage.py reseal_secrets`), then dropping
the old one. `SealedCharField` does this transparently: Python sees the secret, the column holds
the token; a value no configured key opens loads as an `UnreadableSecret` (kept as it is on save,
refused by whoever would use it) rather than failing the page or the worker.
"""

from __future__ import annotations

import base64
import hashlib
from typing import Any

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from django.conf import settings
from django.db import models

_PREFIX = "fernet:"  # tells a sealed value from a plain one (the migration that sealed existing rows)


class UnreadableSecret(str):  # a marker type: the sealed text, kept as it is
    """A sealed value no configured key opens: saved back unchanged, never usable as the secret."""


def fernet_key(key: str) -> bytes:
    """A Fernet key from an operator's key string (any length >= 32, e.g. `secrets.token_urlsafe(32)`)."""
    return base64.urlsafe_b64encode(hashlib.sha256(b"granular-photos sealed v1:" + key.encode()).digest())


def _fernet(keys: list[str] | None = None) -> MultiFernet:
    return MultiFernet([Fernet(fernet_key(k)) for k in (keys or settings.AUDIT_SECRET_KEYS)])


def seal(plain: str, *, keys: list[str] | None = None) -> str:
    """The stored form of `plain`, sealed with the first key."""
    return _PREFIX + _fernet(keys).encrypt(plain.encode()).decode("ascii")


def is_sealed(stored: str) -> bool:
    return stored.startswith(_PREFIX)


def unseal(stored: str, *, keys: list[str] | None = None) -> str:
    """The secret in `stored`; `UnreadableSecret(stored)` when no key opens it (or it is not sealed)."""
    if not is_sealed(stored):
        return UnreadableSecret(stored)
    try:
        return _fernet(keys).decrypt(stored[len(_PREFIX) :].encode("ascii")).decode()
    except (InvalidToken, ValueError):
        return UnreadableSecret(stored)


def reseal(stored: str, *, keys: list[str] | None = None) -> str:
    """`stored` sealed again with the first key (key rotation); unreadable values are returned unchanged."""
    if not is_sealed(stored):
        return stored
    try:
        return _PREFIX + _fernet(keys).rotate(stored[len(_PREFIX) :].encode("ascii")).decode("ascii")
    except (InvalidToken, ValueError):
        return stored


def hint(secret: str) -> str:
    """What a page may show of a stored secret: its length and last four characters, never more."""
    if isinstance(secret, UnreadableSecret):
        return "unreadable with the configured AUDIT_SECRET_KEY"
    if len(secret) < 12:
        return f"{len(secret)} characters"
    return f"{len(secret)} characters, ending in …{secret[-4:]}"


class _Sealed:
    """Seal on the way in, unseal on the way out (the model attribute is the secret itself)."""

    def from_db_value(self, value: str | None, expression: Any, connection: Any) -> str | None:
        return None if value is None else unseal(value)

    def get_prep_value(self, value: Any) -> Any:
        value = super().get_prep_value(value)  # type: ignore[misc]
        if value is None or value == "" or isinstance(value, UnreadableSecret):
            return str(value) if isinstance(value, UnreadableSecret) else value
        return seal(value)


class SealedCharField(_Sealed, models.CharField):
    """A text column holding `seal(value)`; the model attribute is the secret itself."""


class SealedTextField(_Sealed, models.TextField):
    """As SealedCharField, for longer secrets (a PEM private key: scopes.oidc)."""
