"""The consent decision, pure: from a request and its situation to what the page answers.

No HTTP and no database here: `on_get` and `on_post` take an `AuthorizeRequest` and a `Situation`
(`scopes.consent.flow`) and return an `Outcome`, which the consent view and the device page only
carry out. So the combinations (prompt x remembered consent x tenant policy x albums) are tested
as functions (tests/scopes/consent/test_consent_outcome.py), as `decide()` is for the API.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, replace
from datetime import datetime

from oauthlib.oauth2 import AccessDeniedError, InvalidRequestError
from oauthlib.oauth2.rfc6749.errors import ConsentRequired, LoginRequired, OAuth2Error

from accounts.authn import MFA, Requirement, shortfall, strongest
from accounts.authn import NONE as NO_REQUIREMENT
from accounts.models import Membership
from scopes.access.policy import second_factor_missing
from scopes.access.rows import GrantRows
from scopes.access.standing import assess
from scopes.consent.album_pages import AlbumsOnPage
from scopes.consent.albums import ShownAlbums, plan_albums
from scopes.consent.authorize import InteractionRequired, InvalidAuthorizationDetails
from scopes.consent.flow import AuthorizeRequest, Situation
from scopes.consent.planning import plan_from
from scopes.consent.rules import ConsentPlan, ShownPlan, consented_after
from scopes.registry import normalise

OTHER_TENANT = "You cannot use this app in the organisation the app asked for; choose one of yours."


@dataclass(frozen=True)
class ClientError:
    """An error for the client, sent to its redirect URI with its state."""

    error: type[OAuth2Error]
    description: str | None = None
    name_app: bool = True  # errors found before the app was looked at do not name it


@dataclass(frozen=True)
class SignInAgain:
    """prompt=login, or max_age passed: the user signs in again, then the request continues."""


@dataclass(frozen=True)
class StepUp:
    """The requested scopes (or the client's acr_values) need a stronger or fresher sign-in: the
    user gives their second factor (or sets one up), then the request continues."""

    requirement: Requirement


@dataclass(frozen=True)
class ShowPage:
    """Ask the user: the page's lines, and what it showed (signed into its form)."""

    plan: ConsentPlan | None
    albums: AlbumsOnPage | None
    shown: ShownPlan | None
    notice: str = ""


@dataclass(frozen=True)
class Approve:
    """Issue a code for these scopes and albums in the member's tenant (nothing to write first)."""

    membership: Membership
    scopes: tuple[str, ...]
    albums: frozenset[int] | None


@dataclass(frozen=True)
class Grant:
    """The user allowed: remember this consent, then issue a code for what it and the grant allow."""

    membership: Membership
    scopes: tuple[str, ...]
    withdraw: tuple[str, ...]
    albums: AlbumsOnPage
    granted_albums: frozenset[int] | None


@dataclass(frozen=True)
class Deny:
    """access_denied for the client: the user said no, or nothing was left to grant."""


@dataclass(frozen=True)
class Refuse:
    """A page here, never a redirect: the form cannot be used."""

    message: str


Outcome = ClientError | SignInAgain | StepUp | ShowPage | Approve
Answer = Grant | Deny | Refuse

CHANGED = "This consent form has expired or was changed. Go back to the app and start again."


# --- The plans (scopes and albums), from the situation's rows


def scope_plan(s: Situation, requested: Iterable[str], *, fresh: bool) -> ConsentPlan:
    assert s.membership is not None
    return plan_from(
        s.rows,
        membership=s.membership,
        app_scopes=s.app_scopes,
        registry=s.registry,
        requested=requested,
        fresh=fresh,
    )


def album_side(s: Situation, *, fresh: bool, shown: ShownAlbums | None = None) -> AlbumsOnPage:
    """The album lines: for an album request, planned on the tenant's albums the situation holds."""
    rows, membership = s.rows, s.membership
    assert membership is not None
    if s.album_request is None:
        # The consent's explicit state: a limit whose albums were all removed is still a limit.
        return AlbumsOnPage(request=None, widens=bool(rows and rows.albums_limited))
    consented = [a for a, _owner in rows.consent_albums] if rows is not None and rows.albums_limited else []
    plan = plan_albums(
        s.album_request,
        albums=s.tenant_albums,
        user_id=membership.user_id,
        role_grants=rows.role_grants if rows is not None else (),
        implications=s.registry.implications,
        consented=consented,
        fresh=fresh,
        role_name=membership.role.name,
        tenant_name=membership.tenant.name,
    )
    return AlbumsOnPage(request=s.album_request, plan=plan, shown=shown)


def requested_scopes(req: AuthorizeRequest, s: Situation) -> list[str]:
    """The request's scopes, with the album request's actions (RFC 9396) added."""
    extra = s.album_request.actions if s.album_request is not None else ()
    return list(dict.fromkeys([*req.scopes, *extra]))


# --- GET


def on_get(req: AuthorizeRequest, s: Situation, *, now: datetime) -> Outcome:
    """What `/o/authorize/` answers a validated request: an error, sign in again, a page, or a code."""
    if req.error:
        return ClientError(InvalidRequestError, req.error, name_app=False)
    if s.details_error:
        # RFC 9396 section 5, before any page is shown (and before prompt=login signs anyone out).
        return ClientError(InvalidAuthorizationDetails, s.details_error)
    if "login" in req.prompt:
        return SignInAgain()
    stale = _max_age(req, s, now=now)
    if stale is not None:
        return stale
    asked = Requirement(acr=MFA if MFA in req.acr_values else "")
    needed = step_up_needed(s, requested_scopes(req, s), now=now, asked=asked)
    if needed is not None:
        # Before any page or code: a code must never carry a sign-in weaker than its scopes need.
        return ClientError(InteractionRequired, STEP_UP_SILENT) if req.silent else StepUp(needed)
    if s.membership is None:
        return ClientError(InteractionRequired) if req.silent else ShowPage(None, None, None)
    return _with_member(req, s, s.membership)


STEP_UP_SILENT = "These scopes need a recent sign-in with a second factor."
ENROL_SILENT = "The organisation requires a second factor, and the user has not set one up."


def step_up_needed(
    s: Situation, scopes: Iterable[str], *, now: datetime, asked: Requirement = NO_REQUIREMENT
) -> Requirement | None:
    """What the session's sign-in lacks for consenting to `scopes` (and what the client asked);
    None when it has it. The scopes' need is the strongest over their closure (accounts.authn)."""
    requirement = strongest([s.registry.requirement_for(scopes), asked])
    return shortfall(s.sign_in, requirement, now=now)


def _max_age(req: AuthorizeRequest, s: Situation, *, now: datetime) -> Outcome | None:
    if req.max_age is None:
        return None
    if not req.max_age.isascii() or not req.max_age.isdigit() or len(req.max_age) > 9:
        return ClientError(InvalidRequestError, "max_age must be a whole number of seconds.", name_app=False)
    if s.signed_in_at is not None and (now - s.signed_in_at).total_seconds() <= int(req.max_age):
        return None
    # OpenID Connect Core 3.1.2.1: too long ago, the user must sign in again (silently: no).
    return ClientError(LoginRequired, name_app=False) if req.silent else SignInAgain()


def enrolment_needed(s: Situation) -> bool:
    """The tenant requires a second factor of this member and they have none (scopes.access.policy):
    they set one up before any consent there."""
    rows = s.rows
    return rows is not None and second_factor_missing(
        rows.policy.second_factor,
        has_factor=rows.has_second_factor,
        role_grants=rows.role_grants,
        implications=s.registry.implications,
    )


def _with_member(req: AuthorizeRequest, s: Situation, membership: Membership) -> Outcome:
    if enrolment_needed(s):
        return ClientError(InteractionRequired, ENROL_SILENT) if req.silent else StepUp(Requirement(acr=MFA))
    fresh = "consent" in req.prompt
    plan = scope_plan(s, requested_scopes(req, s), fresh=fresh)
    if plan.policy_refusal and req.silent:
        # The tenant's app policy refuses the app (scopes.tenant_policy): only the member can ask.
        return ClientError(AccessDeniedError, plan.policy_refusal)
    albums = album_side(s, fresh=fresh)
    remembered = not (fresh or "select_account" in req.prompt or plan.needs_prompt or albums.needs_prompt)
    if s.tenant_decided and remembered:
        granted = plan.granted([])
        scopes = token_scopes(s, granted, include_granted=req.include_granted)
        found = token_albums(s, albums, albums.remembered(), include_granted=req.include_granted)
        return Approve(membership, tuple(scopes), found)
    if req.silent:
        return ClientError(ConsentRequired if s.tenant_decided else InteractionRequired)
    return page_of(req, s, plan, albums, fresh=fresh)


def page_of(
    req: AuthorizeRequest, s: Situation, plan: ConsentPlan, albums: AlbumsOnPage, *, fresh: bool
) -> ShowPage:
    """The page for a member: its lines, what it showed, and a notice when the asked tenant was not theirs."""
    assert s.membership is not None
    other = bool(req.tenant_slug) and req.tenant_slug != s.membership.tenant.slug
    shown = ShownPlan.of(plan, fresh=fresh, tenant_id=s.membership.tenant_id)
    return ShowPage(plan, albums, shown, OTHER_TENANT if other else "")


def ask(req: AuthorizeRequest, s: Situation) -> ShowPage:
    """The page, always (the device page: a device cannot be answered from remembered consent)."""
    if s.membership is None:
        return ShowPage(None, None, None)
    plan = scope_plan(s, req.scopes, fresh=False)
    return page_of(req, s, plan, album_side(s, fresh=False), fresh=False)


# --- POST


def on_post(
    s: Situation,
    *,
    requested: Iterable[str],
    shown: ShownPlan | None,
    albums_shown: AlbumsOnPage | None,
    tenant_slug: str,
    ticked: Iterable[str],
    ticked_albums: Iterable[str],
) -> Answer:
    """The answer to an Allow: held to what the page showed, the plan as it is now, and the ticks.

    `albums_shown` is the form's album side (None: a malformed form); the device page has none.
    """
    membership = s.membership
    if membership is None or membership.tenant.slug != tenant_slug or shown is None:
        return Refuse("Choose one of your organisations for this app.")
    if membership.tenant_id != shown.tenant_id:
        return Refuse("Choose one of your organisations for this app.")
    if enrolment_needed(s):
        return Refuse(
            f"{membership.tenant.name} requires a second factor: set one up on your security page, "
            "then go back to the app and start again."
        )
    # Planned exactly as the page was (same mode, same tenant), then held to what it showed.
    granted = scope_plan(s, requested, fresh=shown.fresh).approval(ticked, shown)
    if not granted:
        return Deny()
    if albums_shown is None:
        return Refuse(CHANGED)
    albums = (
        album_side(s, fresh=shown.fresh, shown=albums_shown.shown)
        if albums_shown.request is not None
        else albums_shown
    )
    granted_albums = albums.granted(ticked_albums)
    if granted_albums is not None and not granted_albums:
        return Deny()  # an album request with no album allowed
    return Grant(membership, tuple(granted), tuple(shown.withdrawn(granted)), albums, granted_albums)


# --- What the new token carries (incremental authorization)


def after_grant(s: Situation, grant: Grant, *, consent_id: int) -> GrantRows:
    """The grant's rows as the consent write leaves them (`consent_grant`, `consent_albums_*`)."""
    rows = s.rows
    assert rows is not None
    implications = s.registry.implications
    consented = consented_after(
        rows.consented, scopes=grant.scopes, withdraw=grant.withdraw, implications=implications
    )
    rows = replace(rows, consent_id=consent_id, consented=tuple(consented))
    albums = grant.albums
    if albums.request is None:
        return replace(rows, albums_limited=False, consent_albums=()) if albums.widens else rows
    if albums.plan is None or albums.shown is None or grant.granted_albums is None:
        return rows
    before = {a: owner for a, owner in rows.consent_albums} if rows.albums_limited else {}
    owners = {a: owner for a, _n, owner, _o in s.tenant_albums}
    withdraw = albums.shown.withdrawn(grant.granted_albums, fresh=albums.plan.fresh)
    kept = (set(before) | grant.granted_albums) - ((withdraw & set(before)) - grant.granted_albums)
    pairs = tuple(sorted((a, before.get(a, owners.get(a, 0))) for a in kept))
    return replace(rows, albums_limited=True, consent_albums=pairs)


def approved(s: Situation, grant: Grant, *, consent_id: int, include_granted: bool) -> Approve:
    """The code for a consent just written: its scopes and albums, with (incrementally) what stands."""
    rows = after_grant(s, grant, consent_id=consent_id)
    scopes = token_scopes(s, grant.scopes, include_granted=include_granted, rows=rows)
    albums = token_albums(s, grant.albums, grant.granted_albums, include_granted=include_granted, rows=rows)
    return Approve(grant.membership, tuple(scopes), albums)


def token_scopes(
    s: Situation, granted: Iterable[str], *, include_granted: bool, rows: GrantRows | None = None
) -> list[str]:
    """The new token's scopes: what was granted now, plus (incrementally) what stands of before."""
    implications = s.registry.implications
    scopes = set(granted)
    rows = rows if rows is not None else s.rows
    if include_granted and rows is not None:
        standing = assess(rows, issued=rows.consented, implications=implications)
        if standing.stands:
            scopes |= set(standing.effective)
    return normalise(scopes, implications)


def token_albums(
    s: Situation,
    albums: AlbumsOnPage,
    granted: frozenset[int] | None,
    *,
    include_granted: bool,
    rows: GrantRows | None = None,
) -> frozenset[int] | None:
    """The new token's album limit: granted now, plus (incrementally) what stands of before."""
    if albums.request is None or granted is None:
        return None
    found = set(granted)
    rows = rows if rows is not None else s.rows
    if include_granted and rows is not None:
        standing = assess(rows, issued=rows.consented, implications=s.registry.implications)
        if standing.stands and standing.albums:
            found |= standing.albums
    return frozenset(found)
