"""Pages: a member asks (`/account/requests/new/`), follows their requests (`/account/requests/`);
a tenant administrator sets the app policy and decides requests (`/account/org/<slug>/`).

Pages parse input and call `scopes.tenant_policy.services`; a tenant the person does not belong
to, or does not administer, is answered 404 like one that does not exist. On PostgreSQL the page
enters the tenant (row-level security) only after that check.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

from django.conf import settings
from django.contrib import messages
from django.contrib.auth import login
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_http_methods, require_POST

from accounts import authn, factors, ratelimit, tenancy
from accounts.admin.base import allowed
from accounts.models import Membership, Role, Tenant, User, signed_in
from accounts.selectors import admin_roles
from scopes.access.applications import app_scopes
from scopes.access.policy import AppPolicyMode, AppStatus, SecondFactorRule
from scopes.access.selectors import registry, role_reaches
from scopes.constants import Reach
from scopes.models import Application
from scopes.registry import closure
from scopes.roles.rules import check_role_assignable, check_role_grants
from scopes.tenant_policy import invitations, services
from scopes.tenant_policy.models import AccessRequest, RequestKind, RequestStatus, TenantApp, TenantAppPolicy
from scopes.tenant_policy.selectors import (
    administered_tenants,
    blocked_domains,
    decidable_apps,
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


@dataclass(frozen=True)
class AppRow:
    """One app on the tenant page: where it stands here, and the scopes a limit may name."""

    application: Application
    decision: TenantApp | None
    scopes: list[tuple[str, str]]  # (name, description)
    cap: list[str] | None


@dataclass(frozen=True)
class ScopeRequestChoices:
    """What approving one scope request can do, offered only when the approver may do it."""

    current_role: Role | None
    roles: list[Role]  # roles that hold everything asked for, which the approver may give
    reaches: list[str]  # "own"/"tenant": adding the scopes to the current role, if the approver may


def _scope_request_choices(
    actor: User, tenant: Tenant, request: AccessRequest, current: Role | None, roles: list[Role]
) -> ScopeRequestChoices:
    names = [s.name for s in request.scopes.all()]
    wanted = closure(names, registry().implications)
    fitting = [
        role
        for role in roles
        if role != current
        and wanted <= frozenset(role_reaches(role.pk))
        and allowed(check_role_assignable, actor=actor, tenant=tenant, role=role)
    ]
    # Least privilege first (and preselected): the role that gives the fewest rights besides.
    fitting.sort(key=lambda role: (len(role_reaches(role.pk)), role.name))
    reaches = [
        reach
        for reach in (Reach.OWN.value, Reach.TENANT.value)
        if current is not None
        and allowed(check_role_grants, actor=actor, role=current, grants=[(n, reach) for n in names])
    ]
    return ScopeRequestChoices(current, fitting, reaches)


@login_required
@never_cache
def org_admin(request: HttpRequest, slug: str) -> HttpResponse:
    """`/account/org/<slug>/`: what a tenant's administrator decides, most urgent first: the
    requests waiting, the apps and where each stands, the app policy.

    Every choice offered is one the services would accept from this person (a role that holds what
    was asked and that they may give, a grant they may add); the services check again on POST.
    """
    user, tenant = _administered(request, slug)
    policy = TenantAppPolicy.objects.for_tenant(tenant).first()
    decisions = {d.application_id: d for d in TenantApp.objects.for_tenant(tenant).prefetch_related("cap")}
    descriptions = registry().descriptions
    apps = [
        AppRow(
            application=application,
            decision=(decision := decisions.get(application.pk)),
            scopes=[(n, descriptions.get(n, n)) for n in sorted(app_scopes(application))],
            cap=sorted(s.name for s in decision.cap.all()) if decision and decision.capped else None,
        )
        for application in decidable_apps(tenant)
    ]
    roles = [r for r in admin_roles(user) if r.usable_in(tenant.pk)]
    queue = list(request_queue(tenant))
    held = dict(
        Membership.objects.filter(tenant=tenant, user_id__in={r.requester_id for r in queue}).values_list(
            "user_id", "role_id"
        )
    )
    by_id = {r.pk: r for r in Role.objects.filter(pk__in=set(held.values()))}
    apps_by_id = {a.application.pk: a for a in apps}
    pending, decided = [], []
    for item in queue:
        if item.status != RequestStatus.PENDING:
            decided.append(item)
            continue
        current = by_id.get(held.get(item.requester_id, 0))
        pending.append(
            {
                "request": item,
                "current_role": current,
                "asked": [(s.name, descriptions.get(s.name, s.name)) for s in item.scopes.all()],
                "choices": _scope_request_choices(user, tenant, item, current, roles)
                if item.kind == RequestKind.SCOPE
                else None,
                "app": apps_by_id.get(item.application_id) if item.application_id else None,
            }
        )
    membership = Membership.objects.filter(user=user, tenant=tenant).select_related("role").first()
    return render(
        request,
        "tenant_policy/org_admin.html",
        {
            "tenant": tenant,
            "my_role": membership.role if membership else None,
            "mode": policy.mode if policy else AppPolicyMode.ANY.value,
            "dynamic_clients": bool(policy and policy.dynamic_clients),
            "second_factor": policy.second_factor if policy else SecondFactorRule.NOBODY.value,
            "second_factor_rules": [
                (SecondFactorRule.NOBODY.value, "Nobody", "A password is enough to use apps here."),
                (
                    SecondFactorRule.ADMINS.value,
                    "Administrators",
                    "Members whose role lets them administer the organisation must set up a second factor.",
                ),
                (
                    SecondFactorRule.MEMBERS.value,
                    "Every member",
                    "Every member must set up a second factor before any app can act for them here.",
                ),
            ],
            "modes": [
                (
                    AppPolicyMode.ANY.value,
                    "Any app",
                    "Every app may be used here, except the ones you block.",
                ),
                (
                    AppPolicyMode.APPROVED_ONLY.value,
                    "Approved apps only",
                    "Only the apps you approve (and the organisation's own apps) may be used here; members ask for others.",
                ),
            ],
            "apps": apps,
            "statuses": [
                (AppStatus.APPROVED.value, "Approved"),
                (AppStatus.BLOCKED.value, "Blocked"),
                (AppStatus.PENDING.value, "Pending (asked for, not decided)"),
            ],
            "pending": pending,
            "decided": decided,
            "blocked_domains": list(blocked_domains(tenant)),
            "invitations": list(invitations.pending(tenant)),
            "invitable_roles": [r for r in roles if _may_give(user, tenant, r)],
            "invitation_days": settings.INVITATION_DAYS,
            "members": _members_factors(tenant),
        },
    )


def _members_factors(tenant: Tenant) -> list[dict[str, Any]]:
    """Each member, their role and what they have as second factors (never a key or a code)."""
    members = list(
        Membership.objects.filter(tenant=tenant).select_related("user", "role").order_by("user__username")
    )
    found = factors.summaries([m.user_id for m in members])
    return [{"membership": m, "factors": found.get(m.user_id)} for m in members]


@login_required
@require_POST
def org_member_factors_reset(request: HttpRequest, slug: str, user_id: int) -> HttpResponse:
    """Reset a member's second factors (the services decide who may)."""
    actor, tenant = _administered(request, slug)
    member = Membership.objects.filter(tenant=tenant, user_id=user_id).select_related("user").first()
    if member is None:
        raise Http404
    try:
        services.member_factors_reset(
            actor=actor, tenant=tenant, user=member.user, sign_in=authn.of_session(request.session)
        )
    except factors.Reauthenticate:
        here = reverse("org-admin", kwargs={"slug": slug})
        return redirect(f"{reverse('account-verify')}?{urlencode({'next': here})}")
    except ValidationError as refused:
        messages.error(request, " ".join(refused.messages))
    else:
        messages.success(request, f"The second factors of {member.user.get_username()} were reset.")
    return redirect("org-admin", slug=slug)


