"""Does this grant still stand, and what does it allow now? One answer, from the database.

Every caller asks here: API authentication (through `scopes.access.cache`), introspection, the
refresh grant, the code exchange, remembered consent on the consent page, the connected-apps page
and the admin's explain page. A grant is a (user, tenant, app) with the scopes one credential
carries (an access token, a refresh token's token, an authorization code, or a remembered consent);
it stands when the user is active, the tenant is active, the user is a member there, the consent
still exists (and, for a token, the token exists and has not expired). What it allows now is

    granted   = the credential's scopes ∩ the consent's scopes ∩ the app's allowed scopes
    effective = granted ∩ what the user's current role covers
    albums    = the credential's albums ∩ the consent's (explicit) album limit ∩ what the role sees

each taken as closures under the current implication graph, then normalised. The API decides
with `granted` and the role's grants separately, so that a refusal can say which one refused
(`scope_missing` or `role_forbids`); everyone else reports `effective`.

One SQL statement reads what a grant stands on (`scopes.access.rows`); `assess()` is the pure rule
on top.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from django.db import connection
from django.utils import timezone

from accounts.authn import NO_SIGN_IN, Requirement, SignIn
from accounts.models import Tenant, User
from scopes.access.albums import AlbumIds, standing_albums
from scopes.access.policy import blocked_detail, second_factor_detail, second_factor_missing
from scopes.access.rows import (
    GrantRows,
    TokenRows,
    _grant_sql,
    _rows,
    grant_rows,
    plain_values,
    rebuilt,
    token_rows,
)
from scopes.access.scope_registry import registry
from scopes.registry import Implications, closure, grant_reaches, normalise


class Problem(StrEnum):
    """Why a grant no longer stands (stable codes; `Standing.detail` says it in words)."""

    UNKNOWN = "unknown"
    EXPIRED = "expired"
    USER_INACTIVE = "user_inactive"
    TENANT_INACTIVE = "tenant_inactive"
    NOT_MEMBER = "not_member"
    CONSENT_REVOKED = "consent_revoked"
    APP_NOT_IN_TENANT = "app_not_in_tenant"
    PERSONAL_TOKENS_FORBIDDEN = "personal_tokens_forbidden"
    APP_BLOCKED = "app_blocked"  # by the tenant's app policy (scopes.tenant_policy)
    SECOND_FACTOR_REQUIRED = "second_factor_required"  # by the tenant's rule, and the user has none


# Problems the API reports as "this tenant does not exist for you" (404), not as a bad token (401).
TENANT_PROBLEMS = frozenset({Problem.TENANT_INACTIVE, Problem.NOT_MEMBER})

DETAILS = {
    Problem.UNKNOWN: "the token is unknown or has been revoked",
    Problem.EXPIRED: "the token has expired",
    Problem.USER_INACTIVE: "the token's user is not active",
    Problem.TENANT_INACTIVE: "the tenant is inactive",
    Problem.NOT_MEMBER: "the user is not a member of the tenant",
    Problem.CONSENT_REVOKED: "the user has taken back this app's access",
    Problem.APP_NOT_IN_TENANT: "the app may no longer be used in this tenant",
    Problem.PERSONAL_TOKENS_FORBIDDEN: "the tenant does not allow personal access tokens",
    Problem.APP_BLOCKED: "the app is blocked by the tenant's app policy",
    Problem.SECOND_FACTOR_REQUIRED: "the tenant requires a second factor, and the user has not set one up",
}


def describe(problem: Problem, tenant_name: str) -> str:
    """A problem in words; the policy's names the tenant ("blocked by Acme's app policy")."""
    if problem == Problem.SECOND_FACTOR_REQUIRED:
        return second_factor_detail(tenant_name)
    return blocked_detail(tenant_name) if problem == Problem.APP_BLOCKED else DETAILS[problem]


@dataclass(frozen=True)
class Standing:
    """The answer: whether the grant stands (`problem` is None) and what it allows now."""

    problem: Problem | None
    rows: GrantRows
    issued: tuple[str, ...]
    granted: tuple[str, ...]
    effective: tuple[str, ...]
    expires: datetime | None
    # The albums it may reach now; None: no album limit (scopes.access.albums).
    albums: AlbumIds | None = None
    # An access token's audience (RFC 8707, scopes.access.audience); empty: not bound, or not a token.
    audience: tuple[str, ...] = ()
    # An access token's: how and when its user signed in (introspection reports it).
    sign_in: SignIn = NO_SIGN_IN

    @property
    def stands(self) -> bool:
        return self.problem is None

    @property
    def detail(self) -> str:
        return describe(self.problem, self.rows.tenant.name) if self.problem else "the grant stands"


