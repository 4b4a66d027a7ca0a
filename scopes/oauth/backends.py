"""django-oauth-toolkit's backends: the scopes backend over the database registry, and the oauthlib core."""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qs, parse_qsl, quote, urlencode, urlsplit, urlunsplit

from django.http import HttpRequest
from django.utils.http import parse_header_parameters
from oauth2_provider.oauth2_backends import OAuthLibCore as DotOAuthLibCore
from oauth2_provider.scopes import BaseScopes

from scopes.access.applications import app_scopes
from scopes.access.selectors import registry
from scopes.models import Application
from scopes.registry import closure


class DatabaseScopes(BaseScopes):
    """Scopes come from `Scope`; an app may ask for what it registered and what that implies."""

    def get_all_scopes(self) -> dict[str, str]:
        return dict(registry().descriptions)

    def get_available_scopes(
        self, application: Application | None = None, request: Any = None, *args: Any, **kwargs: Any
    ) -> list[str]:
        snapshot = registry()
        if application is None:
            return sorted(snapshot.descriptions)
        return sorted(closure(app_scopes(application), snapshot.implications))

    def get_default_scopes(
        self, application: Application | None = None, request: Any = None, *args: Any, **kwargs: Any
    ) -> list[str]:
        # DOT's default is every scope; ours is none, so a request without `scope` is refused.
        return []


FORM = "application/x-www-form-urlencoded"


class OAuthLibCore(DotOAuthLibCore):
    """DOT's bridge to oauthlib: a form body's media type without its parameters, and every
    authorization response in the redirect URI's query.

    oauthlib's device authorization endpoint compares `Content-Type` for equality with
    `application/x-www-form-urlencoded` (RFC 8628 3.1), so `...;charset=UTF-8`, which node's
    `fetch` and browsers send, was refused. Django has already decoded the body by its charset;
    every endpoint that takes a form (token, introspection, revocation, device authorization) goes
    through this one class, so the header is normalised once, here. Only UTF-8 (the charset RFC
    6749 Appendix B prescribes) or no charset is normalised; any other parameter is left as sent
    and refused as before.

    `response_mode` is not read (`_get_escaped_full_path`): oauthlib honoured `fragment` when
    consent was remembered, while the page's answer (a POST carrying no `response_mode`) went to
    the query, so one client got two encodings. Every response, success or error, is a query
    response with `iss` (RFC 9207), as the metadata's `response_modes_supported` says.
    """

    def create_token_response(self, request: HttpRequest) -> tuple[Any, dict[str, str], Any, int]:
        """DOT's token response; an error raised while the tokens are saved (oauthlib lets those
        through: `invalid_grant` for a consent revoked meanwhile, `invalid_target` for a resource
        the grant may not name) is JSON too (RFC 6749 5.2), not a body Django would label HTML."""
        uri, headers, body, status = super().create_token_response(request)
        headers = dict(headers or {})
        if status >= 400 and "Content-Type" not in headers:
            headers.update(
                {"Content-Type": "application/json", "Cache-Control": "no-store", "Pragma": "no-cache"}
            )
        return uri, headers, body, status

    def _get_escaped_full_path(self, request: HttpRequest) -> str:
        uri = super()._get_escaped_full_path(request)
        parts = urlsplit(uri)
        if "response_mode" not in parse_qs(parts.query, keep_blank_values=True):
            return uri
        query = [(k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True) if k != "response_mode"]
        return urlunsplit(parts._replace(query=urlencode(query, quote_via=quote)))

    def extract_headers(self, request: HttpRequest) -> dict[str, Any]:
        headers = super().extract_headers(request)
        raw = headers.get("Content-Type")
        if isinstance(raw, str):
            media_type, params = parse_header_parameters(raw)
            charset = params.pop("charset", "utf-8").lower()
            if media_type == FORM and not params and charset in ("utf-8", "utf8"):
                headers["Content-Type"] = FORM
        return headers