def _may_give(user: User, tenant: Tenant, role: Role) -> bool:
    try:
        check_role_assignable(actor=user, tenant=tenant, role=role)
    except ValidationError:
        return False
    return True


@login_required
@require_POST
def org_invite(request: HttpRequest, slug: str) -> HttpResponse:
    """Invite a person by e-mail with a role the administrator may give (the services check)."""
    user, tenant = _administered(request, slug)
    role_id = _int(request.POST.get("role"))
    role = Role.objects.filter(pk=role_id).first() if role_id is not None else None
    email = request.POST.get("email", "")[:254]
    try:
        if role is None:
            raise ValidationError("Choose a role.")
        invitations.invitation_create(
            actor=user, tenant=tenant, email=email, role=role, base_url=request.build_absolute_uri("/")
        )
    except ValidationError as refused:
        messages.error(request, " ".join(refused.messages))
    else:
        messages.success(request, f"Invitation sent to {email.strip()}.")
    return redirect("org-admin", slug=slug)


@login_required
@require_POST
def org_invitation_revoke(request: HttpRequest, slug: str, invitation_id: int) -> HttpResponse:
    user, tenant = _administered(request, slug)
    if not invitations.invitation_revoke(actor=user, tenant=tenant, invitation_id=invitation_id):
        raise Http404
    messages.success(request, "Invitation revoked.")
    return redirect("org-admin", slug=slug)


