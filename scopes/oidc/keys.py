"""The keys that sign ID tokens (RS256): in the database, or from the environment; never the repository.

Three sources, read from the settings at each use (so a rotation needs no restart):

- The database (the default): `manage.py rotate_oidc_key` adds a key (`SigningKey`, its private half
  sealed with AUDIT_SECRET_KEY); the newest signs. An older key was retired when the next one was
  made, and its public half stays in the JWKS until every ID token it signed has expired (retired +
  `ID_TOKEN_EXPIRE_SECONDS`); the command then deletes it. Every app server reads the same keys:
  they keep no state of their own (docs/deployment.md).
- `OIDC_RSA_PRIVATE_KEY` (the PEM itself) or `OIDC_RSA_PRIVATE_KEY_FILE` (a path): one fixed key,
  for deployments whose secret store hands out a key. Rotating it is the store's business.
- `OIDC_KEY_DIR`: a directory the same command manages, one PEM file per key named
  `<UTC time it was made>-<kid>.pem` (the way keys were kept before the database; each server
  needs the same directory, so prefer the database).

`OIDC_KEY_DIR`, when set, is used; else a fixed key, when set; else the database. With no key at
all, the server issues no ID token: a request for `openid` is refused
(`invalid_scope`).
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


def fixed_key_configured() -> bool:
    """Whether OIDC_RSA_PRIVATE_KEY(_FILE) names the one key (then the database is not used)."""
    return bool(
        getattr(settings, "OIDC_RSA_PRIVATE_KEY", "") or getattr(settings, "OIDC_RSA_PRIVATE_KEY_FILE", "")
    )


def _stored_rows() -> tuple[tuple[int, str, datetime], ...]:
    """The database's keys, oldest first: (id, kid, made). One small query; the sealed halves stay put."""
    from scopes.oidc.models import SigningKey

    return tuple(SigningKey.objects.order_by("created", "id").values_list("id", "kid", "created"))


def _source_version() -> object:
    """What the key set depends on: the settings, and the directory's listing or the database's keys."""
    directory = key_dir()
    listing: tuple[object, ...] = ()
    if directory is not None and directory.is_dir():
        listing = tuple(sorted(os.listdir(directory)))
    elif directory is None and not fixed_key_configured():
        listing = _stored_rows()
    return (
        getattr(settings, "OIDC_RSA_PRIVATE_KEY", ""),
        getattr(settings, "OIDC_RSA_PRIVATE_KEY_FILE", ""),
        str(directory),
        listing,
        tuple(settings.AUDIT_SECRET_KEYS),  # which stored keys can be opened
        # A retired key leaves the JWKS with time alone: at most a minute late.
        datetime.now(UTC).replace(second=0, microsecond=0),
    )


def database_keys() -> list[tuple[int, jwk.JWK | None, datetime, datetime | None]]:
    """The database's keys, oldest first: (id, the key or None when no AUDIT_SECRET_KEY opens it, made, retired)."""
    from accounts.sealed import UnreadableSecret
    from scopes.oidc.models import SigningKey

    rows = list(SigningKey.objects.order_by("created", "id").values_list("id", "private_pem", "created"))
    found = []
    for i, (pk, pem, made) in enumerate(rows):
        key = None if isinstance(pem, UnreadableSecret) else jwk.JWK.from_pem(pem.encode())
        found.append((pk, key, made, rows[i + 1][2] if i + 1 < len(rows) else None))
    return found


def _published(made_retired: tuple[datetime, datetime | None], now: datetime) -> bool:
    _made, retired = made_retired
    return retired is None or now < retired + id_token_lifetime()


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
    if not pem and not path:
        now = datetime.now(UTC)
        stored = [
            key
            for _pk, key, made, retired in reversed(database_keys())
            if key is not None and _published((made, retired), now)
        ]
        return KeySet(active=stored[0], published=tuple(stored)) if stored else None
    if pem:
        key = jwk.JWK.from_pem(pem.encode())
    else:
        try:
            key = _read_pem(Path(path))
        except OSError as exc:
            raise ImproperlyConfigured(f"OIDC_RSA_PRIVATE_KEY_FILE={path!r} cannot be read: {exc}") from exc
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


def make_database_key(now: datetime | None = None) -> str:
    """A new key in the database (it signs from now on); returns its kid."""
    from scopes.oidc.models import SigningKey

    key = jwk.JWK.generate(kty="RSA", size=2048)
    SigningKey.objects.create(
        kid=key.thumbprint(),
        private_pem=key.export_to_pem(private_key=True, password=None).decode(),
        created=now or datetime.now(UTC),
    )
    return key.thumbprint()


def delete_expired_database_keys(now: datetime) -> list[str]:
    """Delete the retired keys whose every ID token has expired; returns their kids."""
    from scopes.oidc.models import SigningKey

    gone = [pk for pk, _key, made, retired in database_keys() if not _published((made, retired), now)]
    kids = list(SigningKey.objects.filter(pk__in=gone).values_list("kid", flat=True))
    SigningKey.objects.filter(pk__in=gone).delete()
    return kids
