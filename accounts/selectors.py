"""Reads about who belongs where, shared by the API, the consent page and the admin."""

from __future__ import annotations

from django.db.models import QuerySet

from accounts.models import Membership, Tenant, User


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