def join_limits(request: HttpRequest) -> list[ratelimit.Limit]:
    return [("invitation-ip", ratelimit.client_address(request))]


@never_cache
@require_http_methods(["GET", "POST"])
def join(request: HttpRequest, slug: str, token: str) -> HttpResponse:
    """`/account/join/<slug>/<token>/`: accept an invitation, as the signed-in account or a new one.

    A link that names nothing usable (unknown, used, revoked, expired, another tenant's) gets one
    answer, and counts against the address's limit.
    """
    template = "tenant_policy/join.html"
    limits = join_limits(request)
    wait = ratelimit.retry_after(limits)
    if wait is not None:
        page = render(request, template, {"unusable": ratelimit.too_many_text(wait)})
        return ratelimit.refused(page, wait)
    tenant = Tenant.objects.filter(slug=slug, is_active=True).first()
    invitation = invitations.usable(tenant, token[:100]) if tenant is not None else None
    if tenant is None or invitation is None:
        ratelimit.record_failure(limits)
        return render(request, template, {"unusable": invitations.UNUSABLE}, status=404)
    context: dict[str, Any] = {"invitation": invitation, "tenant": tenant}
    if request.method != "POST":
        return render(request, template, context)
    try:
        if request.user.is_authenticated:
            invitations.invitation_accept(tenant=tenant, token=token, user=signed_in(request.user))
        else:
            new = invitations.invitation_accept_new(
                tenant=tenant,
                token=token,
                username=request.POST.get("username", "")[:200],
                password=request.POST.get("password", "")[:1000],
            )
            login(request, new, backend="django.contrib.auth.backends.ModelBackend")
    except invitations.InvitationUnusable as refused:
        ratelimit.record_failure(limits)
        return render(request, template, {"unusable": str(refused)}, status=404)
    except ValidationError as refused:
        return render(request, template, {**context, "errors": refused.messages}, status=400)
    messages.success(request, f"You joined {tenant.name}.")
    return redirect("account-apps")


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
    if "second_factor" in request.POST:
        rule = request.POST.get("second_factor", "")
        return _done(
            request, slug, lambda: services.second_factor_rule_set(actor=user, tenant=tenant, rule=rule)
        )
    mode = request.POST.get("mode", "")
    dynamic = request.POST.get("dynamic_clients") == "on"
    return _done(
        request,
        slug,
        lambda: services.app_policy_set(actor=user, tenant=tenant, mode=mode, dynamic_clients=dynamic),
    )


@login_required
@require_POST
def org_domains(request: HttpRequest, slug: str) -> HttpResponse:
    """Block, or unblock, a domain of self-registered apps' client IDs."""
    user, tenant = _administered(request, slug)
    domain = request.POST.get("domain", "")
    if request.POST.get("action") == "unblock":
        return _done(
            request, slug, lambda: services.client_domain_unblock(actor=user, tenant=tenant, domain=domain)
        )
    note = request.POST.get("note", "")
    return _done(
        request,
        slug,
        lambda: services.client_domain_block(actor=user, tenant=tenant, domain=domain, note=note),
    )


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
    # The page's one choice ("grant": role:<id> or reach:<own|tenant>), or the two older fields.
    choice = request.POST.get("grant", "")
    kind, _, value = choice.partition(":")
    role_id = _int(value if kind == "role" else request.POST.get("role"))
    reach = value if kind == "reach" else request.POST.get("reach")
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
            grant_reach=reach or None,
            requests_url=request.build_absolute_uri(reverse("account-requests")),
        ),
    )
