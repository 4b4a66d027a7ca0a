"""Pages: a member asks (`/account/requests/new/`), follows their requests (`/account/requests/`);
a tenant administrator sets the app policy and decides requests (`/account/org/<slug>/`).

Pages parse input and call `scopes.tenant_policy.services`; a tenant the person does not belong
to, or does not administer, is answered 404 like one that does not exist. On PostgreSQL the page
enters the tenant (row-level security) only after that check.
"""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.db.models import Q
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_POST

from accounts import ratelimit, tenancy
from accounts.models import Membership, Role, Tenant, User, signed_in
from accounts.selectors import admin_roles
from scopes.access.applications import app_scopes
from scopes.access.policy import AppPolicyMode, AppStatus
from scopes.access.selectors import registry
from scopes.models import Application
from scopes.tenant_policy import services
from scopes.tenant_policy.models import AccessRequest, RequestKind, TenantApp, TenantAppPolicy
from scopes.tenant_policy.selectors import (
    administered_tenants,
    is_tenant_admin,
    request_queue,
    requests_of,
)

AUTHORIZE_PATH = "/o/authorize/"


def _member_tenant(user: User, slug: str) -> Tenant:
    membership = (
        Membership.objects.filter(user=user, tenant__slug=slug, tenant__is_active=True)
        .select_related("tenant")
        .first()
    )
    if membership is None:
        raise Http404
    return membership.tenant


