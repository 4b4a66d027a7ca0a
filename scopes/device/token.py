"""The token endpoint's half of the device grant (RFC 8628 3.4-3.5).

DOT's polling answer trusts a device code on its own: any client could redeem another's, and an
approved code could be redeemed again and again. Here a device code is only ever its own client's,
is redeemed once (`used_at`, a conditional update), is answered `slow_down` when polled faster than
its interval, and yields a token only through the grant's standing, in the tenant the user chose:
what the consent, the app and the user's role allow now, exactly as a code exchange does.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.db.models import F
from django.http import HttpRequest, JsonResponse
from django.utils import timezone
from oauthlib.oauth2.rfc6749 import errors

from accounts import tenancy
from accounts.authn import SignIn
from scopes.access.albums import format_limit
from scopes.access.standing import grant_standing
from scopes.models import Application, DeviceGrant

SLOW_DOWN_STEP = 5  # seconds added to the interval on each slow_down (RFC 8628 3.5)


# RFC 8628 3.5's answers to a device that polls as it should: not failed guesses at a secret, so
# the token endpoint's limit (scopes.oauth.client_limits) does not count them.
POLLING_ANSWERS = frozenset({"authorization_pending", "slow_down", "access_denied", "expired_token"})


def _error(error: str, description: str = "") -> JsonResponse:
    body = {"error": error, **({"error_description": description} if description else {})}
    response = JsonResponse(body, status=400)
    response["Cache-Control"] = "no-store"
    response.polling_answer = error in POLLING_ANSWERS  # type: ignore[attr-defined]
    return response


def poll(request: HttpRequest, *, client: Application | None) -> JsonResponse | None:
    """The polling answer for a device code, or None when an approved grant may now be redeemed.

    `client` is the authenticated client (None: authentication failed); the code must be its own.

    None also means: the grant was claimed for this request (no other poll can redeem it) and its
    tenant entered; DOT then mints the token (`device_grant_to_request` supplies what it holds).
    """
    if client is None:  # a confidential client's secret is checked before anything is said
        response = JsonResponse({"error": "invalid_client"}, status=401)
        response["WWW-Authenticate"] = 'Basic realm="token"'
        return response
    device_code = request.POST.get("device_code", "")
    now = timezone.now()
    grant = (
        DeviceGrant.objects.filter(device_code=device_code, client_id=client.client_id).first()
        if device_code
        else None
    )
    if grant is None or grant.used_at is not None:
        return _error("invalid_grant", "Unknown or already used device code.")
    if now >= grant.expires or grant.status == DeviceGrant.EXPIRED:
        return _error("expired_token", "The device code has expired: start again.")
    if grant.status == DeviceGrant.DENIED:
        return _error("access_denied", "The user denied the request.")
    # One poll per interval: the conditional update lets exactly the polls that waited through.
    waited = DeviceGrant.objects.filter(
        pk=grant.pk, last_checked__lte=now - timedelta(seconds=grant.interval)
    ).update(last_checked=now)
    if not waited:
        DeviceGrant.objects.filter(pk=grant.pk).update(
            interval=F("interval") + SLOW_DOWN_STEP, last_checked=now
        )
        return _error("slow_down", f"Poll at most every {grant.interval + SLOW_DOWN_STEP} seconds.")
    if grant.status == DeviceGrant.AUTHORIZATION_PENDING:
        return _error("authorization_pending")
    claimed = DeviceGrant.objects.filter(
        pk=grant.pk, status=DeviceGrant.AUTHORIZED, used_at__isnull=True
    ).update(used_at=now)
    if not claimed or grant.tenant_id is None:
        return _error("invalid_grant", "Unknown or already used device code.")
    tenancy.enter_tenant(grant.tenant_id)
    return None


def device_grant_to_request(request: Any) -> None:
    """DOT's pre-token hook: the token's user, tenant and scopes, from the claimed grant's standing."""
    grant = (
        DeviceGrant.objects.filter(
            device_code=request._params.get("device_code", ""),
            client_id=request.client_id,
            status=DeviceGrant.AUTHORIZED,
            used_at__isnull=False,
        )
        .select_related("user")
        .first()
    )
    application = Application.objects.filter(client_id=request.client_id).first()
    if grant is None or grant.tenant_id is None or application is None:
        raise errors.InvalidGrantError(request=request)
    standing = grant_standing(
        user_id=grant.user_id,
        tenant_id=grant.tenant_id,
        application_id=application.pk,
        issued=grant.scope.split(),
        lock_consent=True,  # until the token is written (scopes.oauth.validators, `_lock_consent`)
    )
    if standing is None or not standing.stands or not standing.effective:
        raise errors.InvalidGrantError(description="This grant is no longer valid.", request=request)
    request.user = grant.user
    request.tenant_id = grant.tenant_id
    request.scopes = list(standing.effective)
    # A device request carries no authorization_details, so its grant has no album limit of its
    # own; under an album-limited consent the standing caps it to the consent's albums, and the
    # token carries that limit (never every album: issue 24, items 1 and 8).
    request.album_ids = format_limit(standing.albums)
    request.grant_rows = standing.rows
    request.sign_in = SignIn.of(grant.acr, grant.amr, grant.auth_time)  # the approving session's
