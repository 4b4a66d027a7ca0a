"""The device authorization grant's pages (RFC 8628): the endpoint, code entry, and our consent page.

`POST /o/device-authorization/` is DOT's endpoint (oauthlib checks the client) with the scope
checked as at `/o/authorize/` and our easy-to-type user code. `/o/device/` is where the user types
that code, signed in; wrong codes count against the account and the address (accounts.ratelimit),
so guessing a code stops long before it could succeed. `/o/device/approve/` is the consent page of
the authorization-code flow, the same template, the same plan and the same page context
(`scopes.consent.page.page_context`): tenant picker, one line per scope capped by the app, the
tenant's app policy and the role, greyed lines with "Ask for this", the user's ticks, and the
same approval rule (`ConsentPlan.approval`). A device request carries no album request; under an
album-limited consent the page says the device stays limited, and it does. Approving binds the grant to the tenant,
as a code is bound; the token endpoint then issues what the grant's standing allows.
"""

from __future__ import annotations

import json
import secrets
from typing import Any

from django.contrib.auth.decorators import login_required
from django.core import signing
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.decorators import method_decorator
from django.views import View
from django.views.decorators.cache import never_cache
from django.views.decorators.csrf import csrf_exempt
from oauth2_provider.views.device import DeviceAuthorizationView as DotDeviceAuthorizationView

from accounts import ratelimit, tenancy
from accounts.models import signed_in
from scopes.access.selectors import registry
from scopes.consent.album_pages import albums_for_page
from scopes.consent.authorize import _eligible_memberships, read_signed_form
from scopes.consent.page import page_context
from scopes.consent.rules import ShownPlan
from scopes.consent.selectors import consent_plan
from scopes.consent.services import consent_form_use, consent_grant
from scopes.device import codes
from scopes.device.services import LIFETIME, TooManyPending, device_grant_decide, device_grant_start
from scopes.models import Application, DeviceGrant
from scopes.oauth.client_limits import limit_client_authentication, presented_client_ids, too_many
from scopes.oauth.validators import TenantOAuth2Validator
from scopes.registry import normalise

SESSION_GRANT = "device_grant"
SESSION_NONCES = "device_nonces"
FORM_SALT = "scopes.device-consent"
FORM_MAX_AGE = 15 * 60


def _error(error: str, description: str, status: int = 400) -> JsonResponse:
    return JsonResponse({"error": error, "error_description": description}, status=status)


