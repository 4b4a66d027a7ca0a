"""What an authorization request carries and the small rules the consent page applies to it.

The parameters we read beyond DOT's, the errors we answer with (OpenID Connect Core, RFC 9396),
and the helpers the consent view (`scopes.consent.views`) and the device page share.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from django.conf import settings
from django.contrib.auth import REDIRECT_FIELD_NAME
from django.core import signing
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, resolve_url
from django.utils import timezone
from oauthlib.oauth2.rfc6749.errors import (
    CustomOAuth2Error,
)

from accounts.models import Membership, signed_in
from accounts.selectors import active_memberships_of
from scopes.access.selectors import registry
from scopes.access.standing import consent_standing
from scopes.models import Application
from scopes.registry import normalise

DEVICE_CODE_GRANT = "urn:ietf:params:oauth:grant-type:device_code"
CONSENT_SALT = "scopes.consent-form"
CONSENT_MAX_AGE = 15 * 60
SESSION_NONCES = "consent_nonces"
# A signed consent form is a few hundred bytes compressed; anything much longer is not ours.
SIGNED_FORM_MAX_LENGTH = 16_384
# OpenID Connect Core 3.1.2.1, and Prompt Create 1.0 (a no-op for a signed-in user; DOT answers
# it for one who is not). select_account shows the page, where the organisation is chosen.
PROMPT_VALUES = frozenset({"none", "login", "consent", "select_account", "create"})
# Our own authorization parameters, which oauthlib's duplicate check does not know.
SINGLE_VALUED = (
    "prompt",
    "tenant",
    "include_granted_scopes",
    "max_age",
    "login_hint",
    "authorization_details",
)
OAUTH_FIELDS = (
    "client_id",
    "redirect_uri",
    "response_type",
    "state",
    "code_challenge",
    "code_challenge_method",
    "nonce",  # OpenID Connect: into the ID token, unchanged
)


class InvalidAuthorizationDetails(CustomOAuth2Error):
    """RFC 9396 section 5: the authorization_details parameter cannot be used as sent."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__("invalid_authorization_details", **kwargs)


class InteractionRequired(CustomOAuth2Error):
    """OpenID Connect Core 3.1.2.6: the request needs the user (here: to choose an organisation)."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__("interaction_required", **kwargs)


def read_signed_form(token: str, *, salt: str, max_age: int) -> dict[str, Any] | None:
    """The payload of a consent form this server signed (consent page, device page), or None.

    The signature is checked before anything is decoded, so only our own JSON is ever parsed;
    the length bound keeps the HMAC and zlib work small before that, and a payload that is not
    an object is treated as a forgery (fail closed), never as a 500.
    """
    if len(token) > SIGNED_FORM_MAX_LENGTH:
        return None
    try:
        payload = signing.loads(token, salt=salt, max_age=max_age)
    except signing.BadSignature:
        return None
    return payload if isinstance(payload, dict) else None


def _signed_in_within(request: HttpRequest, seconds: int) -> bool:
    """Whether the user signed in at most `seconds` ago (the ID token's `auth_time` is the same time)."""
    last_login = signed_in(request.user).last_login
    return last_login is not None and (timezone.now() - last_login).total_seconds() <= seconds


def _to_sign_in(next_url: str, login_hint: str) -> HttpResponse:
    """The sign-in page, coming back to `next_url`; `login_hint` fills in the username."""
    query = {REDIRECT_FIELD_NAME: next_url, **({"login_hint": login_hint} if login_hint else {})}
    return redirect(f"{resolve_url(settings.LOGIN_URL)}?{urlencode(query)}")


def _eligible_memberships(request: HttpRequest, application: Application) -> list[Membership]:
    """Active tenants the user belongs to and the app may be used in."""
    memberships = list(active_memberships_of(signed_in(request.user)))
    if application.tenant_id is not None:
        memberships = [m for m in memberships if m.tenant_id == application.tenant_id]
    return memberships


def _token_scopes(
    application: Application, membership: Membership, granted: list[str], *, include_granted: bool
) -> list[str]:
    """The new token's scopes: what was granted now, plus (incrementally) what was granted before."""
    implications = registry().implications
    scopes = set(granted)
    if include_granted:
        # What the remembered consent still allows (consent ∩ app ∩ role, today): the one standing.
        standing = consent_standing(
            user_id=membership.user_id, tenant_id=membership.tenant_id, application_id=application.pk
        )
        if standing is not None and standing.stands:
            scopes |= set(standing.effective)
    return normalise(scopes, implications)
