"""One consent flow behind every approval page: parse the request once, read everything once.

`AuthorizeRequest` is what the client asked (parsed from `/o/authorize/`'s query, or built from a
device grant); `Situation` is everything the decision needs, read once: the user's memberships,
the grant's rows (one `grant_rows`: role grants, remembered consent, the tenant's policy, the
consent's albums), the app's registrations, the registry and the tenant's albums. The decision
itself is pure (`scopes.consent.outcome`); the views only answer it (docs/architecture.md).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime

from django.http import QueryDict

from accounts import tenancy
from accounts.authn import NO_SIGN_IN, SignIn
from accounts.models import Membership, User
from accounts.selectors import active_memberships_of
from scopes.access.albums import AlbumRequest, InvalidDetails, parse_request
from scopes.access.applications import AppScope, app_scopes
from scopes.access.rows import GrantRows, grant_rows
from scopes.access.scope_registry import RegistrySnapshot, registry
from scopes.consent.albums import tenant_albums
from scopes.consent.authorize import OAUTH_FIELDS, PROMPT_VALUES, SINGLE_VALUED
from scopes.models import Application
from scopes.registry import closure


@dataclass(frozen=True)
class AuthorizeRequest:
    """What the client asked, parsed once; `error` is the first thing wrong with it (client error)."""

    client_id: str
    oauth: Mapping[str, str]
    scopes: tuple[str, ...]
    prompt: frozenset[str] = frozenset()
    max_age: str | None = None
    tenant_slug: str = ""
    include_granted: bool = False
    details: str | None = None  # authorization_details, parsed against the app's registrations
    error: str = ""
    # OpenID Connect's acr_values (RFC 9470: what the API's challenge told the client to ask for).
    acr_values: tuple[str, ...] = ()

    @classmethod
    def from_query(
        cls, query: QueryDict, scopes: list[str], credentials: Mapping[str, object]
    ) -> AuthorizeRequest:
        """The query of a request DOT has validated (client, redirect URI, response type, scopes)."""
        return cls(
            client_id=str(credentials["client_id"]),
            oauth={k: str(credentials.get(k) or "") for k in OAUTH_FIELDS},
            scopes=tuple(scopes),
            prompt=frozenset(query.get("prompt", "").split()),
            max_age=query.get("max_age"),
            tenant_slug=query.get("tenant", ""),
            include_granted=query.get("include_granted_scopes", "").lower() == "true",
            details=query.get("authorization_details"),
            error=_first_error(query, credentials),
            acr_values=tuple(query.get("acr_values", "").split())[:8],
        )

    @property
    def silent(self) -> bool:
        """prompt=none (OpenID Connect Core 3.1.2.6): answer at once, never show a page."""
        return "none" in self.prompt


def _first_error(query: QueryDict, credentials: Mapping[str, object]) -> str:
    if credentials.get("code_challenge_method") != "S256":
        # PKCE is required and only S256 is accepted; refuse before showing anything.
        return 'PKCE with code_challenge_method "S256" is required.'
    repeated = sorted(name for name in SINGLE_VALUED if len(query.getlist(name)) > 1)
    if repeated:
        # RFC 6749 3.1: a parameter sent more than once is an error. Read with .get(), only the
        # last copy would count: prompt=none&prompt=consent would show a page.
        return f"{', '.join(repeated)} must not be repeated."
    prompt = set(query.get("prompt", "").split())
    unknown = sorted(prompt - PROMPT_VALUES)
    if unknown:
        # A value we do not know is an error, rather than silently ignoring what the client meant.
        return f"prompt={' '.join(unknown)} is not supported."
    if "none" in prompt and len(prompt) > 1:
        return "prompt=none stands alone."  # OpenID Connect Core 3.1.2.1
    return ""


@dataclass(frozen=True)
class Situation:
    """Everything one approval decision needs, read once (no step reads the database again)."""

    application: Application
    registry: RegistrySnapshot
    app_scopes: Mapping[str, AppScope]
    memberships: tuple[Membership, ...]
    membership: Membership | None
    tenant_decided: bool  # the client named one of the user's tenants, or the user has only one
    rows: GrantRows | None
    album_request: AlbumRequest | None
    details_error: str
    tenant_albums: tuple[tuple[int, str, int, str], ...]
    signed_in_at: datetime | None
    # How and when the session's user signed in (accounts.authn): step-up compares it with what
    # the requested scopes need.
    sign_in: SignIn = NO_SIGN_IN

    @property
    def user_id(self) -> int | None:
        return self.membership.user_id if self.membership is not None else None


def eligible_memberships(user: User, application: Application) -> tuple[Membership, ...]:
    """Active tenants the user belongs to and the app may be used in."""
    memberships = tuple(active_memberships_of(user))
    if application.tenant_id is not None:
        memberships = tuple(m for m in memberships if m.tenant_id == application.tenant_id)
    return memberships


def situation_of(
    user: User,
    application: Application,
    *,
    tenant_slug: str,
    details: str | None = None,
    album_request: AlbumRequest | None = None,
    sign_in: SignIn | None = None,
) -> Situation:
    """Read the situation of `user` answering `application` in the tenant named `tenant_slug`.

    The grant's rows are read inside the chosen tenant (row-level security shows the consent's
    albums there), the tenant's albums only for an album request.
    """
    snapshot = registry()
    registrations = app_scopes(application)
    details_error = ""
    if details is not None:  # a GET's query; a POST passes the album request its form signed
        album_request, details_error = _album_request(details, registrations, snapshot)
    memberships = eligible_memberships(user, application)
    membership = next((m for m in memberships if m.tenant.slug == tenant_slug), None)
    tenant_decided = membership is not None or len(memberships) == 1
    if membership is None and memberships:
        membership = memberships[0]
    rows: GrantRows | None = None
    albums: tuple[tuple[int, str, int, str], ...] = ()
    if membership is not None:
        tenancy.enter_tenant(membership.tenant_id)
        rows = grant_rows(user_id=user.pk, tenant_id=membership.tenant_id, application_id=application.pk)
        if album_request is not None:
            albums = tuple(tenant_albums(membership.tenant_id))
    return Situation(
        application=application,
        registry=snapshot,
        app_scopes=registrations,
        memberships=memberships,
        membership=membership,
        tenant_decided=tenant_decided,
        rows=rows,
        album_request=album_request,
        details_error=details_error,
        tenant_albums=albums,
        # The session's own sign-in (a step-up counts), else the account's last login.
        signed_in_at=sign_in.auth_time if sign_in is not None and sign_in.auth_time else user.last_login,
        sign_in=sign_in or NO_SIGN_IN,
    )


def _album_request(
    details: str, registrations: Mapping[str, AppScope], snapshot: RegistrySnapshot
) -> tuple[AlbumRequest | None, str]:
    """RFC 9396: the album request, or the reason it cannot be used (checked before any page)."""
    allowed = closure(registrations, snapshot.implications)
    try:
        return parse_request(details, app_allowed=allowed, implications=snapshot.implications), ""
    except InvalidDetails as error:
        return None, str(error)
