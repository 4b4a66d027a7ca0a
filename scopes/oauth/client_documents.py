"""Client ID metadata documents, fetched through the one outbound-request guard and held to our rules.

django-oauth-toolkit resolves an HTTPS `client_id` (behind `CIMD_ENABLED`, on here) by fetching
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

Once DOT has written the application, `adopt` makes it one of ours (the validator calls it right
after the document was fetched): where it came from (`metadata_url`, `metadata_fetched_at`,
`client_host`), and the scopes it may ask for, those its document's `scope` declares within
`SELF_REGISTERED_CLIENT_SCOPES` (all of those without `scope`), none required. From there it is
an app like any other: the tenant's app policy (approved apps only, blocks, caps, and blocked
client ID domains) decides whether it may be used, the consent page shows it as not verified,
the user ticks lines within their role. `cleartokens` deletes the registrations nobody uses.
The rules and their tests: docs/security.md, "Self-registered clients".
"""

from __future__ import annotations

import json
from contextvars import ContextVar
from typing import Any
from urllib.parse import urlsplit

from django.conf import settings
from django.db import transaction
from django.http import HttpRequest
from django.utils import timezone
from oauth2_provider.cimd import CIMDError, _effective_max_age
from oauth2_provider.settings import oauth2_settings

from accounts import outbound, ratelimit
from scopes.models import Application, Scope
from scopes.services import AllowedScope, application_scopes_set

# The documents this request fetched, by client_id: DOT's upsert keeps only some fields, `adopt`
# reads the rest (a request is one thread or task: a context variable, never shared).
_fetched: ContextVar[dict[str, dict[str, Any]] | None] = ContextVar("client_documents_fetched", default=None)

JSON_TYPES = ("application/json",)
ALLOWED_GRANTS = frozenset({"authorization_code", "refresh_token"})
LOOPBACK_HOSTS = frozenset({"127.0.0.1", "[::1]", "::1", "localhost"})
NAME_MAX_LENGTH = 100
SCOPE_MAX_LENGTH = 1000
REDIRECTS_MAX = 10
URI_MAX_LENGTH = 500


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
        _fetched.set({**(_fetched.get() or {}), client_id: document})
        return document, _effective_max_age(response.headers.get("cache-control"))


def take_fetched(client_id: str) -> dict[str, Any] | None:
    """The document fetched for `client_id` during this request, once (None if none was)."""
    fetched = _fetched.get() or {}
    document = fetched.get(client_id)
    if document is not None:
        _fetched.set({k: v for k, v in fetched.items() if k != client_id})
    return document


def declared_scopes(document: dict[str, Any]) -> list[str]:
    """The scopes a self-registered client may ask for: its `scope` within the allowed set."""
    allowed = list(dict.fromkeys(settings.SELF_REGISTERED_CLIENT_SCOPES))
    declared = document.get("scope")
    if not isinstance(declared, str):
        return allowed
    names = set(declared.split())
    return [name for name in allowed if name in names]


@transaction.atomic
def adopt(application: Application, document: dict[str, Any]) -> Application:
    """Record where a self-registered app came from and the scopes it may ask for.

    Only for an app DOT registered from a client ID metadata document (never a manual one).
    The scope links are set to exactly `declared_scopes(document)`: a document that drops a
    scope loses it at its next fetch.
    """
    if application.registration_source != Application.RegistrationSource.CIMD:
        return application
    if (application.name, application.redirect_uris) != (
        document.get("client_name", ""),
        " ".join(document.get("redirect_uris") or []),
    ):
        return application  # DOT refused to write this document (it kept the last good one): not it
    application.metadata_url = application.client_id
    application.metadata_fetched_at = timezone.now()
    application.client_host = (urlsplit(application.client_id).hostname or "").lower()
    application.save(update_fields=["metadata_url", "metadata_fetched_at", "client_host"])
    # The one writer of what an app may ask for; audited, with no actor (the document decided).
    wanted = Scope.objects.filter(name__in=declared_scopes(document)).order_by("name")
    application_scopes_set(
        actor=None, application=application, allowed=[AllowedScope(scope=scope) for scope in wanted]
    )
    return application


def document_problem(document: dict[str, Any], *, client_id: str) -> None:
    """Raise `CIMDError` saying why `document` cannot describe a self-registered client."""
    if document.get("client_id") != client_id:
        raise CIMDError("the document's client_id is not the URL it was fetched from")
    problem = metadata_problem(document, home=urlsplit(client_id).hostname)
    if problem:
        raise CIMDError(problem)


def metadata_problem(document: dict[str, Any], *, home: str | None) -> str | None:
    """Why `document` cannot describe a self-registered client, or None.

    The rules both ways of registering share: public, authorization code only, a short name,
    redirect URIs on `home` over https (any https host when there is no `home`, as for RFC 7591,
    where nothing names the client's site) or loopback, a logo over https on `home`.
    """
    if document.get("token_endpoint_auth_method", "none") != "none":
        return "a self-registered client is public: token_endpoint_auth_method must be none"
    if "client_secret" in document or "jwks" in document or "jwks_uri" in document:
        return "a self-registered client is public: it has no secret and no keys"
    grants = document.get("grant_types", ["authorization_code"])
    if not isinstance(grants, list) or not grants or not set(grants) <= ALLOWED_GRANTS:
        return "grant_types may name only authorization_code and refresh_token"
    if "authorization_code" not in grants:
        return "grant_types must include authorization_code"
    if document.get("response_types", ["code"]) != ["code"]:
        return "response_types may name only code"
    name = document.get("client_name", "")
    if not isinstance(name, str) or not name.strip() or len(name) > NAME_MAX_LENGTH:
        return f"client_name must be a name of 1 to {NAME_MAX_LENGTH} characters"
    scope = document.get("scope")
    if scope is not None and (not isinstance(scope, str) or len(scope) > SCOPE_MAX_LENGTH):
        return f"scope must be a space-separated string of at most {SCOPE_MAX_LENGTH} characters"
    redirects = document.get("redirect_uris")
    if not isinstance(redirects, list) or not redirects or len(redirects) > REDIRECTS_MAX:
        return f"redirect_uris must be an array of 1 to {REDIRECTS_MAX} URIs"
    for uri in redirects:
        if not isinstance(uri, str) or len(uri) > URI_MAX_LENGTH or not _redirect_allowed(uri, home):
            where = "the client_id's host" if home else "https"
            return f"every redirect_uri must be https on {where}, or loopback"
    logo = document.get("logo_uri")
    if logo is not None:
        parts = urlsplit(logo) if isinstance(logo, str) else None
        if parts is None or parts.scheme != "https" or (home is not None and parts.hostname != home):
            return "logo_uri must be https" + (" on the client_id's host" if home else "")
    return None


def _redirect_allowed(uri: str, home: str | None) -> bool:
    try:
        parts = urlsplit(uri)
        host = parts.hostname
    except ValueError:
        return False
    if parts.fragment or parts.username or parts.password or not host:
        return False
    if parts.scheme == "http" and host in LOOPBACK_HOSTS:
        return True  # a native app's loopback redirect (RFC 8252 section 7.3)
    return parts.scheme == "https" and (home is None or host == home)
