"""The configuration as the database holds it now, as a document (what `export_config` writes and
what `apply_config` compares a file with). Reads only.

Left out, because they are not configuration: people, memberships, consents and tokens; the apps
of service accounts (made, rotated and deleted with their account) and the personal-token app
(the server's own). A caller on PostgreSQL runs this with every tenant entered (row-level security
would otherwise hide the tenants' roles and policies): `tenancy.enter(tenant_ids=...)`.
"""

from __future__ import annotations

from collections import defaultdict

from django.db.models import Q

from accounts.models import Role, Tenant
from scopes.config.document import (
    AppScopeSpec,
    AppSpec,
    Document,
    RoleSpec,
    ScopeSpec,
    TenantAppSpec,
    TenantSpec,
)
from scopes.machines.models import PERSONAL_TOKENS_CLIENT_ID, ServiceAccount, TokenPolicy
from scopes.models import Application, ApplicationScope, RoleGrant, Scope
from scopes.tenant_policy.models import TenantApp, TenantAppPolicy


def managed_applications() -> Q:
    """The apps a document describes: all but service accounts' and the personal-token app."""
    return ~Q(client_id=PERSONAL_TOKENS_CLIENT_ID) & ~Q(
        pk__in=ServiceAccount.objects.values("application_id")
    )


def current() -> Document:
    """Everything a document describes, as stored now, in the document's order."""
    implies: dict[int, list[str]] = defaultdict(list)
    for source, target in Scope.implies.through.objects.values_list("from_scope_id", "to_scope__name"):
        implies[source].append(target)
    scopes = tuple(
        ScopeSpec(
            name=s.name,
            description=s.description,
            implies=tuple(sorted(implies[s.pk])),
            required_acr=s.required_acr,
            max_age=s.max_age,
        )
        for s in Scope.objects.order_by("name")
    )
    grants: dict[int, list[tuple[str, str]]] = defaultdict(list)
    for role_id, scope, reach in RoleGrant.objects.values_list("role_id", "scope__name", "reach"):
        grants[role_id].append((scope, reach))
    roles = tuple(
        sorted(
            (
                RoleSpec(
                    name=r.name,
                    tenant=r.tenant.slug if r.tenant else None,
                    description=r.description,
                    grants=tuple(sorted(grants[r.pk])),
                )
                for r in Role.objects.select_related("tenant")
            ),
            key=lambda r: (r.tenant or "", r.name),
        )
    )
    links: dict[int, list[tuple[str, AppScopeSpec]]] = defaultdict(list)
    for link in ApplicationScope.objects.select_related("scope"):
        links[link.application_id].append((link.scope.name, AppScopeSpec(link.required, link.reason)))
    apps = tuple(
        AppSpec(
            client_id=a.client_id,
            name=a.name,
            publisher=a.publisher,
            client_type=a.client_type,
            grant_type=a.authorization_grant_type,
            redirect_uris=tuple(sorted(a.redirect_uris.split())),
            post_logout_redirect_uris=tuple(sorted(a.post_logout_redirect_uris.split())),
            tenant=a.tenant.slug if a.tenant else None,
            is_resource_server=a.is_resource_server,
            scopes=tuple(sorted(links[a.pk])),
        )
        for a in Application.objects.filter(managed_applications())
        .select_related("tenant")
        .order_by("client_id")
    )
    return Document(scopes=scopes, roles=roles, apps=apps, tenants=tuple(_tenants()))


def _tenants() -> list[TenantSpec]:
    policies = dict(TenantAppPolicy.all_tenants.values_list("tenant_id", "mode"))
    tokens = {p.tenant_id: p for p in TokenPolicy.objects.all()}
    decisions: dict[int, list[tuple[str, TenantAppSpec]]] = defaultdict(list)
    managed = managed_applications()
    for decision in (
        TenantApp.all_tenants.filter(application__in=Application.objects.filter(managed))
        .select_related("application")
        .prefetch_related("cap")
    ):
        cap = tuple(sorted(s.name for s in decision.cap.all())) if decision.capped else None
        decisions[decision.tenant_id].append(
            (decision.application.client_id, TenantAppSpec(status=decision.status, cap=cap))
        )
    found = []
    for tenant in Tenant.objects.order_by("slug"):
        token = tokens.get(tenant.pk)
        found.append(
            TenantSpec(
                slug=tenant.slug,
                app_policy=policies.get(tenant.pk, TenantSpec.app_policy),
                apps=tuple(sorted(decisions[tenant.pk])),
                personal_tokens=token.personal_tokens if token else TenantSpec.personal_tokens,
                max_days=token.max_days if token else TenantSpec.max_days,
            )
        )
    return found
