"""Reads about who belongs where, shared by the API, the consent page and the admin."""

from __future__ import annotations

from django.db.models import Q, QuerySet

from accounts.models import Membership, Role, Tenant, User


def active_memberships_of(user: User) -> QuerySet[Membership]:
    """The user's memberships in active tenants, with tenant and role loaded."""
    return (
        Membership.objects.filter(user=user, tenant__is_active=True)
        .select_related("tenant", "role")
        .order_by("tenant__name")
    )


def membership_in(*, user: User, tenant: Tenant) -> Membership | None:
    """The user's membership in an active tenant, or None (not a member, or tenant inactive)."""
    return (
        Membership.objects.filter(user=user, tenant=tenant, tenant__is_active=True)
        .select_related("role")
        .first()
    )


def admin_tenants(user: User) -> QuerySet[Tenant]:
    """The tenants a user may manage in the admin: every tenant for a superuser, else their own.

    The admin's every staff changelist, form choice and page starts from this, so staff scoping
    is done by the ORM on SQLite exactly as row-level security does it on PostgreSQL.
    """
    if user.is_superuser:
        return Tenant.objects.all()
    return Tenant.objects.filter(pk__in=Membership.objects.filter(user=user).values("tenant_id"))


def admin_users(user: User) -> QuerySet[User]:
    """The people a user may see in the admin: everyone for a superuser, else the members of their tenants."""
    if user.is_superuser:
        return User.objects.all()
    return User.objects.filter(
        pk__in=Membership.objects.filter(tenant__in=admin_tenants(user)).values("user_id")
    )


def admin_roles(user: User) -> QuerySet[Role]:
    """The roles a user may see in the admin: the global templates and their tenants' own roles."""
    if user.is_superuser:
        return Role.objects.all()
    return Role.objects.filter(Q(tenant__isnull=True) | Q(tenant__in=admin_tenants(user)))
