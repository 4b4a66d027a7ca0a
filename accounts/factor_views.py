"""The pages of second factors: the sign-in's second step, step-up (sudo mode) and the security page.

They parse input and call `accounts.factors`; the rules (what a change needs, what a code proves)
live there, and the level a session reached lives in `accounts.authn`.
"""

from __future__ import annotations

import time
from base64 import b32encode
from collections.abc import Callable
from typing import Any
from urllib.parse import urlencode

from django.conf import settings
from django.contrib.auth import get_user_model, login
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_http_methods, require_POST

from accounts import authn, factors, passkeys, ratelimit
from accounts.models import User, signed_in

PENDING_KEY = "signin_pending"
PENDING_SECONDS = 300  # a password proven is good for this long while the second factor is asked


def safe_next(request: HttpRequest, value: str, default: str = "/") -> str:
    """A `next` on this site only (never another host), else `default`."""
    if value and url_has_allowed_host_and_scheme(
        value, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return value
    return default


def hold_for_second_factor(request: HttpRequest, user: User, *, backend: str, next_url: str) -> HttpResponse:
    """The password was right and the person has a second factor: ask for it before signing in."""
    request.session[PENDING_KEY] = {
        "user": user.pk,
        "backend": backend,
        "at": int(time.time()),
        "next": next_url,
    }
    return redirect(reverse("login-second-factor"))


def _pending_user(request: HttpRequest) -> tuple[User, dict[str, Any]] | None:
    pending = request.session.get(PENDING_KEY)
    if not isinstance(pending, dict) or int(time.time()) - int(pending.get("at", 0)) > PENDING_SECONDS:
        return None
    user_id = pending.get("user")
    if not isinstance(user_id, int):
        return None
    user = get_user_model().objects.filter(pk=user_id, is_active=True).first()
    return (user, pending) if user is not None else None


def _too_many(request: HttpRequest, template: str, context: dict[str, Any], wait: int) -> HttpResponse:
    response = render(request, template, {**context, "error": ratelimit.too_many_text(wait)})
    return ratelimit.refused(response, wait)


@never_cache
@require_http_methods(["GET", "POST"])
def second_factor(request: HttpRequest) -> HttpResponse:
    """`/account/login/second-factor/`: the code from the authenticator app (or a recovery code)."""
    template = "accounts/second_factor.html"
    found = _pending_user(request)
    if found is None:
        request.session.pop(PENDING_KEY, None)
        return redirect(reverse("login"))
    user, pending = found
    if request.method != "POST":
        return render(request, template, {})
    limits = factors.second_factor_limits(user)
    wait = ratelimit.retry_after(limits)
    if wait is not None:
        return _too_many(request, template, {}, wait)
    method = factors.verify_second_factor(user, request.POST.get("code", ""))
    if method is None:
        ratelimit.record_failure(limits)
        return render(request, template, {"error": "That code is not right."}, status=400)
    request.session.pop(PENDING_KEY, None)
    login(request, user, backend=pending["backend"])  # records the password level (accounts.factors)
    factors.record_second_factor(request, method=method)
    return redirect(safe_next(request, pending.get("next", ""), reverse("account-apps")))


@never_cache
@login_required
@require_http_methods(["GET", "POST"])
def step_up(request: HttpRequest) -> HttpResponse:
    """`/account/verify/?next=...`: give the second factor again (sudo mode; consent's step-up)."""
    template = "accounts/step_up.html"
    user = signed_in(request.user)
    next_url = safe_next(
        request, request.POST.get("next") or request.GET.get("next", ""), reverse("account-security")
    )
    context: dict[str, Any] = {"next": next_url, "has_factor": factors.has_second_factor(user)}
    if request.method != "POST" or not context["has_factor"]:
        return render(request, template, context)
    limits = factors.second_factor_limits(user)
    wait = ratelimit.retry_after(limits)
    if wait is not None:
        return _too_many(request, template, context, wait)
    method = factors.verify_second_factor(user, request.POST.get("code", ""))
    if method is None:
        ratelimit.record_failure(limits)
        return render(request, template, {**context, "error": "That code is not right."}, status=400)
    factors.record_second_factor(request, method=method)
    factors.audit_step_up(user)
    return redirect(next_url)


def _verify_url(next_url: str) -> str:
    return f"{reverse('account-verify')}?{urlencode({'next': next_url})}"


@never_cache
@login_required
@require_http_methods(["GET", "POST"])
def security(request: HttpRequest) -> HttpResponse:
    """`/account/security/`: see, add and remove second factors; recovery codes."""
    user = signed_in(request.user)
    sign_in = authn.of_session(request.session)
    here = reverse("account-security")
    context: dict[str, Any] = {"next": safe_next(request, request.GET.get("next", ""), "")}
    action = request.POST.get("action", "") if request.method == "POST" else ""
    try:
        if action == "start":
            context["enrolling"] = factors.totp_start(user=user, sign_in=sign_in)
        elif action == "confirm":
            device_id = _int(request.POST.get("device", ""))
            try:
                enrolled = factors.totp_confirm(
                    user=user, device_id=device_id, code=request.POST.get("code", "")
                )
            except factors.FactorError as error:
                context["enrolling"] = next(
                    (d for d in factors.totp_devices(user, confirmed=False) if d.pk == device_id), None
                )
                raise error
            # Proving the new factor is a second factor given now.
            factors.record_second_factor(request, method=authn.AMR_OTP)
            context["recovery_codes"] = enrolled.recovery_codes
            context["enrolled"] = True
        elif action == "remove":
            factors.totp_remove(actor=user, device_id=_int(request.POST.get("device", "")), sign_in=sign_in)
            context["removed"] = True
        elif action == "remove-passkey":
            passkeys.remove(actor=user, passkey_id=_int(request.POST.get("passkey", "")), sign_in=sign_in)
            context["removed_passkey"] = True
        elif action == "recovery":
            context["recovery_codes"] = factors.recovery_codes_replace(user=user, sign_in=sign_in)
        elif action:
            context["error"] = "Unknown action."
    except factors.Reauthenticate:
        return redirect(_verify_url(here))
    except factors.FactorError as error:
        context["error"] = str(error)
    enrolling = context.get("enrolling")
    if enrolling is not None:
        context["secret"] = b32encode(enrolling.bin_key).decode()
    context.update(
        devices=factors.totp_devices(user),
        passkeys=list(user.passkeys.all()),
        recovery_left=factors.recovery_codes_left(user),
        sign_in_text=authn.of_session(request.session).describe(timezone.now()),
    )
    status = 400 if context.get("error") else 200
    return render(request, "accounts/security.html", context, status=status)


def _int(value: str) -> int:
    return int(value) if value.isascii() and value.isdigit() and len(value) < 12 else 0


class AdminSecondFactorMiddleware:
    """With `ADMIN_REQUIRES_SECOND_FACTOR`, the admin opens only to a session with a second factor.

    A staff member or superuser signed in with a password alone is sent to give their factor
    (the step-up page), or to set one up when they have none, before any admin page; the admin's
    sign-in and sign-out pages stay open.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if settings.ADMIN_REQUIRES_SECOND_FACTOR and self._stopped(request):
            user = signed_in(request.user)
            target = "account-verify" if factors.has_second_factor(user) else "account-security"
            return redirect(f"{reverse(target)}?{urlencode({'next': request.get_full_path()})}")
        return self.get_response(request)

    @staticmethod
    def _stopped(request: HttpRequest) -> bool:
        admin = reverse("admin:index")
        if not request.path.startswith(admin) or request.path in (
            reverse("admin:login"),
            reverse("admin:logout"),
        ):
            return False
        user = getattr(request, "user", None)
        if user is None or not user.is_authenticated or not (user.is_staff or user.is_superuser):
            return False  # the admin itself sends them to its sign-in page
        return authn.rank(authn.of_session(request.session).acr) < authn.rank(authn.MFA)


# --- Passkeys (accounts.passkeys): JSON endpoints for static/js/passkeys.js.


def _json_error(message: str, status: int = 400, **extra: str) -> JsonResponse:
    return JsonResponse({"error": message, **extra}, status=status)


@never_cache
@login_required
@require_POST
def passkey_register_options(request: HttpRequest) -> HttpResponse:
    user = signed_in(request.user)
    try:
        options = passkeys.registration_options(request, user)
    except factors.Reauthenticate:
        return _json_error("reauthenticate", 403, location=_verify_url(reverse("account-security")))
    return HttpResponse(options, content_type="application/json")


@never_cache
@login_required
@require_POST
def passkey_register(request: HttpRequest) -> HttpResponse:
    body = passkeys.parse(request.body)
    if body is None or not isinstance(body.get("credential"), dict):
        return _json_error("Send the new credential as JSON.")
    user = signed_in(request.user)
    try:
        codes = passkeys.register(request, user, body["credential"], str(body.get("name", ""))[:100])
    except factors.FactorError as error:
        return _json_error(str(error))
    return JsonResponse({"recovery_codes": codes})


def _passkey_user(request: HttpRequest) -> tuple[User, dict[str, Any] | None] | None:
    """Who is giving a passkey: the signed-in person (step-up), or the one whose password was just
    proven (the sign-in's second step)."""
    if request.user.is_authenticated:
        return signed_in(request.user), None
    return _pending_user(request)


@never_cache
@require_POST
def passkey_options(request: HttpRequest) -> HttpResponse:
    found = _passkey_user(request)
    if found is None:
        return _json_error("Sign in first.", 403, location=reverse("login"))
    return HttpResponse(passkeys.authentication_options(request, found[0]), content_type="application/json")


@never_cache
@require_POST
def passkey_verify(request: HttpRequest) -> HttpResponse:
    found = _passkey_user(request)
    body = passkeys.parse(request.body)
    if found is None:
        return _json_error("Sign in first.", 403, location=reverse("login"))
    if body is None or not isinstance(body.get("credential"), dict):
        return _json_error("Send the assertion as JSON.")
    user, pending = found
    limits = factors.second_factor_limits(user)
    wait = ratelimit.retry_after(limits)
    if wait is not None:
        return ratelimit.refused(_json_error(ratelimit.too_many_text(wait), 429), wait)
    if not passkeys.authenticate(request, user, body["credential"]):
        ratelimit.record_failure(limits)
        return _json_error("The passkey could not be verified.")
    if pending is not None:
        request.session.pop(PENDING_KEY, None)
        login(request, user, backend=pending["backend"])
        next_url = safe_next(request, pending.get("next", ""), reverse("account-apps"))
    else:
        factors.audit_step_up(user)
        next_url = safe_next(request, str(body.get("next", "")), reverse("account-security"))
    factors.record_second_factor(request, method=passkeys.AMR_PASSKEY)
    return JsonResponse({"location": next_url})
