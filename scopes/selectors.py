"""Reads of the scope registry and role grants that several callers need."""

from __future__ import annotations

from collections import defaultdict

from scopes.models import RoleGrant, Scope
from scopes.registry import grant_reaches


def implication_graph() -> dict[str, set[str]]:
    """Scope name -> names it directly implies, for every scope in the registry (one query)."""
    graph: dict[str, set[str]] = {name: set() for name in Scope.objects.values_list("name", flat=True)}
    through = Scope.implies.through.objects.values_list("from_scope__name", "to_scope__name")
    for source, target in through:
        graph[source].add(target)
    return graph


def role_reaches(role_id: int) -> dict[str, str]:
    """Every scope a role covers (implications included) mapped to its reach."""
    grants = RoleGrant.objects.filter(role_id=role_id).values_list("scope__name", "reach")
    return grant_reaches(grants, implication_graph())


def scope_usage(scope: Scope) -> dict[str, list[str]]:
    """Where a scope is used: roles that grant it, apps that may ask for it, scopes that imply it."""
    usage: dict[str, list[str]] = defaultdict(list)
    for grant in scope.role_grants.select_related("role", "role__tenant"):
        usage["roles"].append(str(grant.role))
    for link in scope.application_links.select_related("application"):
        usage["applications"].append(str(link.application))
    usage["implied_by"] = [s.name for s in scope.implied_by.all()]
    return dict(usage)
