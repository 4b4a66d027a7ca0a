"""The consent page's album requests, end to end: parse, plan, sign into the form, re-derive, grant.

`scopes.consent.views.ConsentView` calls these at four points (GET: parse and plan; POST: re-plan, grant);
the rule lives in `scopes.access.albums` (what stands) and `scopes.consent.albums` (what is listed).
A request without `authorization_details` has no album plan. From an app whose consent is
album-limited (`Consent.albums_limited`, explicit: it may hold no album at all) it asks for every
album, so it is never answered from remembered consent; approving it on the page, which says so,
lifts the limit (`consent_albums_widen`). A form that did not say so lifts nothing, and its code
stays limited to the consent's albums (scopes.access.standing caps every credential).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from django.http import HttpRequest

from accounts import tenancy
from accounts.models import Membership, User
from scopes.access.albums import AlbumRequest, parse_request
from scopes.access.selectors import registry
from scopes.access.standing import consent_standing
from scopes.consent.album_services import consent_albums_grant, consent_albums_widen
from scopes.consent.albums import AlbumPlan, ShownAlbums, album_plan
from scopes.consent.selectors import app_scopes
from scopes.models import Application, Consent
from scopes.registry import closure


def album_request_of(request: HttpRequest, application: Application) -> AlbumRequest | None:
    """The request's `authorization_details` (RFC 9396), or None; `InvalidDetails` when unusable."""
    raw = request.GET.get("authorization_details")
    if raw is None:
        return None
    implications = registry().implications
    allowed = closure(app_scopes(application), implications)
    return parse_request(raw, app_allowed=allowed, implications=implications)


@dataclass(frozen=True)
class AlbumsOnPage:
    """The album side of one consent page (or of its form, re-derived on POST)."""

    request: AlbumRequest | None
    plan: AlbumPlan | None = None
    shown: ShownAlbums | None = None
    # An unlimited request from an app whose consent is album-limited: asking widens it, so ask.
    widens: bool = False

    @property
    def needs_prompt(self) -> bool:
        return self.plan.needs_prompt if self.plan is not None else self.widens

    def remembered(self) -> frozenset[int] | None:
        return self.plan.already if self.plan is not None else None

    def to_payload(self) -> dict[str, object] | None:
        if self.request is None or self.plan is None:
            # The form remembers that the page said "every album": only then may its approval widen.
            return {"widens": True} if self.widens else None
        return {"request": self.request.to_payload(), "shown": ShownAlbums.of(self.plan).to_payload()}

    def granted(self, ticked: Iterable[str]) -> frozenset[int] | None:
        """The albums the form grants (None: not an album request). Ticks are only ids to look for."""
        if self.plan is None or self.shown is None:
            return None
        ids = {int(t) for t in ticked if t.isascii() and t.isdigit() and len(t) <= 18}
        return self.plan.granted(ids, self.shown)

    def remember(self, consent: Consent, granted: frozenset[int] | None, *, actor: User) -> None:
        """Write the granted albums to the consent (and, under prompt=consent, take unticked ones back);
        or, for an unlimited request the page showed as reaching every album, lift the limit."""
        if self.request is None and self.widens:
            consent_albums_widen(actor=actor, consent=consent)
            return
        if self.plan is None or self.shown is None or granted is None:
            return
        consent_albums_grant(
            actor=actor,
            consent=consent,
            albums=granted,
            withdraw=self.shown.withdrawn(granted, fresh=self.plan.fresh),
        )

    def token_albums(
        self,
        granted: frozenset[int] | None,
        membership: Membership,
        application: Application,
        *,
        include_granted: bool,
    ) -> frozenset[int] | None:
        """The new token's album limit: what was granted now, plus (incrementally) what stands of before."""
        if self.request is None or granted is None:
            return None
        albums = set(granted)
        if include_granted:
            standing = consent_standing(
                user_id=membership.user_id, tenant_id=membership.tenant_id, application_id=application.pk
            )
            if standing is not None and standing.stands and standing.albums:
                albums |= standing.albums
        return frozenset(albums)


def _plan(
    request: AlbumRequest, membership: Membership, application: Application, *, fresh: bool
) -> AlbumPlan:
    # The albums are the tenant's rows: read inside the member's tenant (row-level security).
    tenancy.enter_tenant(membership.tenant_id)
    return album_plan(request, membership, application.pk, fresh=fresh, implications=registry().implications)


def albums_for_page(
    request: AlbumRequest | None, membership: Membership, application: Application, *, fresh: bool
) -> AlbumsOnPage:
    """What the GET shows and whether remembered consent can answer for the albums."""
    if request is None:
        # The consent's explicit state, not whether album rows are left: a limit whose albums were
        # all removed or deleted is still a limit, and a plain request would widen it (issue 24).
        limited = album_limited(membership, application)
        return AlbumsOnPage(request=None, widens=limited)
    return AlbumsOnPage(request=request, plan=_plan(request, membership, application, fresh=fresh))


def album_limited(membership: Membership, application: Application) -> bool:
    """Whether the member's consent for the app is album-limited (`Consent.albums_limited`)."""
    return Consent.objects.filter(
        user_id=membership.user_id,
        tenant_id=membership.tenant_id,
        application_id=application.pk,
        albums_limited=True,
    ).exists()


def albums_from_form(payload: object) -> AlbumsOnPage | None:
    """The form's album side as the page signed it, not yet re-planned (None: a malformed form)."""
    if payload is None:
        return AlbumsOnPage(request=None)
    if not isinstance(payload, dict):
        return None
    if set(payload) == {"widens"}:
        # The page said "every album"; it widens only a consent that is still limited now.
        return AlbumsOnPage(request=None, widens=payload["widens"] is True)
    request = AlbumRequest.from_payload(payload.get("request"))
    shown = ShownAlbums.from_payload(payload.get("shown"))
    if request is None or shown is None:
        return None
    return AlbumsOnPage(request=request, shown=shown)
