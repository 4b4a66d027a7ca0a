"""Writes of the tenant app policy and of access requests: checked, locked, audited.

Every change here takes effect on live tokens at their next request: the policy tables are part
of the grant's standing (`scopes.access.standing`) and of the token probe's fingerprint (`scopes.access.freshness`).
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.mail import send_mail
from django.db import transaction
from django.utils import timezone

from accounts import authn, factors
from accounts.constants import AuditAction
from accounts.models import Membership, Role, Tenant, User
from accounts.services import audit_record
from scopes.access.applications import app_scopes
from scopes.access.policy import DOMAIN_PATTERN, AppPolicyMode, AppStatus, SecondFactorRule
from scopes.access.selectors import registry, role_reaches
from scopes.models import Application, Scope
from scopes.registry import closure
from scopes.roles.rules import check_manages_tenant, check_not_stronger, check_role_grants
from scopes.roles.services import membership_set, role_grants_set
from scopes.tenant_policy.models import (
    AccessRequest,
    BlockedClientDomain,
    RequestKind,
    RequestStatus,
    TenantApp,
    TenantAppPolicy,
)
from scopes.tenant_policy.selectors import is_tenant_admin

# A request's message and a decision's note, in characters (docs/security.md, "Row creation
# limits"): enough to say why, not a channel for pasting documents into the audit log.
MESSAGE_LIMIT = 500


def check_tenant_admin(*, actor: User, tenant: Tenant) -> None:
    """Refuse anyone but a superuser or a member whose role holds `tenant.admin` there."""
    if not is_tenant_admin(actor, tenant):
        raise ValidationError(
            "Only the administrators of %(tenant)s decide this.",
            code="not_tenant_admin",
            params={"tenant": tenant},
        )


def _app_usable_here(application: Application, tenant: Tenant) -> None:
    if application.tenant_id is not None and application.tenant_id != tenant.pk:
        raise ValidationError("No such app.", code="no_such_app")


def _policy_field_set(
    *, actor: User, tenant: Tenant, field: str, value: str, action: AuditAction
) -> TenantAppPolicy:
    """Set one field of the tenant's policy row (created on first use), audited when it changes.

    The caller has checked that `actor` administers `tenant` and that `value` is one of the field's."""
    policy, _ = TenantAppPolicy.objects.for_tenant(tenant).select_for_update().get_or_create(tenant=tenant)
    before = getattr(policy, field)
    if before != value:
        setattr(policy, field, value)
        policy.save(update_fields=[field, "updated_at"])
        audit_record(
            actor=actor,
            action=action,
            target=policy,
            tenant=tenant,
            before={field: before},
            after={field: value},
        )
    return policy


@transaction.atomic
def app_policy_set(
    *, actor: User, tenant: Tenant, mode: str, dynamic_clients: bool | None = None
) -> TenantAppPolicy:
    """Set a tenant's app policy: any app, or approved apps only; and whether apps that registered
    themselves by RFC 7591 may be used without being approved one by one (None: unchanged)."""
    check_tenant_admin(actor=actor, tenant=tenant)
    if mode not in {m.value for m in AppPolicyMode}:
        raise ValidationError("Unknown policy %(mode)s.", code="bad_mode", params={"mode": mode})
    policy, _ = TenantAppPolicy.objects.for_tenant(tenant).select_for_update().get_or_create(tenant=tenant)
    before: dict[str, object] = {}
    after: dict[str, object] = {}
    if policy.mode != mode:
        before["mode"], after["mode"] = policy.mode, mode
        policy.mode = mode
    if dynamic_clients is not None and policy.dynamic_clients != dynamic_clients:
        before["dynamic_clients"], after["dynamic_clients"] = policy.dynamic_clients, dynamic_clients
        policy.dynamic_clients = dynamic_clients
    if after:
        policy.save(update_fields=["mode", "dynamic_clients", "updated_at"])
        audit_record(
            actor=actor,
            action=AuditAction.APP_POLICY_CHANGED,
            target=policy,
            tenant=tenant,
            before=before,
            after=after,
        )
    return policy


