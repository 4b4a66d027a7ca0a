"""Where an API client learns who issues tokens for an API, and for which scopes (RFC 9728).

Two protected resources per tenant: the photo API (`/api/t/<slug>/`) and the audit API
(`/api/t/<slug>/audit/`). Each has a metadata document at the path-suffixed well-known URL
(`/.well-known/oauth-protected-resource/api/t/<slug>/`, `.../audit/`); the root document
(`/.well-known/oauth-protected-resource`) describes the host as a whole. Every 401 and 403 of the
API names its resource's document in `WWW-Authenticate` (`resource_metadata=`, RFC 9728 section
5.1), so a client that knows only an API URL (an AI agent, say) finds the authorization server,
the scopes, and how to send the token.

The scopes a resource understands are read off the API's own routes: each view declares the scope
of each action (`action_scopes`, `read_scope`: api.viewsets), and a composite scope of the registry
that implies one of them (`photos.write`) is understood too. A document is served for any tenant
slug, known or not, as the API's 401 is: it says nothing about which tenants exist.

Built on django-oauth-toolkit's `OAuthProtectedResourceMetadataView`, whose document fields and
CORS header it keeps; only where the values come from is ours.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from functools import cache
from typing import Any

from django.http import HttpRequest, HttpResponse
from django.urls import URLPattern, URLResolver, get_resolver
from oauth2_provider.views.metadata import OAuthProtectedResourceMetadataView

from scopes.access.audience import WELL_KNOWN, ResourceKind, bound, resource_at
from scopes.access.selectors import registry
from scopes.constants import ScopeName
from scopes.oidc.views import issuer
from scopes.registry import closure

API_PREFIX = "api/t/<slug:tenant_slug>/"
AUDIT_PREFIX = "api/t/<slug:tenant_slug>/audit/"
PHOTO_API = str(ResourceKind.PHOTO_API)
AUDIT_API = str(ResourceKind.AUDIT_API)
USERINFO = str(ResourceKind.USERINFO)


def _routes(patterns: Iterable[URLPattern | URLResolver], prefix: str = "") -> Iterator[tuple[str, Any]]:
    for pattern in patterns:
        route = prefix + str(pattern.pattern)
        if isinstance(pattern, URLResolver):
            yield from _routes(pattern.url_patterns, route)
        else:
            yield route, pattern.callback


def _declared(view: Any) -> set[str]:
    cls = getattr(view, "cls", None) or getattr(view, "view_class", None)
    found = set(getattr(cls, "action_scopes", {}).values())
    read_scope = getattr(cls, "read_scope", None)
    if read_scope:
        found.add(read_scope)
    return {str(name) for name in found}


@cache
def _declared_scopes() -> dict[str, frozenset[str]]:
    """Each resource's scopes as its views declare them (the URLconf does not change at run time)."""
    found: dict[str, set[str]] = {PHOTO_API: set(), AUDIT_API: set()}
    for route, view in _routes(get_resolver().url_patterns):
        if route.startswith(AUDIT_PREFIX):
            found[AUDIT_API] |= _declared(view)
        elif route.startswith(API_PREFIX):
            found[PHOTO_API] |= _declared(view)
    return {name: frozenset(scopes) for name, scopes in found.items()}


def scopes_understood(resource: str | None) -> list[str]:
    """The scopes a resource understands (None: every API resource), composites that imply them too."""
    declared = _declared_scopes()
    wanted = set().union(*declared.values()) if resource is None else set(declared[resource])
    snapshot = registry()  # one read: the names and their implications from the same epoch
    return sorted(name for name in snapshot.descriptions if closure([name], snapshot.implications) & wanted)


def resource_of(path: str) -> tuple[str, str] | None:
    """(resource, its path) for an API request's path: `/api/t/acme/photos/1/` is the photo API
    of acme, `/api/t/acme/audit/` its audit API; None outside the API (scopes.access.audience)."""
    found = resource_at(path)
    if found is None or found.kind == ResourceKind.USERINFO:
        return None
    return (AUDIT_API if found.kind == ResourceKind.AUDIT_API else PHOTO_API), found.path


def resource_identifier(request: HttpRequest) -> str | None:
    """The identifier of the resource `request` is at (its metadata's `resource`; RFC 8707's
    `resource` value for a token bound to it: scopes.access.audience); None outside the API."""
    found = resource_at(request.path)
    return None if found is None else found.identifier(issuer(request))


def decision_resource(request: HttpRequest, audience: Iterable[str]) -> str | None:
    """What the decision's `resource` is for a token with this audience: `resource_identifier`
    when the token is bound to a resource, None when it is not (`scopes.access.audience.bound`:
    an unbound token passes the resource step whatever the resource, so None decides alike).

    Working the identifier out validates the request's host and builds a URL, about 50 µs of a warm
    request's CPU on the bench's machine (7 December 2026), for an answer only a bound token reads.
    """
    return resource_identifier(request) if bound(audience) else None


def metadata_url(request: HttpRequest) -> str | None:
    """The metadata document of the resource `request` is for (RFC 9728 section 3.1's path form)."""
    found = resource_of(request.path)
    return None if found is None else issuer(request) + WELL_KNOWN + found[1]


class ProtectedResourceMetadataView(OAuthProtectedResourceMetadataView):
    """`GET /.well-known/oauth-protected-resource[/api/t/<slug>/[audit/]]`."""

    resource_kind: str | None = None  # None: the host as a whole (the root document)
    request: HttpRequest

    def get(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        self.request = request
        return super().get(request, *args, **kwargs)

    def get_resource(self, request: HttpRequest) -> str:
        # RFC 9728 section 3.3: identical to the identifier the well-known URL was formed from.
        return (
            issuer(request) + request.path.removeprefix(WELL_KNOWN) if self.resource_kind else issuer(request)
        )

    def get_authorization_servers(self, request: HttpRequest) -> list[str]:
        return [issuer(request)]

    def get_scopes_supported(self) -> list[str]:
        if self.resource_kind == USERINFO:
            # Userinfo answers with `openid` and discloses the claims of `profile` and `email`.
            names = registry().descriptions
            return sorted(
                str(s) for s in (ScopeName.OPENID, ScopeName.PROFILE, ScopeName.EMAIL) if s in names
            )
        return scopes_understood(self.resource_kind)

    def get_bearer_methods_supported(self) -> list[str]:
        return ["header"]  # api.authentication reads the Authorization header only

    def get_resource_name(self) -> str:
        return {PHOTO_API: "Photos API", AUDIT_API: "Audit API", USERINFO: "OpenID Connect userinfo"}.get(
            self.resource_kind or "", "Granular Photos"
        )

    def get_resource_documentation(self) -> str:
        return issuer(self.request) + "/api/docs/"
