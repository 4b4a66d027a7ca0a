"""Writes to memberships: the only way code adds, changes or removes a user's place in a tenant."""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.db import transaction

from accounts.models import Membership, Role, Tenant, User


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
    if not created and membership.role_id != role.pk:
        membership.role = role
        membership.save(update_fields=["role"])
    return membership


@transaction.atomic
def membership_remove(*, actor: User | None, user: User, tenant: Tenant) -> bool:
    """Remove `user` from `tenant`; True if there was a membership to remove."""
    deleted, _ = Membership.objects.filter(user=user, tenant=tenant).delete()
    return deleted > 0
