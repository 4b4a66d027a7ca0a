"""Writes to the scope registry and to consents; consent changes reach live tokens at once."""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Iterable
from datetime import timedelta

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.db.models import Q, QuerySet
from django.utils import timezone

from accounts.constants import AuditAction
from accounts.models import Membership, Role, Tenant, User
from accounts.services import audit_record
from scopes.consent import cap_scopes
from scopes.constants import ScopeName
from scopes.models import AccessToken, Application, Consent, ConsentFormUse, Grant, RefreshToken, Scope
from scopes.registry import closure, find_cycle, grant_reaches, wider_reach
from scopes.selectors import implication_graph, registry, role_reaches


def check_implications(*, scope_name: str, implies: Iterable[str]) -> None:
    """Raise ValidationError naming the cycle if `scope_name` implying `implies` would close one."""
    graph = implication_graph()
    graph[scope_name] = set(implies)
    cycle = find_cycle(graph)
    if cycle:
        raise ValidationError(
            "These implications would form a cycle: %(cycle)s.",
            code="implication_cycle",
            params={"cycle": " → ".join(cycle)},
        )


@transaction.atomic
def scope_set_implications(*, actor: User | None, scope: Scope, implies: Iterable[Scope]) -> Scope:
    """Replace the scopes `scope` directly implies, refusing any cycle."""
    implied = list(implies)
    # Lock the registry rows so two concurrent edits cannot each close half of a cycle.
    list(Scope.objects.select_for_update().order_by("pk").values_list("pk", flat=True))
    check_implications(scope_name=scope.name, implies=[s.name for s in implied])
    scope.implies.set(implied)
    return scope


def _grant_tokens(*, user: User, tenant: Tenant, application: Application) -> tuple[QuerySet, QuerySet]:
    access = AccessToken.objects.filter(user=user, tenant=tenant, application=application)
    refresh = RefreshToken.objects.filter(
        user=user, tenant=tenant, application=application, revoked__isnull=True
    )
    return access, refresh


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
    taken_back = closure(withdraw, implications) - closure(scopes, implications)
    if taken_back & closure(before, implications):
        allowed = closure(before, implications) - taken_back
        kept = cap_scopes(before, allowed=frozenset(allowed), implications=implications)
        consent.scopes.set(Scope.objects.filter(name__in=set(kept) | set(scopes)))
        _cap_grant_tokens(consent, allowed=closure(set(kept) | set(scopes), implications))
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


def _is_member(actor: User, tenant: Tenant | None) -> bool:
    # An unsaved tenant (being added in the admin) has no members yet: nobody belongs to it.
    return (
        tenant is not None
        and tenant.pk is not None
        and Membership.objects.filter(user=actor, tenant=tenant).exists()
    )


def _actor_reaches(actor: User, tenant: Tenant | None) -> dict[str, str]:
    if tenant is None or tenant.pk is None:
        return {}
    membership = Membership.objects.filter(user=actor, tenant=tenant).only("role_id").first()
    return role_reaches(membership.role_id) if membership else {}


def _beyond(actor: User, tenant: Tenant | None, reaches: dict[str, str]) -> list[str]:
    """What in `reaches` the actor's own role in `tenant` does not cover: a scope, or a wider reach."""
    mine = _actor_reaches(actor, tenant)
    return sorted(
        f"{scope} ({reach})"
        for scope, reach in reaches.items()
        if wider_reach(mine.get(scope), reach) != mine.get(scope)
    )


def check_no_escalation(*, actor: User, tenant: Tenant | None, reaches: dict[str, str]) -> None:
    """Refuse to let a non-superuser hand out a scope at a reach they do not hold in that tenant."""
    if actor.is_superuser:
        return
    beyond = _beyond(actor, tenant, reaches)
    if beyond:
        where = f"in {tenant.name}" if tenant is not None else "globally"
        raise ValidationError(
            "You cannot give %(what)s %(where)s: your own role does not hold it.",
            code="escalation",
            params={"what": ", ".join(beyond), "where": where},
        )


