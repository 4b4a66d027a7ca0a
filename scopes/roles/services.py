"""Writes to roles, their grants and memberships: the only way code changes who may do what.

Each service takes the acting person (`None`: the system, for seeding and scripts), locks the row
it judges, asks the rule (`scopes.roles.rules`) under that lock, writes and records one audit row
per changed row in the same transaction. The admin, the pages and the commands call these; the
admin's forms ask the same rules first only to show a refusal as a form error.

Role writes do not enter a tenant themselves (unlike memberships): a global role has none, and a
superuser moving a role between tenants must still see the stored row; they run in what the
caller's request already sees (the admin's tenants, or a service's own tenant).
"""

from __future__ import annotations

from collections.abc import Iterable

from django.db import transaction

from accounts.constants import AuditAction
from accounts.models import Membership, Role, Tenant, User
from accounts.services import audit_record, snapshot
from accounts.tenancy import writes_in_tenant
from scopes.models import RoleGrant, Scope
from scopes.roles.rules import (
    check_membership_change,
    check_role_editable,
    check_role_grants,
    role_stored_tenant,
)


def _locked_membership(*, user: User, tenant: Tenant) -> Membership | None:
    return (
        Membership.objects.select_for_update(of=("self",))
        .filter(user=user, tenant=tenant)
        .select_related("role")
        .first()
    )


@writes_in_tenant(lambda a: a["tenant"].pk)
@transaction.atomic
def membership_set(*, actor: User | None, user: User, tenant: Tenant, role: Role) -> Membership:
    """Give `user` the role `role` in `tenant`, creating the membership if needed."""
    existing = _locked_membership(user=user, tenant=tenant)
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
    membership = _locked_membership(user=user, tenant=tenant)
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


def _check_role(actor: User | None, role: Role) -> None:
    if actor is not None:
        check_role_editable(actor=actor, role=role)


@transaction.atomic
def role_save(*, actor: User | None, role: Role) -> Role:
    """Create `role`, or store the changes already set on it (name, description, tenant).

    The stored row is locked and the rule judges the role in its stored tenant, so a form that
    moved it cannot have it judged where the actor is stronger.
    """
    before = None
    if role.pk is not None:
        stored = Role.objects.select_for_update().filter(pk=role.pk).first()
        before = snapshot(stored) if stored is not None else None
    _check_role(actor, role)
    created = before is None
    role.save()
    after = snapshot(role)
    if created or before != after:
        audit_record(
            actor=actor,
            action=AuditAction.ROLE_CREATED if created else AuditAction.ROLE_CHANGED,
            target=role,
            tenant=role.tenant,
            before=before,
            after=after,
        )
    return role


@transaction.atomic
def role_delete(*, actor: User | None, role: Role) -> None:
    """Delete `role` (and its grants); a role someone still holds is protected by the database."""
    Role.objects.select_for_update().filter(pk=role.pk).exists()
    _check_role(actor, role)
    audit_record(
        actor=actor, action=AuditAction.ROLE_DELETED, target=role, tenant=role.tenant, before=snapshot(role)
    )
    role.delete()


@transaction.atomic
def role_grants_set(
    *, actor: User | None, role: Role, grants: Iterable[tuple[Scope, str]]
) -> list[RoleGrant]:
    """Make `role`'s grants exactly `grants` ((scope, reach) pairs); returns them, in scope order.

    The role row is locked, then the rule asks whether the actor may edit this role and give every
    grant in it, judged in the role's stored tenant. Each grant added, changed or removed is
    audited on its own (`grant.created`, `grant.changed`, `grant.deleted`, the row's fields).
    """
    wanted = {scope.pk: (scope, reach) for scope, reach in grants}
    Role.objects.select_for_update().filter(pk=role.pk).exists()
    if actor is not None:
        check_role_grants(
            actor=actor, role=role, grants=[(scope.name, reach) for scope, reach in wanted.values()]
        )
    tenant = role_stored_tenant(role)
    stored = {g.scope_id: g for g in RoleGrant.objects.select_related("scope", "role").filter(role=role)}
    for scope_id, grant in stored.items():
        if scope_id not in wanted:
            audit_record(
                actor=actor,
                action=AuditAction.GRANT_DELETED,
                target=grant,
                tenant=tenant,
                before=snapshot(grant),
            )
            grant.delete()
    for scope_id, (scope, reach) in wanted.items():
        found = stored.get(scope_id)
        if found is None:
            grant = RoleGrant.objects.create(role=role, scope=scope, reach=reach)
            audit_record(
                actor=actor,
                action=AuditAction.GRANT_CREATED,
                target=grant,
                tenant=tenant,
                after=snapshot(grant),
            )
        elif found.reach != reach:
            before = snapshot(found)
            found.reach = reach
            found.save(update_fields=["reach"])
            audit_record(
                actor=actor,
                action=AuditAction.GRANT_CHANGED,
                target=found,
                tenant=tenant,
                before=before,
                after=snapshot(found),
            )
    return list(RoleGrant.objects.select_related("scope").filter(role=role).order_by("scope__name"))