@transaction.atomic
def second_factor_rule_set(*, actor: User, tenant: Tenant, rule: str) -> TenantAppPolicy:
    """Require a second factor of the tenant's administrators, of every member, or of nobody.

    Applies at the next request of every live token (the policy row is part of the standing and of
    the token probe's fingerprint): a member it newly covers who has no factor loses their grants'
    standing until they set one up, and is sent to set one up before any consent here.
    """
    check_tenant_admin(actor=actor, tenant=tenant)
    if rule not in {r.value for r in SecondFactorRule}:
        raise ValidationError("Unknown second-factor rule %(rule)s.", code="bad_rule", params={"rule": rule})
    return _policy_field_set(
        actor=actor,
        tenant=tenant,
        field="second_factor",
        value=rule,
        action=AuditAction.SECOND_FACTOR_POLICY_CHANGED,
    )


@transaction.atomic
def member_factors_reset(*, actor: User, tenant: Tenant, user: User, sign_in: authn.SignIn) -> int:
    """Remove a member's second factors (they lost their device), so they can set up new ones.

    Only an administrator of the tenant, who gave their own second factor recently (sudo mode), for
    a member of this tenant only (a person who also belongs elsewhere, or has Django powers, is
    reset by a superuser), whose role reaches no further than the administrator's (the escalation
    rule), and never themselves (their own factors are changed on their security page).
    """
    check_tenant_admin(actor=actor, tenant=tenant)
    if authn.shortfall(sign_in, factors.reauthentication(), now=timezone.now()) is not None:
        raise factors.Reauthenticate("Give your second factor again to reset a member's.")
    if user.pk == actor.pk:
        raise ValidationError("Change your own second factors on your security page.", code="self")
    membership = Membership.objects.filter(user=user, tenant=tenant).select_related("role").first()
    if membership is None:
        raise ValidationError("No such member.", code="not_member")
    if not actor.is_superuser:
        if (
            user.is_staff
            or user.is_superuser
            or Membership.objects.filter(user=user).exclude(tenant=tenant).exists()
        ):
            raise ValidationError(
                "This person also belongs elsewhere or runs the platform: only a superuser resets their factors.",
                code="elsewhere",
            )
        check_not_stronger(
            actor=actor, tenant=tenant, role=membership.role, what="this member's second factors"
        )
    return factors.reset_all(actor=actor, user=user, tenant=tenant)


def client_domain_clean(value: str) -> str:
    """A blocked domain as stored (lower case, no final dot); refused unless it is a domain name.

    Public so that forms (the admin's) refuse what the service would, before anything is saved."""
    domain = value.strip().lower().rstrip(".")
    if not re.match(DOMAIN_PATTERN, domain):
        raise ValidationError(
            "%(domain)s is not a domain name (such as agents.example.com).",
            code="bad_domain",
            params={"domain": value[:100]},
        )
    return domain


@transaction.atomic
def client_domain_block(*, actor: User, tenant: Tenant, domain: str, note: str = "") -> BlockedClientDomain:
    """Block every self-registered client whose client ID is on `domain` or a name under it.

    Part of the app policy: the standing reads it, so it applies at the next request of every
    token such a client holds in the tenant, and the consent page refuses it from then on.
    """
    check_tenant_admin(actor=actor, tenant=tenant)
    domain = client_domain_clean(domain)
    if len(note) > MESSAGE_LIMIT:
        raise ValidationError(
            "A note is at most %(n)s characters.", code="too_long", params={"n": MESSAGE_LIMIT}
        )
    block, created = BlockedClientDomain.objects.for_tenant(tenant).get_or_create(
        tenant=tenant, domain=domain, defaults={"note": note}
    )
    if created:
        audit_record(
            actor=actor,
            action=AuditAction.APP_POLICY_CHANGED,
            target=block,
            tenant=tenant,
            before=None,
            after={"blocked_client_domain": domain},
        )
    return block


