"""Client ID metadata documents, fetched through the one outbound-request guard and held to our rules.

django-oauth-toolkit resolves an HTTPS `client_id` (behind `CIMD_ENABLED`, off here) by fetching
the document it names with `CIMD_METADATA_FETCHER` and upserting a public application from it. Its
own fetcher is careful, but it is a second SSRF guard beside `accounts.outbound` (whose
`OUTBOUND_ALLOWED_NETWORKS` and http-for-tests rules would then be two places); so the fetch goes
through `accounts.outbound.get` instead: no internal addresses, pinned to the checked address, no
redirects (a 3xx is a refusal), bounded time and size. The HTTP caching headers give the lifetime
DOT keeps the application for (its `_effective_max_age`, clamped to its min and max settings).

The document is then held to what a self-registered client may be, before DOT sees it:

- `client_id` is the URL it was fetched from (DOT checks it too);
- `token_endpoint_auth_method` is `none` (DOT refuses every other; `private_key_jwt` is not
  supported by DOT's CIMD and so not offered);
- `grant_types` is the authorization code (and refresh): never `client_credentials`, the device
  grant or anything that would give a self-registered client machine powers;
- every `redirect_uri` is on the `client_id`'s own host (https), or a loopback redirect for a
  native app (RFC 8252 section 7.3); a document naming another site's callback is refused;
- `client_name` is a short string; `logo_uri`, when present, is https on the same host.

Registrations are rate limited (`RegistrationLimit`, DOT's `CIMD_REGISTRATION_PERMISSION_CLASSES`):
each attempt to register an unknown `client_id` counts per requesting address and per `client_id`
host (`RATE_LIMITS["cimd-registration-ip"]`, `["cimd-registration-host"]`), so a flood of made-up
URLs neither fills the application table nor turns this server into a fetcher for someone else.

Not built yet: the tenant approval queue for self-registered clients, the consent page's "not
verified" line, tenant domain blocks, expiry of unused registrations, and turning `CIMD_ENABLED`
on. Until then nothing in the running server calls this module.
"""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import urlsplit

from django.http import HttpRequest
from oauth2_provider.cimd import CIMDError, _effective_max_age
from oauth2_provider.settings import oauth2_settings

from accounts import outbound, ratelimit

JSON_TYPES = ("application/json",)
ALLOWED_GRANTS = frozenset({"authorization_code", "refresh_token"})
LOOPBACK_HOSTS = frozenset({"127.0.0.1", "[::1]", "::1", "localhost"})
NAME_MAX_LENGTH = 100


class RegistrationLimit:
    """DOT's CIMD permission hook: refuse a registration past the address's or the host's limit.

    `request` is the oauthlib request the `client_id` arrived on (its headers carry Django's
    META); every check counts, as each is a fetch this server would make on the caller's word.
    """

    def has_permission(self, request: Any, client_id: str) -> bool:
        headers = getattr(request, "headers", {}) or {}
        meta = HttpRequest()
        meta.META = {k: v for k, v in dict(headers).items() if isinstance(v, str)}
        limits = [
            ("cimd-registration-ip", ratelimit.client_address(meta)),
            ("cimd-registration-host", (urlsplit(client_id).hostname or "").lower()),
        ]
        if ratelimit.retry_after(limits) is not None:
            return False
        ratelimit.record_attempt(limits)
        return True


class GuardedMetadataFetcher:
    """DOT's `CIMD_METADATA_FETCHER`: `fetch(client_id) -> (document, max_age_seconds)` or `CIMDError`."""

    def fetch(self, client_id: str) -> tuple[dict[str, Any], int]:
        limit = int(oauth2_settings.CIMD_MAX_DOCUMENT_SIZE)
        try:
            response = outbound.get(
                client_id,
                headers={"Accept": "application/json"},
                timeout=float(oauth2_settings.CIMD_FETCH_TIMEOUT_SECONDS),
                max_response_bytes=limit + 1,
            )
        except outbound.OutboundError as error:
            raise CIMDError(f"client_id document not fetched: {error}") from None
        if response.status != 200:
            # 3xx included: a redirect is never followed (the document must be at its URL).
            raise CIMDError(f"client_id document answered HTTP {response.status}")
        media_type = response.headers.get("content-type", "").split(";")[0].strip().lower()
        if media_type not in JSON_TYPES and not (
            media_type.startswith("application/") and media_type.endswith("+json")
        ):
            raise CIMDError("client_id document is not JSON")
        if len(response.body) > limit:
            raise CIMDError("client_id document is larger than CIMD_MAX_DOCUMENT_SIZE")
        try:
            document = json.loads(response.body)
        except ValueError:
            raise CIMDError("client_id document is not valid JSON") from None
        if not isinstance(document, dict):
            raise CIMDError("client_id document is not a JSON object")
        document_problem(document, client_id=client_id)
        return document, _effective_max_age(response.headers.get("cache-control"))


def document_problem(document: dict[str, Any], *, client_id: str) -> None:
    """Raise `CIMDError` saying why `document` cannot describe a self-registered client."""
    if document.get("client_id") != client_id:
        raise CIMDError("the document's client_id is not the URL it was fetched from")
    if document.get("token_endpoint_auth_method", "none") != "none":
        raise CIMDError("a self-registered client is public: token_endpoint_auth_method must be none")
    grants = document.get("grant_types", ["authorization_code"])
    if not isinstance(grants, list) or not grants or not set(grants) <= ALLOWED_GRANTS:
        raise CIMDError("grant_types may name only authorization_code and refresh_token")
    if "authorization_code" not in grants:
        raise CIMDError("grant_types must include authorization_code")
    name = document.get("client_name", "")
    if not isinstance(name, str) or not name.strip() or len(name) > NAME_MAX_LENGTH:
        raise CIMDError(f"client_name must be a name of 1 to {NAME_MAX_LENGTH} characters")
    home = urlsplit(client_id).hostname
    redirects = document.get("redirect_uris")
    if not isinstance(redirects, list) or not redirects:
        raise CIMDError("redirect_uris must be a non-empty array")
    for uri in redirects:
        if not isinstance(uri, str) or not _redirect_allowed(uri, home):
            raise CIMDError("every redirect_uri must be https on the client_id's host, or loopback")
    logo = document.get("logo_uri")
    if logo is not None:
        parts = urlsplit(logo) if isinstance(logo, str) else None
        if parts is None or parts.scheme != "https" or parts.hostname != home:
            raise CIMDError("logo_uri must be https on the client_id's host")


def _redirect_allowed(uri: str, home: str | None) -> bool:
    parts = urlsplit(uri)
    if parts.fragment or parts.username or parts.password or not parts.hostname:
        return False
    if parts.scheme == "http" and parts.hostname in LOOPBACK_HOSTS:
        return True  # a native app's loopback redirect (RFC 8252 section 7.3)
    return parts.scheme == "https" and parts.hostname == home
