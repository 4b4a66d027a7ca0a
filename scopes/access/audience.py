"""Which resource a token is for (RFC 8707 resource indicators): the identifiers, and the rule.

Three kinds of protected resource answer to this server's tokens, each with one identifier, the
same string its RFC 9728 metadata document publishes as `resource` (api.resource_metadata):

    a tenant's photo API   <issuer>/api/t/<slug>/
    a tenant's audit API   <issuer>/api/t/<slug>/audit/
    userinfo               <issuer>/o/userinfo/

A client may ask for a token bound to one of them (`resource` on the authorization and token
requests); the token's audience is then that identifier, compared exactly (no prefix matching:
the photo API's identifier is a prefix of the audit API's). A token with no audience is good for
every resource its tenant, scopes and role reach, as before resource indicators. Pure: no HTTP, no
database; the issuer is passed in.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum
from urllib.parse import urlsplit


class ResourceKind(StrEnum):
    PHOTO_API = "photo API"
    AUDIT_API = "audit API"
    USERINFO = "userinfo"


API_ROOT = "/api/t/"
WELL_KNOWN = "/.well-known/oauth-protected-resource"  # RFC 9728: + a resource's path is its document
USERINFO_PATH = "/o/userinfo/"
SLUG_CHARACTERS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_")


@dataclass(frozen=True)
class Resource:
    """One of our protected resources: its kind, its tenant's slug (None for userinfo), its path."""

    kind: ResourceKind
    tenant_slug: str | None
    path: str

    def identifier(self, issuer: str) -> str:
        return issuer + self.path

    def label(self, tenant_name: str | None = None) -> str:
        """How the consent page names it."""
        if self.kind == ResourceKind.USERINFO:
            return "your profile (userinfo)"
        where = tenant_name or self.tenant_slug
        return f"the {self.kind} of {where}"


def photo_api(slug: str) -> Resource:
    """A tenant's photo API."""
    return Resource(ResourceKind.PHOTO_API, slug, f"{API_ROOT}{slug}/")


def resource_at(path: str) -> Resource | None:
    """The resource a request path belongs to (`/api/t/acme/photos/1/` is acme's photo API)."""
    if path == USERINFO_PATH:
        return Resource(ResourceKind.USERINFO, None, USERINFO_PATH)
    if not path.startswith(API_ROOT):
        return None
    slug, _, rest = path[len(API_ROOT) :].partition("/")
    if not slug or not set(slug) <= SLUG_CHARACTERS:
        return None
    if rest.partition("/")[0] == "audit":
        return Resource(ResourceKind.AUDIT_API, slug, f"{API_ROOT}{slug}/audit/")
    return photo_api(slug)


def parse_resource(uri: str, issuer: str) -> Resource | None:
    """The resource `uri` identifies, if it is exactly one of ours; else None (`invalid_target`).

    Exactly: the issuer, then the resource's own path, with no query, fragment or user info.
    """
    if not isinstance(uri, str) or not uri.startswith(issuer + "/"):
        return None
    parts = urlsplit(uri)
    if parts.query or parts.fragment or "#" in uri or "?" in uri or parts.username or parts.password:
        return None
    found = resource_at(uri[len(issuer) :])
    return found if found is not None and found.identifier(issuer) == uri else None


def bound(audience: Iterable[str]) -> bool:
    """Whether where a token is used matters to `resource_problem`: only for a token bound to a
    resource. An unbound token passes at every resource, so its caller need not work out which
    resource a request is at (`api.resource_metadata.decision_resource`)."""
    return bool(tuple(audience))


def resource_problem(audience: Iterable[str], resource: str | None) -> str | None:
    """Why a token with this audience may not be used at `resource` (None: it may).

    No audience: the token is not bound to a resource. A request that is not at a resource of
    ours (`resource` None) is refused by a bound token: it fails closed.
    """
    audience = tuple(audience)
    if not bound(audience) or resource in audience:
        return None
    return f"the token was issued for {' '.join(audience)}, not for {resource or 'this endpoint'}"
