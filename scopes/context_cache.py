"""The authorization context in the shared cache: no SQL at all for a warm request.

One entry per access token, keyed by the SHA-256 checksum DOT stores (never the raw token), holds
what `selectors.context_for_checksum` read from the database, and the *stamps* it was read under:

- the token's stamp: the token rewritten (consent narrowed) or deleted (revoked, rotated), or its
  user changed;
- the stamp of the tenant the URL names: memberships, the tenant's own roles and their grants;
- the global stamp: tenants, global roles and their grants, scope names, migrations.

A stamp is a random value; a write *deletes* it and the next reader creates a fresh one, so an
entry stored under a deleted stamp can never match again. A request reads the entry, its three
stamps and the registry's stamp with ONE `get_many`, and uses the entry only when every stamp it
was stored under is still current. Stamps are read before the database: a request that read rows
just before a write committed stores its entry under stamps that the write deletes after its
commit (`scopes.signals` deletes them at once and again on commit), so the stale entry is never
served. Expiry is checked on every request from the cached `expires`, and an entry never outlives
its token.

Several worker processes see each other's writes only through a shared cache: deployments with
more than one process set `REDIS_URL`.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from functools import cache as memoize
from typing import Any

from django.conf import settings
from django.core.cache import cache
from django.db import DEFAULT_DB_ALIAS, transaction
from django.utils import timezone

from accounts.models import Tenant, User
from scopes.models import AccessToken
from scopes.selectors import (
    REGISTRY_STAMP_KEY,
    AuthorizationContext,
    context_for_checksum,
    new_stamp,
    registry,
    token_checksum,
)

ENTRY_KEY = "authz:ctx:v1:{checksum}"
TOKEN_STAMP_KEY = "authz:stamp:token:{checksum}"
TENANT_STAMP_KEY = "authz:stamp:tenant:{slug}"
GLOBAL_STAMP_KEY = "authz:stamp:all"
# Tenant and global stamps are few; any expiry is safe (a missing stamp matches no entry).
SHARED_STAMP_TIMEOUT = 24 * 3600
DEFAULT_TIMEOUT = 300


def cache_seconds() -> int:
    """How long an entry may live at most (`AUTHORIZATION_CACHE_SECONDS`; 0 turns the cache off)."""
    return int(getattr(settings, "AUTHORIZATION_CACHE_SECONDS", DEFAULT_TIMEOUT))


@memoize
def _user_fields() -> tuple[str, ...]:
    # Everything but the password hash: the cache holds no secret.
    return tuple(f.attname for f in User._meta.concrete_fields if f.attname != "password")


@memoize
def _tenant_fields() -> tuple[str, ...]:
    return tuple(f.attname for f in Tenant._meta.concrete_fields)


def _entry(
    context: AuthorizationContext, checksum: str, slug: str, stamps: tuple[Any, ...]
) -> tuple[Any, ...]:
    """A context as plain values (no pickled model instances), tagged with what it was read under."""
    assert context.user is not None
    return (
        checksum,
        slug,
        stamps,
        context.token_id,
        context.token_scopes,
        context.expires,
        tuple(getattr(context.user, name) for name in _user_fields()),
        tuple(getattr(context.tenant, name) for name in _tenant_fields()),
        context.role_id,
        context.role_name,
        context.role_grants,
    )


def _context(entry: tuple[Any, ...], implications: Any) -> AuthorizationContext:
    (_, _, _, token_id, token_scopes, expires, user_values, tenant_values, role_id, role_name, grants) = entry
    return AuthorizationContext(
        token_id=token_id,
        token_scopes=token_scopes,
        expires=expires,
        user=User.from_db(DEFAULT_DB_ALIAS, _user_fields(), user_values),
        tenant=Tenant.from_db(DEFAULT_DB_ALIAS, _tenant_fields(), tenant_values),
        role_id=role_id,
        role_name=role_name,
        role_grants=grants,
        implications=implications,
    )


def _timeout(expires: datetime, now: datetime) -> int:
    return min(cache_seconds(), int((expires - now).total_seconds()))


def load_context(raw_token: str, *, tenant_slug: str | None) -> AuthorizationContext | None:
    """The authorization context of a Bearer token used in `tenant_slug`'s URLs: cached, else ONE query.

    Identical to `selectors.authorization_context` (same values, same None for an unknown token);
    only contexts of tokens used in their own tenant are stored.
    """
    checksum = token_checksum(raw_token)
    if not tenant_slug or cache_seconds() <= 0:
        return context_for_checksum(checksum, snapshot=registry())
    entry_key = ENTRY_KEY.format(checksum=checksum)
    stamp_keys = (
        GLOBAL_STAMP_KEY,
        TENANT_STAMP_KEY.format(slug=tenant_slug),
        TOKEN_STAMP_KEY.format(checksum=checksum),
    )
    found = cache.get_many([entry_key, *stamp_keys, REGISTRY_STAMP_KEY])
    snapshot = registry(found.get(REGISTRY_STAMP_KEY))
    stamps = tuple(found.get(key) for key in stamp_keys)
    entry = found.get(entry_key)
    if (
        entry is not None
        and None not in stamps
        and entry[0] == checksum
        and entry[1] == tenant_slug
        and entry[2] == stamps
    ):
        return _context(entry, snapshot.implications)

    if None in stamps:
        stamps = _create_stamps(stamp_keys, stamps)
    context = context_for_checksum(checksum, snapshot=snapshot)
    if context is None or None in stamps or context.tenant.slug != tenant_slug:
        return context
    timeout = _timeout(context.expires, timezone.now())
    if timeout > 0:
        cache.set(entry_key, _entry(context, checksum, tenant_slug, stamps), timeout=timeout)
    return context


def _create_stamps(keys: tuple[str, str, str], stamps: tuple[Any, ...]) -> tuple[Any, ...]:
    """Create the missing stamps (unless another process just did) and read all three again."""
    # A token's stamp lives as long as its entry may; the global and tenant ones are few.
    timeouts = (SHARED_STAMP_TIMEOUT, SHARED_STAMP_TIMEOUT, cache_seconds())
    for key, stamp, timeout in zip(keys, stamps, timeouts, strict=True):
        if stamp is None:
            cache.add(key, new_stamp(), timeout=timeout)
    found = cache.get_many(list(keys))
    return tuple(found.get(key) for key in keys)


# --- Invalidation: called by `scopes.signals` for every write that can change a decision.


def _delete_now_and_on_commit(keys: Iterable[str]) -> None:
    keys = list(keys)
    if not keys:
        return
    cache.delete_many(keys)
    # Again after commit: a reader between the first delete and the commit read old rows under a
    # stamp it created then; this second delete makes that stamp, and its entry, dead.
    transaction.on_commit(lambda: cache.delete_many(keys))


def _token_keys(checksums: Iterable[str]) -> list[str]:
    keys: list[str] = []
    for checksum in checksums:
        keys += [TOKEN_STAMP_KEY.format(checksum=checksum), ENTRY_KEY.format(checksum=checksum)]
    return keys


def forget_token(checksum: str) -> None:
    """One token was rewritten or deleted."""
    if checksum:
        _delete_now_and_on_commit(_token_keys([checksum]))


def forget_user(user_id: int) -> None:
    """A user changed: every access token of theirs, in every tenant, is read again."""

    def drop() -> None:
        checksums = AccessToken.objects.filter(user_id=user_id).values_list("token_checksum", flat=True)
        keys = _token_keys(checksums)
        if keys:
            cache.delete_many(keys)

    drop()
    # The tokens are listed again after commit, so a token minted meanwhile is covered too.
    transaction.on_commit(drop)


def forget_tenant(slug: str) -> None:
    """Memberships, roles or grants of one tenant changed: every token used there is read again."""
    _delete_now_and_on_commit([TENANT_STAMP_KEY.format(slug=slug)])


def forget_all() -> None:
    """A tenant, a global role or grant, or the scope registry changed: every token is read again."""
    _delete_now_and_on_commit([GLOBAL_STAMP_KEY])
