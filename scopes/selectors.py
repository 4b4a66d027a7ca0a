"""Reads of the scope registry, role grants, app registrations and consents that several callers need."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass

from django.core.cache import cache
from django.db.models import QuerySet

from accounts.models import Tenant, User
from scopes.consent import AppScope
from scopes.models import Application, ApplicationScope, Consent, RoleGrant, Scope
from scopes.registry import grant_reaches

REGISTRY_CACHE_KEY = "scopes:registry:v1"
APP_SCOPES_CACHE_KEY = "scopes:app-scopes:v1:{pk}"


@dataclass(frozen=True)
class RegistrySnapshot:
    """The whole scope registry: consent texts and the direct implication graph."""

    descriptions: dict[str, str]
    implications: dict[str, frozenset[str]]


def _build_registry() -> RegistrySnapshot:
    descriptions = dict(Scope.objects.values_list("name", "description"))
    graph: dict[str, set[str]] = defaultdict(set)
    for source, target in Scope.implies.through.objects.values_list("from_scope__name", "to_scope__name"):
        graph[source].add(target)
    return RegistrySnapshot(descriptions, {name: frozenset(graph.get(name, ())) for name in descriptions})


def registry() -> RegistrySnapshot:
    """The registry, from the shared cache; rebuilt (two queries) after any scope change."""
    snapshot = cache.get(REGISTRY_CACHE_KEY)
    if snapshot is None:
        snapshot = _build_registry()
        cache.set(REGISTRY_CACHE_KEY, snapshot, timeout=None)
    return snapshot


def implication_graph() -> dict[str, set[str]]:
    """Scope name -> names it directly implies, fresh from the database (for edits that must see it)."""
    return {name: set(targets) for name, targets in _build_registry().implications.items()}


def app_scopes(application: Application) -> dict[str, AppScope]:
    """The scopes an app may ask for, with its `required` flag and reason (cached per app)."""
    key = APP_SCOPES_CACHE_KEY.format(pk=application.pk)
    result = cache.get(key)
    if result is None:
        links = ApplicationScope.objects.filter(application=application).values_list(
            "scope__name", "required", "reason"
        )
        result = {name: AppScope(required, reason) for name, required, reason in links}
        cache.set(key, result, timeout=None)
    return result


def role_reaches(role_id: int) -> dict[str, str]:
    """Every scope a role covers (implications included) mapped to its reach."""
    grants = RoleGrant.objects.filter(role_id=role_id).values_list("scope__name", "reach")
    return grant_reaches(grants, registry().implications)


def consent_for(*, user: User, tenant: Tenant, application: Application) -> Consent | None:
    """The remembered consent of a user for an app in a tenant, or None."""
    return (
        Consent.objects.filter(user=user, tenant=tenant, application=application)
        .prefetch_related("scopes")
        .first()
    )


def consented_scope_names(consent: Consent | None) -> list[str]:
    return sorted(s.name for s in consent.scopes.all()) if consent else []


def consents_of(user: User) -> QuerySet[Consent]:
    """A user's consents in active tenants, for the connected-apps page."""
    return (
        Consent.objects.filter(user=user, tenant__is_active=True)
        .select_related("tenant", "application")
        .prefetch_related("scopes")
        .order_by("tenant__name", "application__name")
    )


def scope_usage(scope: Scope) -> dict[str, list[str]]:
    """Where a scope is used: roles that grant it, apps that may ask for it, scopes that imply it."""
    usage: dict[str, list[str]] = defaultdict(list)
    for grant in scope.role_grants.select_related("role", "role__tenant"):
        usage["roles"].append(str(grant.role))
    for link in scope.application_links.select_related("application"):
        usage["applications"].append(str(link.application))
    usage["implied_by"] = [s.name for s in scope.implied_by.all()]
    return dict(usage)