@transaction.atomic
def client_domain_unblock(*, actor: User, tenant: Tenant, domain: str) -> bool:
    """Lift a tenant's block of a domain. True if it was blocked. Audited."""
    check_tenant_admin(actor=actor, tenant=tenant)
    block = (
        BlockedClientDomain.objects.for_tenant(tenant)
        .select_for_update()
        .filter(domain=domain.strip().lower().rstrip("."))
        .first()
    )
    if block is None:
        return False
    audit_record(
        actor=actor,
        action=AuditAction.APP_POLICY_CHANGED,
        target=block,
        tenant=tenant,
        before={"blocked_client_domain": block.domain},
        after=None,
    )
    block.delete()
    return True


def _check_cap(*, actor: User, tenant: Tenant, application: Application, cap: list[str] | None) -> None:
    """A cap names scopes the app may ask for; an approval never reaches beyond the approver's role."""
    implications = registry().implications
    allowed = closure(app_scopes(application), implications)
    outside = sorted(set(cap or ()) - allowed)
    if outside:
        raise ValidationError(
            "The app cannot ask for %(scopes)s.", code="outside_app", params={"scopes": ", ".join(outside)}
        )
    if actor.is_superuser:
        return
    membership = Membership.objects.filter(user=actor, tenant=tenant).only("role_id").first()
    mine = frozenset(role_reaches(membership.role_id)) if membership else frozenset()
    beyond = sorted((closure(cap, implications) if cap is not None else allowed) - mine)
    if beyond:
        raise ValidationError(
            "You cannot let the app use %(scopes)s: your own role does not hold it. Set a cap without it.",
            code="escalation",
            params={"scopes": ", ".join(beyond)},
        )


@transaction.atomic
def tenant_app_set(
    *,
    actor: User,
    tenant: Tenant,
    application: Application,
    status: str,
    cap: Iterable[str] | None = None,
    note: str = "",
) -> TenantApp:
    """Approve (with an optional cap: None means no cap), block, or mark pending an app in a tenant."""
    check_tenant_admin(actor=actor, tenant=tenant)
    _app_usable_here(application, tenant)
    if status not in {s.value for s in AppStatus}:
        raise ValidationError("Unknown status %(status)s.", code="bad_status", params={"status": status})
    cap_list = sorted(set(cap)) if cap is not None else None
    if status == AppStatus.APPROVED:
        _check_cap(actor=actor, tenant=tenant, application=application, cap=cap_list)
    decision, _ = (
        TenantApp.objects.for_tenant(tenant)
        .select_for_update()
        .get_or_create(tenant=tenant, application=application)
    )
    before = {"status": decision.status, "cap": _cap_of(decision)}
    decision.status = status
    decision.capped = cap_list is not None
    decision.note = note[:500]
    decision.save()
    decision.cap.set(Scope.objects.filter(name__in=cap_list or ()))
    after = {"status": status, "cap": cap_list}
    if after != before:
        audit_record(
            actor=actor,
            action=AuditAction.TENANT_APP_CHANGED,
            target=decision,
            tenant=tenant,
            before=before,
            after=after,
        )
    return decision


@transaction.atomic
def tenant_app_clear(*, actor: User, tenant: Tenant, application: Application) -> bool:
    """Forget a tenant's decision about an app: it is then as if never decided (the policy alone
    says whether it may be used). True if there was a decision. Audited like a change."""
    check_tenant_admin(actor=actor, tenant=tenant)
    decision = (
        TenantApp.objects.for_tenant(tenant).select_for_update().filter(application=application).first()
    )
    if decision is None:
        return False
    audit_record(
        actor=actor,
        action=AuditAction.TENANT_APP_CHANGED,
        target=decision,
        tenant=tenant,
        before={"status": decision.status, "cap": _cap_of(decision)},
        after=None,
    )
    decision.delete()
    return True


def _cap_of(decision: TenantApp) -> list[str] | None:
    return sorted(s.name for s in decision.cap.all()) if decision.capped else None