@method_decorator(csrf_exempt, name="dispatch")
class DeviceAuthorizationView(DotDeviceAuthorizationView):
    """`POST /o/device-authorization/` (RFC 8628 3.1-3.2)."""

    @method_decorator(limit_client_authentication)
    def post(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        if request.GET:
            return _error("invalid_request", "URL query parameters are not allowed.")
        headers, response, status = self.create_device_authorization_response(request)
        if status != 200:
            return JsonResponse(json.loads(response), status=status, headers=headers)
        client_id = request.POST.get("client_id", "") or _basic_client_id(request)
        application = Application.objects.filter(client_id=client_id).first()
        if application is None:
            return _error("invalid_client", "Unknown client.", 401)
        if application.authorization_grant_type != Application.GRANT_DEVICE_CODE:
            return _error("unauthorized_client", "This client may not use the device authorization grant.")
        scopes = request.POST.get("scope", "").split()
        if not TenantOAuth2Validator().validate_scopes(client_id, scopes, application, None):
            return _error("invalid_scope", "Ask for scopes this app is registered for.")
        # Every start writes a row on a client's word (accounts.ratelimit; the cap is the service's).
        limits = [("device-start-client", client_id), ("device-start-ip", ratelimit.client_address(request))]
        wait = ratelimit.retry_after(limits)
        if wait is not None:
            return too_many(wait, "Too many device authorization requests")
        ratelimit.record_attempt(limits)
        try:
            grant = device_grant_start(
                client_id=client_id, scope=" ".join(scopes), device_code=response["device_code"]
            )
        except TooManyPending:
            return too_many(
                int(LIFETIME.total_seconds()), "Too many pending device authorizations for this client"
            )
        verification_uri = request.build_absolute_uri(reverse("oauth2_provider:device"))
        answer = {
            "device_code": grant.device_code,
            "user_code": grant.user_code,
            "verification_uri": verification_uri,
            "verification_uri_complete": f"{verification_uri}?user_code={grant.user_code}",
            "expires_in": int(LIFETIME.total_seconds()),
            "interval": grant.interval,
        }
        result = JsonResponse(answer, headers=headers)
        result["Cache-Control"] = "no-store"
        return result


def _basic_client_id(request: HttpRequest) -> str:
    named = presented_client_ids(request)
    return named[0] if named else ""


def _limits(request: HttpRequest) -> list[ratelimit.Limit]:
    return [("device-user", str(request.user.pk)), ("device-ip", ratelimit.client_address(request))]


@login_required
@never_cache
def device_code_entry(request: HttpRequest) -> HttpResponse:
    """`/o/device/`: the user types the code their device shows; wrong codes are rate limited."""
    typed = (
        request.POST.get("user_code", "") if request.method == "POST" else request.GET.get("user_code", "")
    )
    if request.method != "POST":
        return render(request, "scopes/device_code.html", {"user_code": typed})
    wait = ratelimit.retry_after(_limits(request))
    if wait is not None:
        message = "Too many wrong codes. Try again later."
        response = render(request, "scopes/device_code.html", {"error": message}, status=429)
        response["Retry-After"] = str(wait)
        return response
    code = codes.normalise(typed)
    grant = (
        DeviceGrant.objects.filter(
            user_code=code, status=DeviceGrant.AUTHORIZATION_PENDING, expires__gt=timezone.now()
        ).first()
        if code
        else None
    )
    if grant is None:
        # Unknown, expired and already-used codes get one answer, and each costs a try.
        ratelimit.record_failure(_limits(request))
        context = {"user_code": typed, "error": "That code is not valid. Check the code on your device."}
        return render(request, "scopes/device_code.html", context, status=400)
    request.session[SESSION_GRANT] = grant.pk
    return redirect("oauth2_provider:device-approve")


def _pending_grant(request: HttpRequest) -> DeviceGrant | None:
    grant_id = request.session.get(SESSION_GRANT)
    if not isinstance(grant_id, int):
        return None
    return DeviceGrant.objects.filter(
        pk=grant_id, status=DeviceGrant.AUTHORIZATION_PENDING, expires__gt=timezone.now()
    ).first()


def _gone(request: HttpRequest) -> HttpResponse:
    message = "This device request has expired or was already answered. Start again on your device."
    return render(request, "scopes/consent_error.html", {"message": message}, status=400)


@method_decorator(login_required, name="dispatch")
@method_decorator(never_cache, name="dispatch")
class DeviceApproveView(View):
    """`/o/device/approve/`: our consent page for the device the user named by its code."""

    def get(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        grant = _pending_grant(request)
        application = Application.objects.filter(client_id=grant.client_id).first() if grant else None
        if grant is None or application is None:
            return _gone(request)
        memberships = _eligible_memberships(request, application)
        asked = request.GET.get("tenant", "")
        membership = next(
            (m for m in memberships if m.tenant.slug == asked), memberships[0] if memberships else None
        )
        plan = consent_plan(application, membership, grant.scope.split(), fresh=False) if membership else None
        nonce = secrets.token_urlsafe(16)
        request.session[SESSION_NONCES] = [*request.session.get(SESSION_NONCES, [])[-19:], nonce]
        shown = (
            ShownPlan.of(plan, fresh=False, tenant_id=membership.tenant_id) if plan and membership else None
        )
        payload = {
            "grant": grant.pk,
            "uid": request.user.pk,
            "nonce": nonce,
            "plan": shown.to_payload() if shown else None,
        }
        # The album side as the consent page derives it; a device request cannot carry
        # authorization_details, so it can never widen an album-limited consent (the token is
        # capped by the consent's albums: scopes.access.standing).
        albums = albums_for_page(None, membership, application, fresh=False) if membership else None
        context = page_context(
            request,
            application=application,
            memberships=memberships,
            membership=membership,
            plan=plan,
            request_token=signing.dumps(payload, salt=FORM_SALT, compress=True),
            albums=albums,
            albums_can_widen=False,
            form_action=reverse("oauth2_provider:device-approve"),
            device_code=grant.user_code,
        )
        return render(request, "scopes/authorize.html", context)

    def post(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        payload = read_signed_form(
            request.POST.get("request_token", ""), salt=FORM_SALT, max_age=FORM_MAX_AGE
        )
        if payload is None:
            return _gone(request)
        nonces = request.session.get(SESSION_NONCES, [])
        if (
            payload.get("uid") != request.user.pk
            or payload.get("nonce") not in nonces
            or not consent_form_use(nonce=payload["nonce"], lifetime=FORM_MAX_AGE)
        ):
            return _gone(request)
        nonces.remove(payload["nonce"])
        request.session[SESSION_NONCES] = nonces
        grant = _pending_grant(request)
        if grant is None or grant.pk != payload.get("grant"):
            return _gone(request)
        application = Application.objects.filter(client_id=grant.client_id).first()
        if application is None:
            return _gone(request)
        user = signed_in(request.user)
        shown = ShownPlan.from_payload(payload.get("plan"))
        membership = next(
            (
                m
                for m in _eligible_memberships(request, application)
                if m.tenant.slug == request.POST.get("tenant")
            ),
            None,
        )
        granted: list[str] = []
        if (
            request.POST.get("decision") == "allow"
            and membership
            and shown
            and membership.tenant_id == shown.tenant_id
        ):
            plan = consent_plan(application, membership, grant.scope.split(), fresh=False)
            # The consent page's rule: a policy refusal or an ungrantable required scope grants nothing.
            granted = plan.approval(request.POST.getlist("scope"), shown)
        request.session.pop(SESSION_GRANT, None)
        if not granted or membership is None:
            device_grant_decide(grant_id=grant.pk, user=user, tenant=None, scopes=None)
            return render(request, "scopes/device_done.html", {"approved": False, "application": application})
        tenancy.enter_tenant(membership.tenant_id)
        consent_grant(
            actor=user, user=user, tenant=membership.tenant, application=application, scopes=granted
        )
        scopes = normalise(granted, registry().implications)
        if not device_grant_decide(grant_id=grant.pk, user=user, tenant=membership.tenant, scopes=scopes):
            return _gone(request)
        context = {"approved": True, "application": application, "membership": membership}
        return render(request, "scopes/device_done.html", context)
