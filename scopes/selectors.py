"""Reads of the scope registry, role grants, app registrations and consents that several callers need."""

from __future__ import annotations

import secrets
from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.core.cache import cache
from django.db.models import F, FilteredRelation, Q, QuerySet
from django.utils import timezone

from accounts.models import Membership, Tenant, User
from scopes.consent import AppScope, ConsentPlan, plan_consent
from scopes.models import AccessToken, Application, ApplicationScope, Consent, RoleGrant, Scope
from scopes.registry import grant_reaches
from scopes.tenancy import enter_tenant_of_access_token, token_checksum

# The registry's stamp: a random value, deleted by every scope or implication change; the snapshot
# is stored under it, and each process keeps the last snapshot it saw beside the stamp it was read under.
REGISTRY_STAMP_KEY = "scopes:registry:stamp"
REGISTRY_CACHE_KEY = "scopes:registry:v2:{stamp}"
REGISTRY_TIMEOUT = 24 * 3600
APP_SCOPES_CACHE_KEY = "scopes:app-scopes:v1:{pk}"
_UNREAD = object()


@dataclass(frozen=True)
class RegistrySnapshot:
    """The whole scope registry: consent texts and the direct implication graph."""

    descriptions: dict[str, str]
    implications: dict[str, frozenset[str]]


def _build_registry() -> RegistrySnapshot:
    # One query: each scope once per scope it implies (once with None when it implies none).
    descriptions: dict[str, str] = {}
    graph: dict[str, set[str]] = defaultdict(set)
    for name, description, implied in Scope.objects.values_list("name", "description", "implies__name"):
        descriptions[name] = description
        if implied is not None:
            graph[name].add(implied)
    return RegistrySnapshot(descriptions, {name: frozenset(graph.get(name, ())) for name in descriptions})


def new_stamp() -> str:
    """A fresh cache stamp: random, so a stamp deleted and created again never matches an old one."""
    return secrets.token_hex(8)


_local_registry: tuple[str, RegistrySnapshot] | None = None


def registry(stamp: object = _UNREAD) -> RegistrySnapshot:
    """The registry, checked against the shared stamp; rebuilt (one query) after any scope change.

    A caller that already read REGISTRY_STAMP_KEY (the authorization fast path reads it with the
    token's entry) passes it as `stamp`, so a warm call costs no cache round trip at all.
    """
    global _local_registry
    if stamp is _UNREAD:
        stamp = cache.get(REGISTRY_STAMP_KEY)
    if stamp is None:
        cache.add(REGISTRY_STAMP_KEY, new_stamp(), timeout=REGISTRY_TIMEOUT)
        stamp = cache.get(REGISTRY_STAMP_KEY)
        if stamp is None:  # a cache that keeps nothing (DummyCache)
            return _build_registry()
    local = _local_registry
    if local is not None and local[0] == stamp:
        return local[1]
    key = REGISTRY_CACHE_KEY.format(stamp=stamp)
    snapshot = cache.get(key)
    if snapshot is None:
        # Read after the stamp: a change committing meanwhile deletes this stamp, so rows read
        # before that commit are never served under the stamp that follows it.
        snapshot = _build_registry()
        cache.set(key, snapshot, timeout=REGISTRY_TIMEOUT)
    _local_registry = (str(stamp), snapshot)
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


def consent_plan(
    application: Application, membership: Membership, requested: list[str], *, fresh: bool
) -> ConsentPlan:
    """What the consent page shows this member for these scopes (fresh: ignore remembered consent)."""
    snapshot = registry()
    previous = (
        []
        if fresh
        else consented_scope_names(
            consent_for(user=membership.user, tenant=membership.tenant, application=application)
        )
    )
    return plan_consent(
        requested=requested,
        app_scopes=app_scopes(application),
        role_covered=frozenset(role_reaches(membership.role_id)),
        implications=snapshot.implications,
        descriptions=snapshot.descriptions,
        previously_granted=previous,
        role_label=membership.role.name,
        tenant_label=membership.tenant.name,
    )


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


@dataclass(frozen=True)
class AuthorizationContext:
    """Everything a request's authorization needs, read together at request time."""

    token_id: int
    token_scopes: tuple[str, ...]
    expires: datetime
    user: User | None
    tenant: Tenant
    role_id: int | None
    role_name: str | None
    role_grants: tuple[tuple[str, str], ...]
    # The scope implication graph as of this request: read with the rest, so one request decides,
    # and writes its headers, under one registry.
    implications: Mapping[str, frozenset[str]] = field(compare=False, repr=False)

    @property
    def is_member(self) -> bool:
        return self.role_id is not None

    def problem(self, now: datetime) -> str | None:
        """Why the token itself cannot be used (None: it can)."""
        if now >= self.expires:
            return "the token has expired"
        if self.user is None or not self.user.is_active:
            return "the token's user is not active"
        return None


def authorization_context(raw_token: str) -> AuthorizationContext | None:
    """Token, user, tenant, the user's membership there and its role grants, in ONE query.

    Always from the database: the admin's explain page uses it as is, the API through the cache
    in `scopes.context_cache`. None when no such token exists (unknown or revoked: DOT deletes
    revoked access tokens).
    """
    return context_for_checksum(token_checksum(raw_token), snapshot=registry())


def context_for_checksum(checksum: str, *, snapshot: RegistrySnapshot) -> AuthorizationContext | None:
    """The one query behind `authorization_context`, for a token known by its checksum.

    The token row is joined to its user and tenant, and (left outer) to the user's membership
    in the token's tenant, its role and the role's grants: one row per grant. None when no such
    token exists (unknown or revoked: DOT deletes revoked access tokens).

    On PostgreSQL the query runs under row-level security, so the token's tenant is entered
    first, by one statement through a SECURITY DEFINER resolver (scopes.tenancy); an unknown
    token enters nothing and costs no second query. The cache (scopes.context_cache) calls this
    only on a miss; on a hit BearerTokenAuthentication enters `context.tenant` itself.
    """
    if not enter_tenant_of_access_token(checksum):
        return None
    rows = list(
        AccessToken.objects.filter(token_checksum=checksum)
        .select_related("user", "tenant")
        .annotate(
            membership=FilteredRelation(
                "user__memberships", condition=Q(user__memberships__tenant_id=F("tenant_id"))
            ),
            ctx_role_id=F("membership__role_id"),
            ctx_role_name=F("membership__role__name"),
            ctx_grant_scope=F("membership__role__grants__scope__name"),
            ctx_grant_reach=F("membership__role__grants__reach"),
        )
    )
    if not rows:
        return None
    first = rows[0]
    grants = tuple(
        sorted((row.ctx_grant_scope, row.ctx_grant_reach) for row in rows if row.ctx_grant_scope is not None)
    )
    return AuthorizationContext(
        token_id=first.pk,
        token_scopes=tuple(first.scope.split()),
        expires=first.expires,
        user=first.user,
        tenant=first.tenant,
        role_id=first.ctx_role_id,
        role_name=first.ctx_role_name,
        role_grants=grants,
        implications=snapshot.implications,
    )
