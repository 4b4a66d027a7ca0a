"""Reads of the scope registry, role grants, app registrations and consents that several callers need."""

from __future__ import annotations

from collections import defaultdict
from datetime import timedelta

from django.db.models import Q, QuerySet
from django.utils import timezone

from accounts.models import Membership, Tenant, User
from accounts.selectors import admin_tenants
from scopes.access.rows import token_rows
from scopes.access.scope_registry import (  # noqa: F401 (its readers import it from here too)
    RegistrySnapshot,
    forget_registry,
    implication_graph,
    registry,
    registry_at,
    registry_version,
)
from scopes.access.standing import AuthorizationContext, TenantValues, UserValues, context_from
from scopes.access.tenancy import enter_tenant_of_access_token, token_checksum
from scopes.models import Application, RoleGrant, Scope
from scopes.registry import grant_reaches


def role_reaches(role_id: int) -> dict[str, str]:
    """Every scope a role covers (implications included) mapped to its reach."""
    grants = RoleGrant.objects.filter(role_id=role_id).values_list("scope__name", "reach")
    return grant_reaches(grants, registry().implications)


def hypothetical_context(*, user: User, tenant: Tenant, scopes: list[str]) -> AuthorizationContext:
    """The context a token with `scopes` for `user` in `tenant` would load: for the explain page."""
    membership = Membership.objects.filter(user=user, tenant=tenant).select_related("role").first()
    grants = (
        tuple(
            sorted(RoleGrant.objects.filter(role_id=membership.role_id).values_list("scope__name", "reach"))
        )
        if membership
        else ()
    )
    return AuthorizationContext(
        token_id=0,
        token_scopes=tuple(scopes),
        expires=timezone.now() + timedelta(hours=1),
        user=UserValues.of(user),
        tenant=TenantValues.of(tenant),
        role_id=membership.role_id if membership else None,
        role_name=membership.role.name if membership else None,
        role_grants=grants,
        implications=(snapshot := registry()).implications,
        # What each scope needs of the sign-in; a hypothetical token has no recorded sign-in.
        requirements=snapshot.requirements,
    )


def scope_usage(scope: Scope) -> dict[str, list[str]]:
    """Where a scope is used: roles that grant it, apps that may ask for it, scopes that imply it,
    consents that hold it; only the non-empty ones. A scope in use is never deleted
    (`scopes.services.scope_delete`), and the admin shows the same list."""
    if scope.pk is None:
        return {}
    usage: dict[str, list[str]] = defaultdict(list)
    for grant in scope.role_grants.select_related("role", "role__tenant"):
        usage["roles"].append(str(grant.role))
    for link in scope.application_links.select_related("application"):
        usage["applications"].append(str(link.application))
    usage["implied_by"] = [s.name for s in scope.implied_by.all()]
    usage["consents"] = [str(c) for c in scope.consents.select_related("user", "application", "tenant")]
    return {k: v for k, v in usage.items() if v}


def authorization_context(raw_token: str) -> AuthorizationContext | None:
    """What the API would load for this token, from the database (no cache): the explain page's view.

    None when no such token exists (unknown or revoked). Enters the token's tenant (PostgreSQL).
    """
    checksum = token_checksum(raw_token)
    if not enter_tenant_of_access_token(checksum):
        return None
    found = token_rows(checksum)
    if found is None:
        return None
    snapshot = registry()
    return context_from(found, snapshot.implications, snapshot.requirements)


def admin_applications(user: User) -> QuerySet[Application]:
    """The apps a user may see in the admin and the explain page: all for a superuser; else those
    usable in their tenants."""
    if user.is_superuser:
        return Application.objects.all()
    return Application.objects.filter(Q(tenant__isnull=True) | Q(tenant__in=admin_tenants(user)))
