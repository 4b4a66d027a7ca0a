"""The device authorization grant's pages (RFC 8628): code entry, and our consent page.

The endpoint a device starts at, `POST /o/device-authorization/`, is with the other OAuth endpoints
(scopes.oauth.device_authorization). `/o/device/` is where the user types
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

from typing import Any

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.decorators import method_decorator
from django.views import View
from django.views.decorators.cache import never_cache

from accounts import authn, ratelimit, tenancy
from accounts.models import User, signed_in
from scopes.access.scope_registry import registry, registry_held
from scopes.consent.album_pages import AlbumsOnPage
from scopes.consent.flow import AuthorizeRequest, situation_of
from scopes.consent.forms import claimed_form, signed_form
from scopes.consent.outcome import Answer, Deny, Grant, ask, on_post
from scopes.consent.page import page_context
from scopes.consent.rules import ShownPlan
from scopes.consent.services import consent_grant
from scopes.device import codes
from scopes.device.services import device_grant_decide
from scopes.models import Application, DeviceGrant
from scopes.registry import normalise

SESSION_GRANT = "device_grant"
SESSION_NONCES = "device_nonces"
FORM_SALT = "scopes.device-consent"
FORM_MAX_AGE = 15 * 60


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


def _request_of(grant: DeviceGrant) -> AuthorizeRequest:
    """The device's request as the consent flow reads it: its scopes, no prompt, PKCE or albums."""
    return AuthorizeRequest(client_id=grant.client_id, oauth={}, scopes=tuple(grant.scope.split()))


@method_decorator(login_required, name="dispatch")
@method_decorator(never_cache, name="dispatch")
class DeviceApproveView(View):
    """`/o/device/approve/`: the consent flow's second front door, for the device named by its code.

    The same request, situation and decision as `/o/authorize/` (scopes.consent.flow,
    scopes.consent.outcome); only the answers differ: the page is always shown (a device is never
    answered from remembered consent), and the answer goes to the device grant, not a redirect.
    """

    def get(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        grant = _pending_grant(request)
        application = Application.objects.filter(client_id=grant.client_id).first() if grant else None
        if grant is None or application is None:
            return _gone(request)
        with registry_held():
            user = signed_in(request.user)
            situation = situation_of(user, application, tenant_slug=request.GET.get("tenant", ""))
            page = ask(_request_of(grant), situation)
            payload = {"grant": grant.pk, "plan": page.shown.to_payload() if page.shown else None}
            # A device request cannot carry authorization_details, so it can never widen an
            # album-limited consent (the token is capped by the consent's albums: scopes.access.standing).
            context = page_context(
                request,
                application=application,
                memberships=list(situation.memberships),
                membership=situation.membership,
                plan=page.plan,
                request_token=signed_form(request, payload, salt=FORM_SALT, session_key=SESSION_NONCES),
                albums=page.albums,
                albums_can_widen=False,
                form_action=reverse("oauth2_provider:device-approve"),
                device_code=grant.user_code,
            )
        return render(request, "scopes/authorize.html", context)

    def post(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        payload = claimed_form(request, salt=FORM_SALT, session_key=SESSION_NONCES, max_age=FORM_MAX_AGE)
        if isinstance(payload, str):
            return _gone(request)
        grant = _pending_grant(request)
        if grant is None or grant.pk != payload.get("grant"):
            return _gone(request)
        application = Application.objects.filter(client_id=grant.client_id).first()
        if application is None:
            return _gone(request)
        user = signed_in(request.user)
        request.session.pop(SESSION_GRANT, None)
        with registry_held():
            answer = self._answer(request, user, application, grant, payload)
            if not isinstance(answer, Grant):
                device_grant_decide(grant_id=grant.pk, user=user, tenant=None, scopes=None)
                return render(
                    request, "scopes/device_done.html", {"approved": False, "application": application}
                )
            membership = answer.membership
            tenancy.enter_tenant(membership.tenant_id)
            consent_grant(
                actor=user, user=user, tenant=membership.tenant, application=application, scopes=answer.scopes
            )
            scopes = normalise(answer.scopes, registry().implications)
        approved = device_grant_decide(
            grant_id=grant.pk,
            user=user,
            tenant=membership.tenant,
            scopes=scopes,
            sign_in=authn.of_session(request.session),  # the device's tokens remember it
        )
        if not approved:
            return _gone(request)
        context = {"approved": True, "application": application, "membership": membership}
        return render(request, "scopes/device_done.html", context)

    def _answer(
        self,
        request: HttpRequest,
        user: User,
        application: Application,
        grant: DeviceGrant,
        payload: dict[str, Any],
    ) -> Answer:
        """The consent flow's answer to this form: a deny unless the user pressed Allow."""
        if request.POST.get("decision") != "allow":
            return Deny()
        tenant_slug = request.POST.get("tenant", "")
        return on_post(
            situation_of(user, application, tenant_slug=tenant_slug),
            requested=grant.scope.split(),
            shown=ShownPlan.from_payload(payload.get("plan")),
            albums_shown=AlbumsOnPage(request=None),
            tenant_slug=tenant_slug,
            ticked=request.POST.getlist("scope"),
            ticked_albums=(),
        )