def assess(
    rows: GrantRows,
    *,
    issued: Iterable[str],
    implications: Implications,
    expires: datetime | None = None,
    now: datetime | None = None,
    issued_albums: AlbumIds | None = None,
) -> Standing:
    """The rule, pure: the first problem found (in a fixed order), the scopes and albums left."""
    issued = tuple(issued)
    problem: Problem | None = None
    if expires is not None and (now or timezone.now()) >= expires:
        problem = Problem.EXPIRED
    elif rows.user is None or not rows.user.is_active:
        problem = Problem.USER_INACTIVE
    elif not rows.tenant.is_active:
        problem = Problem.TENANT_INACTIVE
    elif rows.role_id is None:
        problem = Problem.NOT_MEMBER
    elif rows.app_tenant_id is not None and rows.app_tenant_id != rows.tenant.pk:
        problem = Problem.APP_NOT_IN_TENANT
    elif rows.personal_tokens_forbidden:
        problem = Problem.PERSONAL_TOKENS_FORBIDDEN
    elif not rows.policy.usable:
        problem = Problem.APP_BLOCKED
    elif second_factor_missing(
        rows.policy.second_factor,
        has_factor=rows.has_second_factor,
        role_grants=rows.role_grants,
        implications=implications,
    ):
        problem = Problem.SECOND_FACTOR_REQUIRED
    elif rows.consent_id is None:
        problem = Problem.CONSENT_REVOKED
    granted_closure = (
        closure(issued, implications)
        & closure(rows.consented, implications)
        & closure(rows.app_allowed, implications)
    )
    tenant_cap = rows.policy.cap_closure(implications)  # the tenant's cap for this app, if any
    if tenant_cap is not None:
        granted_closure &= tenant_cap
    role_covered = frozenset(grant_reaches(rows.role_grants, implications))
    return Standing(
        problem=problem,
        rows=rows,
        issued=issued,
        granted=tuple(normalise(granted_closure, implications)),
        effective=tuple(normalise(granted_closure & role_covered, implications)),
        expires=expires,
        albums=standing_albums(
            issued_albums,
            consented=rows.consent_albums,
            consent_limited=rows.albums_limited,
            user_id=rows.user.pk if rows.user is not None else None,
            role_grants=rows.role_grants,
            implications=implications,
        ),
    )


def token_expiry(found: TokenRows) -> datetime:
    """When an access token stops standing: its own expiry, or earlier if its tenant now says so.

    A personal access token may live at most the tenant's CURRENT maximum (TokenPolicy.max_days)
    from when it was issued: lowering the maximum shortens the tokens that already exist at their
    next request, as every other tenant policy applies to existing credentials. The maximum is read
    in the standing's one statement, so the row version that keeps the cache fresh covers it
    (a TokenPolicy change bumps its tenant's version, whoever made it).
    """
    return effective_expiry(found.expires, created=found.created, max_days=found.rows.personal_max_days)


def effective_expiry(expires: datetime, *, created: datetime | None, max_days: int | None) -> datetime:
    """min(the token's own expiry, its creation + the tenant's current maximum); pure, for every reader."""
    if max_days is None or created is None:
        return expires
    return min(expires, created + timedelta(days=max_days))


# --- Reading: one statement per grant.


def _implications() -> Mapping[str, frozenset[str]]:
    return registry().implications


def access_token_standing(checksum: str, *, now: datetime | None = None) -> Standing | None:
    """The standing of an access token (None: no such token, i.e. unknown or revoked)."""
    found = token_rows(checksum)
    if found is None:
        return None
    standing = assess(
        found.rows,
        issued=found.scope,
        implications=_implications(),
        expires=token_expiry(found),
        now=now,
        issued_albums=found.albums,
    )
    return replace(standing, audience=found.audience, sign_in=found.sign_in)


