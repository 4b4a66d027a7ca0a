"""The album part of the consent page (RFC 9396 album requests): what is listed, ticked and granted.

Listed: the tenant's albums the user's role lets them see (`albums.visible_albums`, the rule
the standing applies), narrowed to the request's `identifiers` when it names some; an album the user
cannot see is never listed, so the page reveals nothing about it. Each requested action is judged
on each album by the access decision itself (`decide`): an album where the role can do none of
them is greyed with the decision's own words; one where it can do some says which it cannot.

Granted: the ticks, within what the page offered and what the plan offers now (as for scopes), plus
albums remembered from an earlier consent that the page showed as already allowed.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from scopes.access.albums import ALBUM_TYPE, ON_THE_ALBUM, AlbumRequest, visible_albums
from scopes.access.decision import Target, decide
from scopes.access.resources import Listed, rows_of
from scopes.constants import ScopeName
from scopes.registry import Implications


@dataclass(frozen=True)
class AlbumChoice:
    """One album line of the consent page."""

    id: int
    name: str
    owner: str
    selectable: bool
    notes: tuple[str, ...] = ()
    already: bool = False


@dataclass(frozen=True)
class AlbumPlan:
    """The albums the consent page shows for one album request."""

    request: AlbumRequest
    choices: tuple[AlbumChoice, ...] = ()
    fresh: bool = False

    @property
    def offered(self) -> frozenset[int]:
        return frozenset(c.id for c in self.choices if c.selectable and not c.already)

    @property
    def already(self) -> frozenset[int]:
        return frozenset(c.id for c in self.choices if c.already)

    @property
    def needs_prompt(self) -> bool:
        """Something new to ask: a named album not yet allowed, or (the user picks) none allowed yet."""
        if self.request.identifiers is not None:
            return bool(self.offered) or not self.already
        return not self.already

    def granted(self, ticked: Iterable[int], shown: ShownAlbums) -> frozenset[int]:
        """The server's answer to a form: ticks the page offered and this plan still offers, and the
        remembered albums the page listed as already allowed and that still stand."""
        return (frozenset(ticked) & self.offered & shown.offered) | (self.already & shown.already)


@dataclass(frozen=True)
class ShownAlbums:
    """What one consent page offered and listed as already allowed (signed into its form)."""

    offered: frozenset[int] = field(default_factory=frozenset)
    already: frozenset[int] = field(default_factory=frozenset)

    @classmethod
    def of(cls, plan: AlbumPlan) -> ShownAlbums:
        return cls(plan.offered, plan.already)

    def to_payload(self) -> dict[str, list[int]]:
        return {"offered": sorted(self.offered), "already": sorted(self.already)}

    @classmethod
    def from_payload(cls, data: object) -> ShownAlbums | None:
        if not isinstance(data, dict):
            return None
        offered, already = data.get("offered"), data.get("already")
        if not isinstance(offered, list) or not isinstance(already, list):
            return None
        if not all(type(i) is int for i in (*offered, *already)):
            return None
        return cls(frozenset(offered), frozenset(already))

    def withdrawn(self, granted: frozenset[int], *, fresh: bool) -> frozenset[int]:
        """prompt=consent asks again: an offered album left unticked is taken back."""
        return self.offered - granted if fresh else frozenset()


def plan_albums(
    request: AlbumRequest,
    *,
    albums: Iterable[tuple[int, str, int, str]],
    user_id: int,
    role_grants: Iterable[tuple[str, str]],
    implications: Implications,
    consented: Iterable[int] = (),
    fresh: bool = False,
    role_name: str = "",
    tenant_name: str = "",
) -> AlbumPlan:
    """The album lines for `request`: `albums` are the tenant's (id, name, owner id, owner name)."""
    grants = tuple(role_grants)
    rows = list(albums)
    visible = visible_albums(
        [(a, owner) for a, _n, owner, _o in rows],
        user_id=user_id,
        role_grants=grants,
        implications=implications,
    )
    wanted = None if request.identifiers is None else set(request.identifiers)
    remembered = frozenset() if fresh else frozenset(consented)
    choices = []
    for album_id, name, owner_id, owner_name in rows:
        if album_id not in visible or (wanted is not None and album_id not in wanted):
            continue
        notes = []
        allowed = 0
        for action in request.actions:
            target = (
                Target(exists_in_tenant=True, owner_is_user=owner_id == user_id, album_id=album_id)
                if action in ON_THE_ALBUM
                else None
            )
            decision = decide(
                action_scope=action,
                read_scope=ScopeName.ALBUMS_READ,  # as the album endpoints read it
                token_scopes=[action],
                role_grants=grants,
                implications=implications,
                role_name=role_name,
                tenant_name=tenant_name,
                target=target,
            )
            if decision.allowed:
                allowed += 1
            else:
                notes.append(f"{action}: {decision.detail}")
        selectable = allowed > 0
        choices.append(
            AlbumChoice(
                id=album_id,
                name=name,
                owner="you" if owner_id == user_id else owner_name,
                selectable=selectable,
                notes=tuple(notes),
                already=selectable and album_id in remembered,
            )
        )
    return AlbumPlan(request=request, choices=tuple(choices), fresh=fresh)


# --- Reads


def tenant_albums(tenant_id: int) -> list[Listed]:
    """Every album of a tenant with its owner (the page filters them by the role's rule).

    The photos app answers (scopes.access.resources): this package never names its table.
    """
    rows = rows_of(ALBUM_TYPE)
    return rows.listing(tenant_id) if rows is not None else []


def album_names(ids: Iterable[int]) -> dict[int, str]:
    """Album names by id, in ONE query (connected apps; only albums of tenants entered are seen)."""
    wanted = sorted(set(ids))
    rows = rows_of(ALBUM_TYPE)
    if not wanted or rows is None:
        return {}
    return rows.names(wanted)


@dataclass(frozen=True)
class GrantAlbum:
    """One album of a grant on the connected-apps page."""

    id: int
    name: str
    in_effect: bool


def grant_albums(standings: Iterable[object]) -> dict[int, list[GrantAlbum]]:
    """Per album-limited consent id, its albums as they stand (name, and whether the role lets it count).

    A consent that is not album-limited has no album lines (whatever rows it may hold).
    """
    from scopes.access.standing import Standing

    found = [
        s
        for s in standings
        if isinstance(s, Standing) and s.rows.consent_id is not None and s.rows.albums_limited
    ]
    names = album_names(a for s in found for a, _owner in s.rows.consent_albums)
    result: dict[int, list[GrantAlbum]] = {}
    for standing in found:
        reach = standing.albums or frozenset()
        result[standing.rows.consent_id] = [  # type: ignore[index]
            GrantAlbum(album, names.get(album, f"Album {album}"), album in reach)
            for album, _owner in standing.rows.consent_albums
        ]
    return result
