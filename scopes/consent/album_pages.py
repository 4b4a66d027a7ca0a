"""The album side of an approval page: what it showed (signed into its form) and what approving writes.

The consent flow (scopes.consent.outcome) plans it; the rule lives in `scopes.access.albums` (what
stands) and `scopes.consent.albums` (what is listed).
A request without `authorization_details` has no album plan. From an app whose consent is
album-limited (`Consent.albums_limited`, explicit: it may hold no album at all) it asks for every
album, so it is never answered from remembered consent; approving it on the page, which says so,
lifts the limit (`consent_albums_widen`). A form that did not say so lifts nothing, and its code
stays limited to the consent's albums (scopes.access.standing caps every credential).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from accounts.models import User
from scopes.access.albums import AlbumRequest
from scopes.consent.album_services import consent_albums_grant, consent_albums_widen
from scopes.consent.albums import AlbumPlan, ShownAlbums
from scopes.models import Consent


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