def grant_standing(
    *,
    user_id: int | None,
    tenant_id: int,
    application_id: int | None,
    issued: Iterable[str],
    expires: datetime | None = None,
    issued_albums: AlbumIds | None = None,
    lock_consent: bool = False,
) -> Standing | None:
    """The standing of a refresh token's or a code's grant (`lock_consent`: see `grant_rows`)."""
    rows = grant_rows(
        user_id=user_id, tenant_id=tenant_id, application_id=application_id, lock_consent=lock_consent
    )
    if rows is None:
        return None
    return assess(
        rows, issued=issued, implications=_implications(), expires=expires, issued_albums=issued_albums
    )


def standing_of(rows: GrantRows, *, issued: Iterable[str]) -> Standing:
    """The standing of a grant whose rows the caller read (the client-credentials grant reads its
    service account's through `scopes.access.cache.locked_source_grant`)."""
    return assess(rows, issued=issued, implications=_implications())


_CONSENTS_SOURCE = "SELECT user_id, tenant_id, application_id FROM scopes_consent WHERE user_id = %s"


def consent_standings_of(user_id: int) -> dict[tuple[int, int], Standing]:
    """Every consent of one user as it stands, by (tenant id, app id), in ONE query (connected apps)."""
    with connection.cursor() as cursor:
        cursor.execute(_grant_sql(_CONSENTS_SOURCE), [user_id])
        found = cursor.fetchall()
    implications = _implications()
    standings = {}
    for row in found:
        rows, (_user_id, tenant_id, application_id) = _rows(row)
        standings[(tenant_id, application_id)] = assess(
            rows, issued=rows.consented, implications=implications
        )
    return standings


# --- The API's view of a standing access token.


@dataclass(frozen=True)
class UserValues:
    """The token's user as plain values: what an `AuthorizationContext` (and so the cache) keeps.

    Never the model instance: a context outlives its request in the per-process cache, and an
    instance handed out as `request.user` to every request of the token would carry whatever one
    request set on it into the next. `instance()` builds a new one per request, without a query.
    """

    pk: int
    username: str
    is_active: bool
    columns: tuple[Any, ...] = field(repr=False, compare=False)  # `plain_values`: builds the instance

    @classmethod
    def of(cls, user: User) -> UserValues:
        return cls(pk=user.pk, username=user.username, is_active=user.is_active, columns=plain_values(user))

    def instance(self) -> User:
        """A new `User` for one request, as if loaded from the database (no query)."""
        return rebuilt(User, self.columns)


@dataclass(frozen=True)
class TenantValues:
    """The token's tenant as plain values (see `UserValues`): what the decision reads of it."""

    pk: int
    slug: str
    name: str
    is_active: bool
    columns: tuple[Any, ...] = field(repr=False, compare=False)

    @classmethod
    def of(cls, tenant: Tenant) -> TenantValues:
        return cls(
            pk=tenant.pk,
            slug=tenant.slug,
            name=tenant.name,
            is_active=tenant.is_active,
            columns=plain_values(tenant),
        )

    def instance(self) -> Tenant:
        """A new `Tenant` for one request, as if loaded from the database (no query)."""
        return rebuilt(Tenant, self.columns)


@dataclass(frozen=True)
class AuthorizationContext:
    """Everything a request's authorization needs, read together at request time.

    `token_scopes` is what the app may still do (`Standing.granted`: the token's scopes capped by
    the consent and the app's allowed scopes as they are now); the role's grants are kept apart so
    the decision can tell `scope_missing` from `role_forbids`.
    """

    token_id: int
    token_scopes: tuple[str, ...]
    expires: datetime
    # Plain values only (ids, names, flags), so a context may be shared by every request of its
    # token: the API builds the request's user and tenant from them, per request.
    user: UserValues | None
    tenant: TenantValues
    role_id: int | None
    role_name: str | None
    role_grants: tuple[tuple[str, str], ...]
    # The scope implication graph as of this request: read with the rest, so one request decides,
    # and writes its headers, under one registry.
    implications: Mapping[str, frozenset[str]] = field(compare=False, repr=False)
    # Why the grant does not stand, when that is not a tenant matter (the decision's tenant step
    # answers those with a 404): consent taken back, user deactivated.
    standing_problem: Problem | None = None
    # The albums the token may reach now (`Standing.albums`); None: no album limit.
    albums: AlbumIds | None = None
    # The client the token was issued to (usage is recorded per app: scopes.usage).
    application_id: int | None = None
    # The resource it is bound to (RFC 8707): read in the same statement as the rest, so the
    # decision's resource step costs no query (scopes.access.audience). Empty: not bound.
    audience: tuple[str, ...] = ()
    # How and when the token's user signed in (never raised by a refresh), and what each scope
    # needs of that (the registry's, read with the implications): the decision's sign-in step.
    sign_in: SignIn = NO_SIGN_IN
    requirements: Mapping[str, Requirement] = field(default_factory=dict, compare=False, repr=False)

    @property
    def is_member(self) -> bool:
        return self.role_id is not None

    def problem(self, now: datetime) -> str | None:
        """Why the token itself cannot be used (None: it can)."""
        if now >= self.expires:  # the one thing that changes with time alone: checked per request
            return DETAILS[Problem.EXPIRED]
        if self.standing_problem is not None and self.standing_problem not in TENANT_PROBLEMS:
            return describe(self.standing_problem, self.tenant.name)
        return None