def check_manages_tenant(*, actor: User, tenant: Tenant | None) -> None:
    """Refuse a non-superuser acting in a tenant they do not belong to (or a tenant not yet saved)."""
    if not actor.is_superuser and not _is_member(actor, tenant):
        raise ValidationError(
            "Only a superuser manages a tenant you are not a member of.", code="not_your_tenant"
        )


def check_not_stronger(*, actor: User, tenant: Tenant, role: Role, what: str) -> None:
    """Refuse a non-superuser acting on `what` (a member, a role) whose `role` reaches further than theirs."""
    if actor.is_superuser:
        return
    beyond = _beyond(actor, tenant, role_reaches(role.pk))
    if beyond:
        raise ValidationError(
            "You cannot change or remove %(what)s: the role %(role)s holds %(beyond)s in %(tenant)s, "
            "which your own role does not.",
            code="stronger",
            params={"what": what, "role": role.name, "beyond": ", ".join(beyond), "tenant": tenant.name},
        )


def check_role_assignable(*, actor: User, tenant: Tenant, role: Role) -> None:
    """A non-superuser may give only a role whose grants they hold themselves in that tenant."""
    check_no_escalation(actor=actor, tenant=tenant, reaches=role_reaches(role.pk))


def check_membership_rule(*, actor: User, tenant: Tenant, current: Role | None, new: Role | None) -> None:
    """The membership rule `accounts.services` runs on every write by a person (installed at start-up).

    Nobody but a superuser acts in a tenant they do not belong to, changes or removes a member
    whose current role reaches further than their own there, or gives a role that does.
    """
    check_manages_tenant(actor=actor, tenant=tenant)
    if current is not None:
        check_not_stronger(actor=actor, tenant=tenant, role=current, what="this membership")
    if new is not None:
        check_role_assignable(actor=actor, tenant=tenant, role=new)


def role_stored_tenant(role: Role) -> Tenant | None:
    """The tenant a saved role belongs to in the database, whatever a form has set on the instance.

    Every rule about a role's grants is judged in this tenant: a staff user cannot move a role
    into a tenant where they are stronger and have it judged there.
    """
    if role.pk is None:
        return role.tenant
    return Tenant.objects.filter(roles__pk=role.pk).first()


def check_role_editable(*, actor: User, role: Role) -> None:
    """A non-superuser changes or deletes only their own tenants' roles, and none stronger than theirs."""
    if actor.is_superuser:
        return
    tenant = role_stored_tenant(role)
    if role.pk is not None and tenant is None:
        raise ValidationError("Only a superuser changes a global role.", code="global_role")
    check_manages_tenant(actor=actor, tenant=tenant)
    if role.pk is not None and tenant is not None:
        check_not_stronger(actor=actor, tenant=tenant, role=role, what=f"the role {role.name}")


def check_grants_assignable(*, actor: User, tenant: Tenant | None, grants: Iterable[tuple[str, str]]) -> None:
    """A non-superuser may give a role only grants they hold themselves in that tenant."""
    check_no_escalation(actor=actor, tenant=tenant, reaches=grant_reaches(grants, registry().implications))


def check_role_grants(*, actor: User, role: Role, grants: Iterable[tuple[str, str]]) -> None:
    """The whole rule for writing `grants` on `role`: the role is the actor's to edit, the grants theirs to give."""
    check_role_editable(actor=actor, role=role)
    check_grants_assignable(actor=actor, tenant=role_stored_tenant(role), grants=grants)


@transaction.atomic
def tokens_revoke(
    *,
    actor: User | None,
    access_tokens: Iterable[AccessToken] = (),
    refresh_tokens: Iterable[RefreshToken] = (),
    via: str = "admin",
) -> int:
    """Revoke tokens now (access tokens are deleted, refresh tokens marked revoked), with an audit row each."""
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
        RefreshToken.objects.filter(access_token=token, revoked__isnull=True).update(revoked=now)
        token.delete()
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
