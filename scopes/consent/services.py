"""Writes to consents and the tokens they stand behind; a change reaches live tokens at once."""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Iterable
from datetime import datetime, timedelta
from functools import cache

from django.db import IntegrityError, connection, transaction
from django.db.models import Q, QuerySet
from django.utils import timezone
from psycopg.types.numeric import Int8

from accounts.constants import AuditAction
from accounts.deletion import Statement, deletion_statement, needs_collector
from accounts.models import Tenant, User
from accounts.prepared import prepared_execute
from accounts.services import audit_record
from accounts.tenancy import writes_in_tenant
from scopes.access.selectors import registry
from scopes.consent.rules import cap_scopes, consented_after
from scopes.constants import ScopeName
from scopes.models import AccessToken, Application, Consent, ConsentFormUse, Grant, RefreshToken, Scope
from scopes.registry import closure


def _grant_tokens(*, user: User, tenant: Tenant, application: Application) -> tuple[QuerySet, QuerySet]:
    access = AccessToken.objects.filter(user=user, tenant=tenant, application=application)
    refresh = RefreshToken.objects.filter(
        user=user, tenant=tenant, application=application, revoked__isnull=True
    )
    return access, refresh


@writes_in_tenant(lambda a: a["tenant"].pk)
@transaction.atomic
def consent_grant(
    *,
    actor: User,
    user: User,
    tenant: Tenant,
    application: Application,
    scopes: Iterable[str],
    withdraw: Iterable[str] = (),
) -> Consent:
    """Remember that `user` let `application` use `scopes` in `tenant` (added to what was granted before).

    `withdraw` is what the user was shown again (under `prompt=consent`) and left unticked: it is
    taken back, composites split so their other parts stay, and every live token of the grant
    loses it now, as with `consent_narrow`. What the page did not show is kept. The caller has
    already capped `scopes` by the request, the app, the user's role and the page that was shown.
    """
    implications = registry().implications
    consent, _ = Consent.objects.select_for_update().get_or_create(
        user=user, tenant=tenant, application=application
    )
    before = sorted(s.name for s in consent.scopes.all())
    scopes, withdraw = list(scopes), list(withdraw)
    taken_back = closure(withdraw, implications) - closure(scopes, implications)
    if taken_back & closure(before, implications):
        kept = consented_after(before, scopes=scopes, withdraw=withdraw, implications=implications)
        consent.scopes.set(Scope.objects.filter(name__in=kept))
        _cap_grant_tokens(consent, allowed=closure(kept, implications))
    else:
        consent.scopes.add(*Scope.objects.filter(name__in=set(scopes)))
    consent.save(update_fields=["updated_at"])
    after = sorted(s.name for s in consent.scopes.all())
    if after != before:
        audit_record(
            actor=actor,
            action=AuditAction.CONSENT_GRANTED,
            target=consent,
            tenant=tenant,
            before={"scopes": before},
            after={"scopes": after},
        )
    return consent


def _cap_grant_tokens(consent: Consent, *, allowed: frozenset[str] | set[str]) -> None:
    """Rewrite every live token of a consent's grant to what `allowed` (closed) still covers.

    Access tokens left with nothing are deleted; refresh tokens die with `offline_access`, and
    otherwise are capped again at every refresh.
    """
    implications = registry().implications
    access, refresh = _grant_tokens(user=consent.user, tenant=consent.tenant, application=consent.application)
    for token in access.select_for_update():
        kept = cap_scopes(token.scope.split(), allowed=allowed, implications=implications)
        if not kept:
            token.delete()
        elif kept != token.scope.split():
            token.scope = " ".join(kept)
            token.save(update_fields=["scope", "updated"])
    if ScopeName.OFFLINE_ACCESS not in allowed:
        refresh.update(revoked=timezone.now())


