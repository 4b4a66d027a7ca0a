"""Who may hand out which rights: nobody but a superuser gives, changes or removes more than their
own role holds in that tenant. Asked by the role and membership services (`scopes.roles.services`,
again under their row locks), by the admin to show a refusal before anything is written, and by
every service that assigns a role or a grant.

Not pure: a rule reads the actor's own membership and what a role reaches (`role_reaches`), which
is the point (the actor's rights now, not as a form saw them). Nothing here writes."""

from __future__ import annotations

from collections.abc import Iterable

from django.core.exceptions import ValidationError

from accounts.models import Membership, Role, Tenant, User
from scopes.access.selectors import registry, role_reaches
from scopes.registry import grant_reaches, wider_reach


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


def check_membership_change(
    *, actor: User | None, tenant: Tenant, current: Role | None, new: Role | None
) -> None:
    """Refuse a change of someone's place in `tenant` from role `current` (None: not a member) to `new`.

    `actor=None` is the system (seeding, scripts); a superuser is the platform operator. Anyone
    else may not act in a tenant they do not belong to, act on a member whose current role reaches
    further than their own there, or hand out such a role: the admin asks this to show the error,
    the membership services ask it again under the row lock.
    """
    if new is not None and not new.usable_in(tenant.pk):
        raise ValidationError({"role": f"The role {new.name!r} belongs to another tenant."})
    if actor is None or actor.is_superuser:
        return
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