def _safe_next(request: HttpRequest, value: str) -> str:
    if value.startswith(AUTHORIZE_PATH) and url_has_allowed_host_and_scheme(
        value, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return value
    return ""


@login_required
@never_cache
def request_new(request: HttpRequest) -> HttpResponse:
    """File a request: GET shows what would be asked (from the link's parameters), POST files it.

    The requester is always the signed-in person; the tenant must be one of theirs; the app and
    scopes are checked by the service (an app usable there, scopes the app may ask for).
    """
    user = signed_in(request.user)
    data = request.POST if request.method == "POST" else request.GET
    tenant = _member_tenant(user, data.get("tenant", ""))
    kind = data.get("kind", RequestKind.SCOPE)
    client_id = data.get("app", "")
    application = Application.objects.filter(client_id=client_id).first() if client_id else None
    if client_id and application is None:
        raise Http404
    names = [n for n in data.getlist("scope") if n]
    back = _safe_next(request, data.get("next", ""))
    error = ""
    wait = None
    tenancy.enter_tenant(tenant.pk)  # a member: the request is written (and checked) in the tenant
    limits = [("access-request-user", str(user.pk))]
    if request.method == "POST" and (wait := ratelimit.retry_after(limits)) is not None:
        error = ratelimit.too_many_text(wait)  # counted per person: every attempt files (or tries to)
    elif request.method == "POST":
        ratelimit.record_attempt(limits)
        try:
            services.access_request_file(
                requester=user,
                tenant=tenant,
                kind=kind,
                application=application,
                scopes=names,
                message=data.get("message", "").strip(),
            )
        except ValidationError as refused:
            error = " ".join(refused.messages)
        else:
            messages.success(request, f"Your request was sent to the administrators of {tenant.name}.")
            return redirect(back or "account-requests")
    descriptions = registry().descriptions
    page = render(
        request,
        "tenant_policy/request_new.html",
        {
            "tenant": tenant,
            "kind": kind,
            "application": application,
            "scopes": [(n, descriptions.get(n, n)) for n in names],
            "next": back,
            "error": error,
            "message_limit": services.MESSAGE_LIMIT,
        },
        status=400 if error else 200,
    )
    return ratelimit.refused(page, wait) if wait is not None else page


@login_required
@never_cache
def my_requests(request: HttpRequest) -> HttpResponse:
    """`/account/requests/`: the person's requests in every tenant, with their state and the note."""
    user = signed_in(request.user)
    return render(
        request,
        "tenant_policy/my_requests.html",
        {"requests": requests_of(user), "administered": administered_tenants(user)},
    )


def _administered(request: HttpRequest, slug: str) -> tuple[User, Tenant]:
    user = signed_in(request.user)
    tenant = Tenant.objects.filter(slug=slug, is_active=True).first()
    if tenant is None or not is_tenant_admin(user, tenant):
        raise Http404  # the same answer for a tenant that does not exist and one you do not run
    tenancy.enter_tenant(tenant.pk)
    return user, tenant


@login_required
@never_cache
def org_admin(request: HttpRequest, slug: str) -> HttpResponse:
    """`/account/org/<slug>/`: the tenant's app policy, its apps, and its members' requests."""
    user, tenant = _administered(request, slug)
    policy = TenantAppPolicy.objects.for_tenant(tenant).first()
    decisions = {d.application_id: d for d in TenantApp.objects.for_tenant(tenant).prefetch_related("cap")}
    apps = []
    for application in Application.objects.filter(Q(tenant__isnull=True) | Q(tenant=tenant)).order_by("name"):
        decision = decisions.get(application.pk)
        apps.append(
            {
                "application": application,
                "decision": decision,
                "scopes": sorted(app_scopes(application)),
                "cap": sorted(s.name for s in decision.cap.all()) if decision and decision.capped else None,
            }
        )
    roles = [r for r in admin_roles(user) if r.usable_in(tenant.pk)]
    return render(
        request,
        "tenant_policy/org_admin.html",
        {
            "tenant": tenant,
            "mode": policy.mode if policy else AppPolicyMode.ANY.value,
            "modes": [
                (AppPolicyMode.ANY.value, "Any app"),
                (AppPolicyMode.APPROVED_ONLY.value, "Approved apps only"),
            ],
            "apps": apps,
            "statuses": [s.value for s in AppStatus],
            "requests": request_queue(tenant),
            "roles": roles,
        },
    )


def _done(request: HttpRequest, slug: str, call: Any) -> HttpResponse:
    try:
        call()
    except ValidationError as refused:
        messages.error(request, " ".join(refused.messages))
    else:
        messages.success(request, "Saved.")
    return redirect("org-admin", slug=slug)


@login_required
@require_POST
def org_policy(request: HttpRequest, slug: str) -> HttpResponse:
    user, tenant = _administered(request, slug)
    mode = request.POST.get("mode", "")
    return _done(request, slug, lambda: services.app_policy_set(actor=user, tenant=tenant, mode=mode))


@login_required
@require_POST
def org_app(request: HttpRequest, slug: str) -> HttpResponse:
    user, tenant = _administered(request, slug)
    application = Application.objects.filter(pk=_int(request.POST.get("application"))).first()
    if application is None:
        raise Http404
    cap = request.POST.getlist("cap") if request.POST.get("capped") else None
    return _done(
        request,
        slug,
        lambda: services.tenant_app_set(
            actor=user,
            tenant=tenant,
            application=application,
            status=request.POST.get("status", ""),
            cap=cap,
            note=request.POST.get("note", ""),
        ),
    )


def _int(value: str | None) -> int | None:
    try:
        number = int(value or "")
    except ValueError:
        return None
    return number if 0 < number < 2**63 else None


@login_required
@require_POST
def org_decide(request: HttpRequest, slug: str, request_id: int) -> HttpResponse:
    user, tenant = _administered(request, slug)
    if not AccessRequest.objects.for_tenant(tenant).filter(pk=request_id).exists():
        raise Http404
    decision = request.POST.get("decision")
    if decision not in {"approve", "refuse"}:
        messages.error(request, "Choose approve or refuse.")
        return redirect("org-admin", slug=slug)
    role_id = _int(request.POST.get("role"))
    role = Role.objects.filter(pk=role_id).first() if role_id else None
    if role_id and role is None:
        raise Http404
    cap = request.POST.getlist("cap") if request.POST.get("capped") else None
    return _done(
        request,
        slug,
        lambda: services.access_request_decide(
            actor=user,
            tenant=tenant,
            request_id=request_id,
            approve=decision == "approve",
            note=request.POST.get("note", "").strip(),
            cap=cap,
            role=role,
            grant_reach=request.POST.get("reach") or None,
        ),
    )