class GrantJudgements:
    """What every token of one grant shares, worked out once for the grant's rows: its user and
    tenant as plain values, and its standing for each set of scopes and album limit its tokens carry.

    A process keeps one beside each grant's rows it holds (`scopes.access.cache.grants`), and a
    token new to the process, of a grant it holds, is judged from it (`context_from`) instead of
    anew. That is sound because everything here is a pure function of the rows and of the registry
    snapshot's implications (`assess` without an expiry reads no clock). The rows are never changed
    once read (frozen, and the model instances they hold never leave `scopes.access.cache`, whose
    docstring says so); when the database's rows change, the process reads them again and keeps a
    new `GrantJudgements` with them. A standing is reused only under the very implications mapping
    it was judged under (compared by identity; the entry holds the mapping, so its identity cannot
    pass to another). Everything that is the token's own (id, expiry, audience, sign-in) is not
    here. Tokens of one grant mostly carry the same scopes (a refresh keeps them), so one entry is
    the common case; a grant whose tokens carry more than `LIMIT` different ones starts over rather
    than grow.
    """

    LIMIT = 8
    __slots__ = ("_standings", "_values", "rows")

    def __init__(self, rows: GrantRows) -> None:
        self.rows = rows
        self._values: tuple[UserValues | None, TenantValues] | None = None
        self._standings: dict[
            tuple[tuple[str, ...], AlbumIds | None], tuple[Mapping[str, Any], Standing]
        ] = {}

    def values(self) -> tuple[UserValues | None, TenantValues]:
        """The grant's user and tenant as a context keeps them (plain values, shared: immutable)."""
        if self._values is None:
            user = None if self.rows.user is None else UserValues.of(self.rows.user)
            self._values = (user, TenantValues.of(self.rows.tenant))
        return self._values

    def standing(
        self, issued: tuple[str, ...], issued_albums: AlbumIds | None, implications: Mapping[str, Any]
    ) -> Standing:
        """`assess(self.rows, issued=..., issued_albums=..., implications=...)`, judged once."""
        key = (issued, issued_albums)
        found = self._standings.get(key)
        if found is not None and found[0] is implications:
            return found[1]
        standing = assess(self.rows, issued=issued, implications=implications, issued_albums=issued_albums)
        if len(self._standings) >= self.LIMIT:
            self._standings.clear()
        self._standings[key] = (implications, standing)
        return standing


def context_from(
    found: TokenRows,
    implications: Mapping[str, frozenset[str]],
    requirements: Mapping[str, Requirement] | None = None,
    judged: GrantJudgements | None = None,
) -> AuthorizationContext:
    """The API's context for a token read by `token_rows`, judged by `assess` (no expiry: per request).

    `requirements` are the registry's step-up rules of the same snapshot as `implications`.
    `judged`: what the token's grant shares with its other tokens, when the caller keeps it for
    these very rows (`GrantJudgements`); the context is the same, built with less work."""
    if judged is None or judged.rows is not found.rows:
        judged = GrantJudgements(found.rows)  # for this token alone: the same work, kept nowhere
    standing = judged.standing(found.scope, found.albums, implications)
    user, tenant = judged.values()
    return AuthorizationContext(
        token_id=found.token_id,
        token_scopes=standing.granted,
        expires=token_expiry(found),
        user=user,
        tenant=tenant,
        role_id=found.rows.role_id,
        role_name=found.rows.role_name,
        role_grants=found.rows.role_grants,
        implications=implications,
        standing_problem=standing.problem,
        albums=standing.albums,
        application_id=found.rows.application_id,
        audience=found.audience,
        sign_in=found.sign_in,
        requirements=requirements or {},
    )