@writes_in_tenant(lambda a: a["consent"].tenant_id)
@transaction.atomic
def consent_narrow(*, actor: User, consent: Consent, remove: Iterable[str]) -> Consent | None:
    """Take scopes back from a consent; every live token of the grant loses them now.

    Removing the last scope revokes the whole consent. Access tokens are rewritten to what the
    narrowed consent still covers (deleted when nothing is left); refresh tokens die with
    `offline_access`, and otherwise are capped again at every refresh.
    """
    # Locked and read again: a concurrent revocation (a second tab, the admin) may have won.
    locked = Consent.objects.select_for_update().filter(pk=consent.pk).first()
    if locked is None:
        return None
    consent = locked
    implications = registry().implications
    removed = set(remove)
    remaining = [s.name for s in consent.scopes.all() if s.name not in removed]
    if not remaining:
        consent_revoke(actor=actor, consent=consent)
        return None
    before = sorted(s.name for s in consent.scopes.all())
    consent.scopes.set(Scope.objects.filter(name__in=remaining))
    consent.save(update_fields=["updated_at"])
    audit_record(
        actor=actor,
        action=AuditAction.CONSENT_NARROWED,
        target=consent,
        tenant=consent.tenant,
        before={"scopes": before},
        after={"scopes": sorted(remaining)},
    )
    _cap_grant_tokens(consent, allowed=closure(remaining, implications))
    return consent


@writes_in_tenant(lambda a: a["consent"].tenant_id)
@transaction.atomic
def consent_revoke(*, actor: User, consent: Consent) -> None:
    """Forget a consent and kill every access and refresh token of that grant, at once.

    The consent row is locked first, so two revocations at once (a form posted twice) do the work
    and write the audit row once; the second finds nothing left to revoke.
    """
    if not Consent.objects.select_for_update().filter(pk=consent.pk).exists():
        return
    access, refresh = _grant_tokens(user=consent.user, tenant=consent.tenant, application=consent.application)
    audit_record(
        actor=actor,
        action=AuditAction.CONSENT_REVOKED,
        target=consent,
        tenant=consent.tenant,
        before={"scopes": sorted(s.name for s in consent.scopes.all())},
        after={"access_tokens_revoked": access.count(), "refresh_tokens_revoked": refresh.count()},
    )
    refresh.update(revoked=timezone.now())
    access.delete()
    Consent.objects.filter(pk=consent.pk).delete()


@transaction.atomic(savepoint=False)
def tokens_revoke(
    *,
    actor: User | None,
    access_tokens: Iterable[AccessToken] = (),
    refresh_tokens: Iterable[RefreshToken] = (),
    via: str = "admin",
) -> int:
    """Revoke tokens now (access tokens are deleted, refresh tokens marked revoked), with an audit row each.

    All or nothing, in the caller's transaction when there is one (every request runs in one):
    no savepoint of its own, which on the revocation endpoint cost two statements per request for
    a partial rollback no caller uses (an error here fails the whole request).
    """
    count = 0
    now = timezone.now()
    for token in access_tokens:
        audit_record(
            actor=actor,
            action=AuditAction.TOKEN_REVOKED,
            target=token,
            tenant=token.tenant,
            before={
                "kind": "access",
                "user": token.user.get_username() if token.user else None,
                "scope": token.scope,
                "via": via,
            },
        )
        _delete_access_token(token, now)
        count += 1
    for token in refresh_tokens:
        if token.revoked is not None:
            continue
        audit_record(
            actor=actor,
            action=AuditAction.TOKEN_REVOKED,
            target=token,
            tenant=token.tenant,
            before={"kind": "refresh", "user": token.user.get_username(), "via": via},
        )
        token.revoke()
        count += 1
    return count


