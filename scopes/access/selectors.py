"""Reads of the scope registry, role grants, app registrations and consents that several callers need."""

from __future__ import annotations

import threading
from collections import defaultdict
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import timedelta

from django.db import connection
from django.db.models import Q, QuerySet
from django.utils import timezone

from accounts.models import Membership, Tenant, User
from accounts.selectors import admin_tenants
from scopes.access.freshness import EPOCH_TABLE
from scopes.access.rows import token_rows
from scopes.access.standing import AuthorizationContext, context_from
from scopes.access.tenancy import enter_tenant_of_access_token, token_checksum
from scopes.models import Application, RoleGrant, Scope
from scopes.registry import grant_reaches


@dataclass(frozen=True)
class RegistrySnapshot:
    """The whole scope registry: consent texts and the direct implication graph."""

    descriptions: dict[str, str]
    implications: dict[str, frozenset[str]]


_local_registry: tuple[object, RegistrySnapshot] | None = None
_registry_lock = threading.Lock()


def _build_registry() -> RegistrySnapshot:
    # One query: each scope once per scope it implies (once with None when it implies none).
    descriptions: dict[str, str] = {}
    graph: dict[str, set[str]] = defaultdict(set)
    for name, description, implied in Scope.objects.values_list("name", "description", "implies__name"):
        descriptions[name] = description
        if implied is not None:
            graph[name].add(implied)
    return RegistrySnapshot(descriptions, {name: frozenset(graph.get(name, ())) for name in descriptions})


def registry_version() -> object:
    """The registry's epoch: a value database triggers change with every scope or implication write."""
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute("SELECT scopes_registry_version()")
        else:
            cursor.execute(f"SELECT value FROM {EPOCH_TABLE} WHERE id = 1")  # noqa: S608 (a constant name)
        row = cursor.fetchone()
    return row[0] if row else None


def registry_at(version: object) -> RegistrySnapshot:
    """The registry as of epoch `version` (read by the caller): this process's copy, or one query.

    The rows are read after the epoch was, so a copy can only be newer than its epoch says; the
    next epoch read then differs and the copy is built again (`scopes.access.freshness`).
    """
    global _local_registry
    local = _local_registry
    if version is not None and local is not None and local[0] == version:
        return local[1]
    snapshot = _build_registry()
    if version is not None:
        with _registry_lock:
            _local_registry = (version, snapshot)
    return snapshot


# A snapshot held for the length of one request (`registry_held`): every step of it then sees
# the same registry, and the epoch is read once instead of once per step.
_held: ContextVar[RegistrySnapshot | None] = ContextVar("held_registry", default=None)


def registry() -> RegistrySnapshot:
    """The registry, fresh: one small statement reads the epoch; rebuilt (one query) after a change."""
    held = _held.get()
    return held if held is not None else registry_at(registry_version())


@contextmanager
def registry_held() -> Iterator[RegistrySnapshot]:
    """Read the registry once and let every `registry()` inside the block answer with that read.

    For one request that runs in one transaction (the consent page: its own steps, DOT's
    validation and the services it calls): a scope edit committed meanwhile is seen by the next
    request, exactly as if it had been committed a moment later.
    """
    snapshot = registry()
    token = _held.set(snapshot)
    try:
        yield snapshot
    finally:
        _held.reset(token)


def forget_registry() -> None:
    """Drop this process's copy (tests; never needed for correctness)."""
    global _local_registry
    _local_registry = None


def implication_graph() -> dict[str, set[str]]:
    """Scope name -> names it directly implies, fresh from the database (for edits that must see it)."""
    return {name: set(targets) for name, targets in _build_registry().implications.items()}


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
        user=user,
        tenant=tenant,
        role_id=membership.role_id if membership else None,
        role_name=membership.role.name if membership else None,
        role_grants=grants,
        implications=registry().implications,
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


def authorization_context(raw_token: str) -> AuthorizationContext | None:
    """What the API would load for this token, from the database (no cache): the explain page's view.

    None when no such token exists (unknown or revoked). Enters the token's tenant (PostgreSQL).
    """
    checksum = token_checksum(raw_token)
    if not enter_tenant_of_access_token(checksum):
        return None
    found = token_rows(checksum)
    return None if found is None else context_from(found, registry().implications)


def admin_applications(user: User) -> QuerySet[Application]:
    """The apps a user may see in the admin and the explain page: all for a superuser; else those
    usable in their tenants."""
    if user.is_superuser:
        return Application.objects.all()
    return Application.objects.filter(Q(tenant__isnull=True) | Q(tenant__in=admin_tenants(user)))
