"""The keys that sign ID tokens (RS256): from the environment or a managed directory, never the repository.

Two sources, read from the settings at each use (so a rotation needs no restart):

- `OIDC_KEY_DIR`: a directory that `manage.py rotate_oidc_key` manages. Each key is one PEM file
  named `<UTC time it was made>-<kid>.pem`; the newest signs. An older key was retired when the
  next one was made, and its public half stays in the JWKS until every ID token it signed has
  expired (retired + `ID_TOKEN_EXPIRE_SECONDS`); the command then deletes it.
- `OIDC_RSA_PRIVATE_KEY` (the PEM itself) or `OIDC_RSA_PRIVATE_KEY_FILE` (a path): one fixed key,
  for deployments whose secret store hands out a key. Rotating it is the store's business.

With neither, the server issues no ID token: a request for `openid` is refused (`invalid_scope`)
and `check --deploy` says why (scopes.oidc.checks).
"""

from __future__ import annotations

import os
import re
import threading
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from jwcrypto import jwk

KEY_NAME = re.compile(r"^(\d{8}T\d{6}Z)-([A-Za-z0-9_-]+)\.pem\Z")
STAMP = "%Y%m%dT%H%M%SZ"


@dataclass(frozen=True)
class KeySet:
    """The key that signs now, and every key whose signatures may still be checked (it included)."""

    active: jwk.JWK
    published: tuple[jwk.JWK, ...]

    def by_kid(self, kid: str) -> jwk.JWK | None:
        return next((key for key in self.published if key.thumbprint() == kid), None)


@dataclass(frozen=True)
class StoredKey:
    """One file of the managed directory."""

    path: Path
    made: datetime
    retired: datetime | None  # when the next key was made; None for the active one


_cache: tuple[object, KeySet | None] | None = None
_lock = threading.Lock()


def id_token_lifetime() -> timedelta:
    from oauth2_provider.settings import oauth2_settings

    return timedelta(seconds=oauth2_settings.ID_TOKEN_EXPIRE_SECONDS)


def key_dir() -> Path | None:
    value = getattr(settings, "OIDC_KEY_DIR", "")
    return Path(value) if value else None


def stored_keys(directory: Path) -> list[StoredKey]:
    """The managed directory's keys, oldest first, each with the time it was retired."""
    found = []
    for entry in sorted(os.listdir(directory)) if directory.is_dir() else []:
        match = KEY_NAME.match(entry)
        if match:
            made = datetime.strptime(match.group(1), STAMP).replace(tzinfo=UTC)
            found.append((directory / entry, made))
    return [
        StoredKey(path=path, made=made, retired=found[i + 1][1] if i + 1 < len(found) else None)
        for i, (path, made) in enumerate(found)
    ]


def still_published(key: StoredKey, now: datetime) -> bool:
    """A retired key is published until the last ID token it could have signed has expired."""
    return key.retired is None or now < key.retired + id_token_lifetime()


def _read_pem(path: Path) -> jwk.JWK:
    return jwk.JWK.from_pem(path.read_bytes())


def _source_version() -> object:
    """What the key set depends on: the settings, and the directory's listing."""
    directory = key_dir()
    listing: tuple[str, ...] = ()
    if directory is not None and directory.is_dir():
        listing = tuple(sorted(os.listdir(directory)))
    return (
        getattr(settings, "OIDC_RSA_PRIVATE_KEY", ""),
        getattr(settings, "OIDC_RSA_PRIVATE_KEY_FILE", ""),
        str(directory),
        listing,
        # A retired key leaves the JWKS with time alone: at most a minute late.
        datetime.now(UTC).replace(second=0, microsecond=0),
    )


def _load() -> KeySet | None:
    directory = key_dir()
    if directory is not None:
        now = datetime.now(UTC)
        keys = stored_keys(directory)
        if not keys:
            return None
        published = [_read_pem(k.path) for k in reversed(keys) if still_published(k, now)]
        return KeySet(active=published[0], published=tuple(published))
    pem = getattr(settings, "OIDC_RSA_PRIVATE_KEY", "")
    path = getattr(settings, "OIDC_RSA_PRIVATE_KEY_FILE", "")
    if pem:
        key = jwk.JWK.from_pem(pem.encode())
    elif path:
        try:
            key = _read_pem(Path(path))
        except OSError as exc:
            raise ImproperlyConfigured(f"OIDC_RSA_PRIVATE_KEY_FILE={path!r} cannot be read: {exc}") from exc
    else:
        return None
    return KeySet(active=key, published=(key,))


def signing_keys() -> KeySet | None:
    """The current key set (None: no key configured, so no ID token can be issued)."""
    global _cache
    version = _source_version()
    cached = _cache
    if cached is not None and cached[0] == version:
        return cached[1]
    loaded = _load()
    with _lock:
        _cache = (version, loaded)
    return loaded


def public_jwks() -> list[dict[str, str]]:
    """The JWKS `keys`: the public half of every published key, with its kid (RFC 7638 thumbprint)."""
    keys = signing_keys()
    if keys is None:
        return []
    return [
        {**key.export_public(as_dict=True), "alg": "RS256", "use": "sig", "kid": key.thumbprint()}
        for key in keys.published
    ]


def make_key(directory: Path, now: datetime | None = None) -> Path:
    """Write a new RSA key into the managed directory (readable by its owner only); it signs from now on."""
    directory.mkdir(mode=0o700, parents=True, exist_ok=True)
    key = jwk.JWK.generate(kty="RSA", size=2048)
    stamp = (now or datetime.now(UTC)).strftime(STAMP)
    path = directory / f"{stamp}-{key.thumbprint()}.pem"
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(descriptor, "wb") as handle:
        handle.write(key.export_to_pem(private_key=True, password=None))
    return path
