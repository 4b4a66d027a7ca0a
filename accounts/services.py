"""Writes to memberships: the only way code adds, changes or removes a user's place in a tenant."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, Protocol

from django.core.exceptions import ImproperlyConfigured, ValidationError
from django.db import models, transaction

from accounts.constants import AuditAction
from accounts.models import AuditEvent, Membership, Role, Tenant, User
from accounts.tenancy import writes_in_tenant


def audit_record(
    *,
    actor: User | None,
    action: AuditAction,
    target: models.Model,
    tenant: Tenant | None = None,
    before: dict[str, Any] | None = None,
    after: dict[str, Any] | None = None,
) -> AuditEvent:
    """Write one audit row; callers run it inside the transaction of the change it records."""
    return AuditEvent.objects.create(
        actor=actor if actor is not None and actor.pk else None,
        actor_label=actor.get_username() if actor is not None and actor.pk else "",
        tenant=tenant,
        tenant_label=tenant.slug if tenant else "",
        action=action,
        target_type=target._meta.label,
        target_id=str(target.pk or ""),
        target_label=str(target)[:300],
        before=before,
        after=after,
    )


def _check_role_usable(role: Role, tenant: Tenant) -> None:
    if not role.usable_in(tenant.pk):
        raise ValidationError({"role": f"The role {role.name!r} belongs to another tenant."})


class MembershipRule(Protocol):
    """Raises ValidationError when `actor` may not move a member of `tenant` from `current` to `new`."""

    def __call__(self, *, actor: User, tenant: Tenant, current: Role | None, new: Role | None) -> None: ...


# What a role "reaches" is known only to `scopes` (its grants), which this app must not import:
# scopes installs its rule here at start-up (ScopesConfig.ready). Unset, every non-superuser
# actor is refused: the membership services fail closed.
_membership_rule: MembershipRule | None = None


def set_membership_rule(rule: MembershipRule) -> None:
    """Install the check every membership write by a person runs (scopes' "no further than your own")."""
    global _membership_rule
    _membership_rule = rule


class RoleRule(Protocol):
    """Raises ValidationError when `actor` may not change or delete `role` (or create it, unsaved)."""

    def __call__(self, *, actor: User, role: Role) -> None: ...


# Like the membership rule: what a role reaches is scopes' to judge (ScopesConfig.ready installs it).
_role_rule: RoleRule | None = None


def set_role_rule(rule: RoleRule) -> None:
    """Install the check every change of a role by a person runs (scopes' "no further than your own")."""
    global _role_rule
    _role_rule = rule


def check_role_change(*, actor: User, role: Role) -> None:
    """Refuse `actor` changing, creating or deleting `role` beyond what their own role holds."""
    if _role_rule is None:
        raise ImproperlyConfigured("No role rule is installed: is the scopes app loaded?")
    _role_rule(actor=actor, role=role)


def check_membership_change(
    *, actor: User | None, tenant: Tenant, current: Role | None, new: Role | None
) -> None:
    """Refuse a change of someone's place in `tenant` from role `current` (None: not a member) to `new`.

    `actor=None` is the system (seeding, scripts); a superuser is the platform operator. Anyone
    else may neither act on a member whose current role reaches further than their own in that
    tenant nor hand out such a role: the admin asks this to show the error, the writes below ask
    it again under the row lock.
    """
    if new is not None:
        _check_role_usable(new, tenant)
    if actor is None or actor.is_superuser:
        return
    if _membership_rule is None:
        raise ImproperlyConfigured("No membership rule is installed: is the scopes app loaded?")
    _membership_rule(actor=actor, tenant=tenant, current=current, new=new)


@writes_in_tenant(lambda a: a["tenant"].pk)
@transaction.atomic
def membership_set(*, actor: User | None, user: User, tenant: Tenant, role: Role) -> Membership:
    """Give `user` the role `role` in `tenant`, creating the membership if needed."""
    existing = (
        Membership.objects.select_for_update(of=("self",))
        .filter(user=user, tenant=tenant)
        .select_related("role")
        .first()
    )
    check_membership_change(actor=actor, tenant=tenant, current=existing.role if existing else None, new=role)
    created = existing is None
    membership = existing or Membership.objects.create(user=user, tenant=tenant, role=role)
    if created:
        audit_record(
            actor=actor,
            action=AuditAction.MEMBERSHIP_CREATED,
            target=membership,
            tenant=tenant,
            after={"user": user.get_username(), "role": role.name},
        )
    elif membership.role_id != role.pk:
        before = {"user": user.get_username(), "role": membership.role.name}
        membership.role = role
        membership.save(update_fields=["role"])
        audit_record(
            actor=actor,
            action=AuditAction.MEMBERSHIP_CHANGED,
            target=membership,
            tenant=tenant,
            before=before,
            after={"user": user.get_username(), "role": role.name},
        )
    return membership


@writes_in_tenant(lambda a: a["tenant"].pk)
@transaction.atomic
def membership_remove(*, actor: User | None, user: User, tenant: Tenant) -> bool:
    """Remove `user` from `tenant`; True if there was a membership to remove."""
    membership = (
        Membership.objects.select_for_update(of=("self",))
        .filter(user=user, tenant=tenant)
        .select_related("role")
        .first()
    )
    if membership is None:
        return False
    check_membership_change(actor=actor, tenant=tenant, current=membership.role, new=None)
    audit_record(
        actor=actor,
        action=AuditAction.MEMBERSHIP_REMOVED,
        target=membership,
        tenant=tenant,
        before={"user": user.get_username(), "role": membership.role.name},
    )
    membership.delete()
    return True


# Django's own powers: whoever holds them reaches every tenant, so only a superuser hands them out.
PRIVILEGED_USER_FIELDS = frozenset({"is_superuser", "is_staff", "groups", "user_permissions"})


def check_user_change(*, actor: User, user: User, changed: Iterable[str] = ()) -> None:
    """Refuse a non-superuser changing another person's account, or anyone's Django powers.

    An account (password, e-mail, being active) is the person's in every tenant they belong to,
    tenants a staff member may not even see; so staff change only their own, and manage
    everyone else through memberships, which are tenant-scoped. Superuser, staff, groups and
    permissions reach every tenant: only a superuser changes them, for anyone.
    """
    if actor.is_superuser:
        return
    if actor.pk != user.pk:
        raise ValidationError(
            "Only a superuser changes another person's account; change their membership instead.",
            code="not_your_account",
        )
    touched = sorted(PRIVILEGED_USER_FIELDS.intersection(changed))
    if touched:
        raise ValidationError(
            "Only a superuser changes %(fields)s.",
            code="privileged_field",
            params={"fields": ", ".join(touched)},
        )


@transaction.atomic
def user_update(*, actor: User, user: User, changed: Iterable[str]) -> User:
    """Save changes to an account (fields already set on `user`), after the check above."""
    changed = list(changed)
    check_user_change(actor=actor, user=user, changed=changed)
    user.save()
    return user
