"""Writes to memberships: the only way code adds, changes or removes a user's place in a tenant."""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ValidationError
from django.db import models, transaction

from accounts.constants import AuditAction
from accounts.models import AuditEvent, Membership, Role, Tenant, User


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


@transaction.atomic
def membership_set(*, actor: User | None, user: User, tenant: Tenant, role: Role) -> Membership:
    """Give `user` the role `role` in `tenant`, creating the membership if needed."""
    _check_role_usable(role, tenant)
    membership, created = Membership.objects.select_for_update().get_or_create(
        user=user, tenant=tenant, defaults={"role": role}
    )
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


@transaction.atomic
def membership_remove(*, actor: User | None, user: User, tenant: Tenant) -> bool:
    """Remove `user` from `tenant`; True if there was a membership to remove."""
    membership = Membership.objects.select_for_update().filter(user=user, tenant=tenant).first()
    if membership is None:
        return False
    audit_record(
        actor=actor,
        action=AuditAction.MEMBERSHIP_REMOVED,
        target=membership,
        tenant=tenant,
        before={"user": user.get_username(), "role": membership.role.name},
    )
    membership.delete()
    return True