@transaction.atomic
def access_request_file(
    *,
    requester: User,
    tenant: Tenant,
    kind: str,
    application: Application | None = None,
    scopes: Iterable[str] = (),
    message: str = "",
) -> AccessRequest:
    """File a request by `requester` (always the signed-in person) in a tenant they belong to.

    An app request names an app usable in the tenant and, optionally, scopes it may ask for; a
    scope request names scopes (within the app's, when an app is named). An identical pending
    request is returned rather than filed twice. A member has at most
    `CREATION_CAPS["access-requests-pending"]` pending requests per tenant, and a message of at
    most MESSAGE_LIMIT characters: each request is a row and an audit entry on their word alone.
    """
    # Locked: two requests filed at once by one member are counted one after the other (the cap).
    membership = Membership.objects.select_for_update().filter(
        user=requester, tenant=tenant, tenant__is_active=True
    )
    if not membership.exists():
        raise ValidationError("No such organisation.", code="no_such_tenant")
    if kind not in RequestKind.values:
        raise ValidationError("Unknown kind of request.", code="bad_kind")
    names = sorted(set(scopes))
    found = list(Scope.objects.filter(name__in=names))
    if len(found) != len(names):
        raise ValidationError("Unknown scope.", code="no_such_scope")
    if kind == RequestKind.APP and application is None:
        raise ValidationError("Name the app.", code="no_app")
    if kind == RequestKind.SCOPE and not names:
        raise ValidationError("Name the right you ask for.", code="no_scope")
    if application is not None:
        _app_usable_here(application, tenant)
        outside = sorted(set(names) - closure(app_scopes(application), registry().implications))
        if outside:
            raise ValidationError(
                "The app cannot ask for %(scopes)s.",
                code="outside_app",
                params={"scopes": ", ".join(outside)},
            )
    if len(message) > MESSAGE_LIMIT:
        raise ValidationError("The message is too long.", code="too_long")
    for pending in AccessRequest.objects.for_tenant(tenant).filter(
        requester=requester, kind=kind, application=application, status=RequestStatus.PENDING
    ):
        if sorted(s.name for s in pending.scopes.all()) == names:
            return pending
    cap = settings.CREATION_CAPS["access-requests-pending"]
    pending = AccessRequest.objects.for_tenant(tenant).filter(
        requester=requester, status=RequestStatus.PENDING
    )
    if pending.count() >= cap:
        raise ValidationError(
            "You already have %(cap)s requests waiting in %(tenant)s: wait for a decision on them.",
            code="too_many_pending",
            params={"cap": cap, "tenant": tenant.name},
        )
    request = AccessRequest.objects.for_tenant(tenant).create(
        tenant=tenant, requester=requester, kind=kind, application=application, message=message
    )
    request.scopes.set(found)
    if kind == RequestKind.APP and application is not None:
        # The app is now "pending" in the tenant's list, unless the tenant already decided it.
        TenantApp.objects.for_tenant(tenant).get_or_create(tenant=tenant, application=application)
    audit_record(
        actor=requester,
        action=AuditAction.ACCESS_REQUESTED,
        target=request,
        tenant=tenant,
        after={"kind": kind, "application": application.client_id if application else None, "scopes": names},
    )
    return request


