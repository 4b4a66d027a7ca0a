"""The device authorization endpoint (RFC 8628 3.1-3.2), `POST /o/device-authorization/`.

DOT's endpoint (oauthlib checks the client) with the scope checked as at `/o/authorize/`, the
client's authentication limited as at the token endpoint (scopes.oauth.client_limits), and our
easy-to-type user code (scopes.device.codes). What the user does next is the device pages'
(scopes.device.views): enter the code, see the consent page, approve.
"""

from __future__ import annotations

import json
from typing import Any

from django.http import HttpRequest, HttpResponse, JsonResponse
from django.urls import reverse
from django.utils.decorators import method_decorator
from django.views.decorators.csrf import csrf_exempt
from oauth2_provider.views.device import DeviceAuthorizationView as DotDeviceAuthorizationView

from accounts import ratelimit
from scopes.device.services import LIFETIME, TooManyPending, device_grant_start
from scopes.models import Application
from scopes.oauth.client_limits import limit_client_authentication, presented_client_ids, too_many
from scopes.oauth.validators import TenantOAuth2Validator


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
