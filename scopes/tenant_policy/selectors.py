"""Reads of the tenant app policy and of access requests, shared by the pages, the admin and services."""

from __future__ import annotations

from django.db.models import Q, QuerySet

from accounts.models import Membership, Tenant, User
from scopes.access.personal_tokens import PERSONAL_TOKENS_CLIENT_ID
from scopes.access.policy import AppPolicy, domain_covers
from scopes.access.selectors import role_reaches
from scopes.constants import ScopeName
from scopes.models import Application
from scopes.tenant_policy.models import (
    AccessRequest,
    BlockedClientDomain,
    RequestStatus,
    TenantApp,
    TenantAppPolicy,
)


def app_policy(*, tenant: Tenant, application: Application) -> AppPolicy:
    """The tenant's policy for one app, as the standing reads it (the consent page asks before planning)."""
    mode, dynamic_clients = TenantAppPolicy.objects.for_tenant(tenant).values_list(
        "mode", "dynamic_clients"
    ).first() or (None, False)
    decision = (
        TenantApp.objects.for_tenant(tenant)
        .filter(application_id=application.pk)
        .prefetch_related("cap")
        .first()
    )
    return AppPolicy(
        mode=mode,
        status=decision.status if decision else None,
        capped=bool(decision and decision.capped),
        cap=tuple(sorted(s.name for s in decision.cap.all())) if decision else (),
        app_owned_here=application.tenant_id == tenant.pk,
        domain_blocked=domain_blocked(tenant=tenant, host=application.client_host),
        dynamic_refused=application.registration_source == Application.RegistrationSource.DCR
        and not dynamic_clients,
    )


def blocked_domains(tenant: Tenant) -> QuerySet[BlockedClientDomain]:
    return BlockedClientDomain.objects.for_tenant(tenant).order_by("domain")


def domain_blocked(*, tenant: Tenant, host: str | None) -> bool:
    """Whether `tenant` blocks the domain of a self-registered client's host (`domain_covers`)."""
    if not host:
        return False
    return any(domain_covers(d, host) for d in blocked_domains(tenant).values_list("domain", flat=True))


def is_tenant_admin(user: User, tenant: Tenant) -> bool:
    """Whether `user` administers `tenant`: a superuser, or a member whose role holds `tenant.admin`."""
    if not user.is_active:
        return False
    if user.is_superuser:
        return True
    membership = Membership.objects.filter(user=user, tenant=tenant, tenant__is_active=True).first()
    return membership is not None and ScopeName.TENANT_ADMIN in role_reaches(membership.role_id)


def administered_tenants(user: User) -> list[Tenant]:
    """The active tenants `user` is a member of and administers (for the pages' links)."""
    memberships = Membership.objects.filter(user=user, tenant__is_active=True).select_related("tenant")
    return [m.tenant for m in memberships if ScopeName.TENANT_ADMIN in role_reaches(m.role_id)]


def requests_of(user: User) -> QuerySet[AccessRequest]:
    """A person's own requests, every tenant (their own rows; row-level security lets them read them)."""
    return (
        AccessRequest.all_tenants.filter(requester=user)  # the person's own, across tenants
        .select_related("tenant", "application", "decided_by")
        .prefetch_related("scopes")
    )


def request_queue(tenant: Tenant) -> QuerySet[AccessRequest]:
    """A tenant's requests, pending first, for its administrators."""
    return (
        AccessRequest.objects.for_tenant(tenant)
        .select_related("requester", "application", "decided_by")
        .prefetch_related("scopes")
        .order_by("-status", "-created_at", "-id")  # "pending" sorts after "approved"/"refused"
    )


def pending_count(tenant: Tenant) -> int:
    return AccessRequest.objects.for_tenant(tenant).filter(status=RequestStatus.PENDING).count()


def decidable_apps(tenant: Tenant) -> QuerySet[Application]:
    """The apps a tenant's administrators decide about: usable there, and not the server's own
    machinery (the personal-token app, service accounts' apps), which a tenant governs through
    its token policy and its service accounts instead. A self-registered app is listed once it
    concerns the tenant: a member asked for it, or the tenant decided about it (anyone can
    register one, so the list would otherwise hold every agent on the internet)."""
    decided = TenantApp.objects.for_tenant(tenant).values("application_id")
    asked = (
        AccessRequest.objects.for_tenant(tenant).filter(application__isnull=False).values("application_id")
    )
    return (
        Application.objects.filter(Q(tenant__isnull=True) | Q(tenant=tenant))
        .filter(
            ~Q(registration_source=Application.RegistrationSource.CIMD) | Q(pk__in=decided) | Q(pk__in=asked)
        )
        .exclude(client_id=PERSONAL_TOKENS_CLIENT_ID)
        .exclude(service_account__tenant=tenant)  # machine apps (scopes.machines), by the reverse link
        .order_by("name")
    )
