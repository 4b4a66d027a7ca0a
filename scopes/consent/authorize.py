"""What an authorization request carries and the small rules the consent page applies to it.

The parameters we read beyond DOT's, the errors we answer with (OpenID Connect Core, RFC 9396),
and the helpers the consent view (`scopes.consent.views`) and the device page share.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from django.core import signing
from oauthlib.oauth2.rfc6749.errors import (
    CustomOAuth2Error,
)

from scopes.access.audience import Resource, parse_resource

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
    "resource",  # RFC 8707 allows several; we bind a token to one resource (scopes.access.audience)
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


class InvalidTarget(CustomOAuth2Error):
    """RFC 8707 section 2: `resource` is not a resource of this server, or not one this grant may name."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__("invalid_target", **kwargs)


def requested_resource(
    query: Mapping[str, str], *, issuer: str, tenant_slug: str
) -> tuple[Resource | None, str]:
    """The resource an authorization request names (RFC 8707), or why it cannot be used.

    One of ours exactly (scopes.access.audience). A tenant's API names its tenant: a `tenant`
    parameter that names another is refused, as the token could be used nowhere.
    """
    value = query.get("resource")
    if value is None:
        return None, ""
    found = parse_resource(value, issuer)
    if found is None:
        return None, (
            "resource must be the identifier of one of this server's protected resources "
            "(the `resource` of its metadata document, /.well-known/oauth-protected-resource/...)."
        )
    if found.tenant_slug is not None and tenant_slug and tenant_slug != found.tenant_slug:
        return None, "resource names another organisation than the tenant parameter."
    return found, ""


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