def _delete_access_token(token: AccessToken, now: datetime) -> None:
    """Delete an access token, revoking its refresh token: on PostgreSQL in one statement.

    What `token.delete()` does (Django's collector: every relation's `on_delete`, a statement
    each) plus the product's rule that the refresh token goes with it, first: accounts.deletion
    says how, and why the refresh token is locked before the access token (the lock order of
    every other path; a reviewer reproduced a deadlock against a refresh the other way round).
    SQLite, which has no data-modifying `WITH`, and whatever the statement cannot write the same
    way go through the collector as before.
    """
    built = _delete_access_token_sql() if connection.vendor == "postgresql" else None
    if needs_collector(built):
        RefreshToken.objects.filter(access_token=token, revoked__isnull=True).update(revoked=now)
        token.delete()
        return
    assert built is not None
    # Planned once per connection (accounts.prepared): its planning, four tables' row-level
    # security, cost more than running it. The id as int8: one prepared statement for every id.
    ids = {"now": now, "id": Int8(token.pk)}
    prepared_execute(built.sql, [ids[argument] for argument in built.arguments])
    token.pk = None  # as `delete()` leaves it


@cache
def _delete_access_token_sql() -> Statement | None:
    """One access token deleted, its refresh token revoked and unlinked first (`tokens_revoke`)."""
    refresh = connection.ops.quote_name(RefreshToken._meta.db_table)
    return deletion_statement(
        AccessToken,
        first=[
            (
                "r0",
                f"UPDATE {refresh} SET revoked = coalesce(revoked, %s), access_token_id = NULL"  # noqa: S608 (a quoted table name)
                " WHERE access_token_id = %s RETURNING 1",
                ("now", "id"),
            )
        ],
        handled=RefreshToken,
        target="%s",
        target_arguments=("id",),
    )


def consent_form_use(*, nonce: str, lifetime: int) -> bool:
    """Use up a consent form's single-use nonce; False when it was used before, even a moment ago.

    The database's unique key decides, so two simultaneous posts of one form cannot both pass
    (a session or a cache read-then-write can). Forms older than `lifetime` seconds are refused by
    their signature anyway, so their rows are deleted here, keeping the table small.
    """
    now = timezone.now()
    ConsentFormUse.objects.filter(used_at__lt=now - timedelta(seconds=2 * lifetime)).delete()
    try:
        with transaction.atomic():
            ConsentFormUse.objects.create(
                nonce_hash=hashlib.sha256(nonce.encode("utf-8")).hexdigest(), used_at=now
            )
    except IntegrityError:
        return False
    return True


@transaction.atomic
def code_replay_revoke(*, code: str, application: Application) -> bool:
    """If this authorization code was used before, revoke every token issued from it; True if so.

    RFC 6749 section 4.1.2: a code used twice means one of the two users of it is not the client,
    so the tokens already issued from it are revoked too: the access token of the exchange and
    its refresh token's whole family (the tokens its rotations issued).
    """
    grant = (
        Grant.objects.select_for_update()
        .filter(code=code, application=application, used_at__isnull=False)
        .first()
    )
    if grant is None:
        return False
    issued = AccessToken.objects.filter(pk=grant.access_token_id) if grant.access_token_id else None
    token_family_revoke(
        token_family=grant.token_family,
        application=application,
        also=issued,
        via=f"authorization code replayed, client {application.client_id}",
    )
    return True


@transaction.atomic
def token_family_revoke(
    *,
    token_family: uuid.UUID | None,
    application: Application,
    also: QuerySet[AccessToken] | None = None,
    via: str,
) -> int:
    """Revoke a refresh token family: every refresh token of it and every access token they minted.

    `also` adds access tokens outside the family (the one a code exchange issued). Audited per
    token, like every revocation (`tokens_revoke`).
    """
    issued = Q(pk__in=also.values("pk")) if also is not None else Q(pk__in=[])
    if token_family is not None:
        issued |= Q(source_refresh_token__token_family=token_family)
    access = AccessToken.objects.filter(issued, application=application).select_related("user", "tenant")
    count = tokens_revoke(actor=None, access_tokens=list(access), via=via)
    if token_family is not None:
        refresh = RefreshToken.objects.filter(
            token_family=token_family, application=application, revoked__isnull=True
        ).select_related("user", "tenant")
        count += tokens_revoke(actor=None, refresh_tokens=list(refresh), via=via)
    return count