@transaction.atomic
def access_request_decide(
    *,
    actor: User,
    tenant: Tenant,
    request_id: int,
    approve: bool,
    note: str = "",
    cap: Iterable[str] | None = None,
    role: Role | None = None,
    grant_reach: str | None = None,
    requests_url: str = "",
) -> AccessRequest:
    """Approve or refuse a pending request, applying the approval through the services; once only.

    The request row is locked and read again, so deciding twice, or two administrators at once,
    applies one decision; the second is refused. Approving an app request approves the app
    (with `cap`, None: no cap). Approving a scope request either gives the requester `role`, or
    adds the scopes to their current role (`grant_reach`); the escalation rules of those writes
    apply (nobody gives what their own role does not hold). `requests_url` is the absolute address
    of the requester's requests page, for the e-mail (a page knows its own host; a mail client
    cannot follow a path alone).
    """
    check_tenant_admin(actor=actor, tenant=tenant)
    request = AccessRequest.objects.for_tenant(tenant).select_for_update().filter(pk=request_id).first()
    if request is None:
        raise ValidationError("No such request.", code="no_such_request")
    if request.requester_id == actor.pk:
        raise ValidationError("Nobody decides their own request.", code="own_request")
    if request.status != RequestStatus.PENDING:
        raise ValidationError("This request was already decided.", code="already_decided")
    if len(note) > MESSAGE_LIMIT:
        raise ValidationError("The note is too long.", code="too_long")
    names = sorted(s.name for s in request.scopes.all())
    outcome: dict[str, object] = {}
    if approve and request.kind == RequestKind.APP:
        assert request.application is not None
        cap_list = sorted(set(cap)) if cap is not None else None
        tenant_app_set(
            actor=actor,
            tenant=tenant,
            application=request.application,
            status=AppStatus.APPROVED,
            cap=cap_list,
            note=note,
        )
        outcome = {"app": AppStatus.APPROVED.value, "cap": cap_list}
    elif approve:
        outcome = _approve_scopes(
            actor=actor, request=request, names=names, role=role, grant_reach=grant_reach
        )
    request.status = RequestStatus.APPROVED if approve else RequestStatus.REFUSED
    request.decided_by = actor
    request.decided_at = timezone.now()
    request.note = note
    request.outcome = outcome or None
    request.save()
    audit_record(
        actor=actor,
        action=AuditAction.ACCESS_APPROVED if approve else AuditAction.ACCESS_REFUSED,
        target=request,
        tenant=tenant,
        before={"status": RequestStatus.PENDING.value},
        after={"status": request.status, "note": note, "outcome": outcome},
    )
    _notify(request, requests_url=requests_url)
    return request


def _approve_scopes(
    *, actor: User, request: AccessRequest, names: list[str], role: Role | None, grant_reach: str | None
) -> dict[str, object]:
    tenant = request.tenant
    membership = (
        Membership.objects.select_related("role").filter(user_id=request.requester_id, tenant=tenant).first()
    )
    if membership is None:
        raise ValidationError("The requester is no longer a member.", code="not_member")
    implications = registry().implications
    if role is not None:
        if not role.usable_in(tenant.pk):
            raise ValidationError("No such role.", code="no_such_role")
        if not closure(names, implications) <= frozenset(role_reaches(role.pk)):
            raise ValidationError(
                "The role %(role)s does not hold %(scopes)s.",
                code="role_lacks",
                params={"role": role.name, "scopes": ", ".join(names)},
            )
        membership_set(actor=actor, user=membership.user, tenant=tenant, role=role)
        return {"role": role.name}
    if grant_reach not in {"own", "tenant"}:
        raise ValidationError("Choose a role to give, or the reach of a grant to add.", code="no_choice")
    current = membership.role
    check_manages_tenant(actor=actor, tenant=tenant)
    # What was asked is judged as asked (a wider reach of a held scope included), then added
    # beside the role's grants; a scope it already holds keeps its reach.
    check_role_grants(actor=actor, role=current, grants=[(name, grant_reach) for name in names])
    held = {g.scope.name: (g.scope, g.reach) for g in current.grants.select_related("scope")}
    added = {s.name: (s, grant_reach) for s in Scope.objects.filter(name__in=names)}
    role_grants_set(
        actor=actor, role=current, grants=[*{**added, **held}.values()]
    )  # global: superusers only
    return {"grant": {"role": current.name, "scopes": names, "reach": grant_reach}}


def _notify(request: AccessRequest, *, requests_url: str) -> None:
    """E-mail the requester the decision once it is committed (never for a rolled-back one).

    Written now, inside the transaction (on PostgreSQL the tenant's rows are visible only here).
    """
    email = request.requester.email
    if not email:
        return
    what = (
        request.application.name if request.application else ", ".join(s.name for s in request.scopes.all())
    )
    tenant = request.tenant
    body = f"Your request in {tenant.name} ({what}) was {request.status}."
    if request.note:
        body += f"\n\nThe administrator's note: {request.note}"
    body += f"\n\nSee your requests at {requests_url or '/account/requests/ on the server where you asked'}."
    subject = f"Your access request in {tenant.name} was {request.status}"
    transaction.on_commit(
        lambda: send_mail(
            subject=subject,
            message=body,
            from_email=settings.DEFAULT_FROM_EMAIL,
            recipient_list=[email],
            fail_silently=True,
        )
    )
