"""Album limits: which albums a grant may reach (OAuth 2.0 Rich Authorization Requests, RFC 9396).

An app asks with `authorization_details=[{"type": "album", "actions": [...], "identifiers": [...]}]`;
the user ticks albums on the consent page; the consent remembers them (`ConsentAlbum`) and the
code and its tokens carry the ticked ids (`Grant.albums`, `AccessToken.albums`: NULL is "no album
limit of its own"). Whether the consent is limited is explicit (`Consent.albums_limited`), never
inferred from album rows existing: a limit whose albums are all gone reaches nothing. What a
token reaches now is, in `scopes.access.standing`:

    albums = the token's own albums (when it has none: every album of the consent)
             ∩ the consent's albums that exist in the tenant and that the user's role may see
    None (every album the role reaches) only when neither the token nor the consent is limited.

Pure functions only (no HTTP, no ORM): the standing, the decision, the consent page and the token
endpoint all use these, so the rule is written once.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from accounts.untrusted import UntrustedInput, loads_bounded
from scopes.constants import Reach, ScopeName
from scopes.registry import Implications, closure, grant_reaches, normalise

# The RFC 9396 type we offer (advertised as `authorization_details_types_supported`).
ALBUM_TYPE = "album"
SUPPORTED_TYPES = (ALBUM_TYPE,)
# What an album entry's `actions` may name: the scopes that act on photos and albums.
ALBUM_ACTIONS = frozenset(
    {
        ScopeName.PHOTOS_READ,
        ScopeName.PHOTOS_UPLOAD,
        ScopeName.PHOTOS_UPDATE,
        ScopeName.PHOTOS_DELETE,
        ScopeName.PHOTOS_WRITE,
        ScopeName.ALBUMS_READ,
        ScopeName.ALBUMS_WRITE,
    }
)
# Actions on the album itself (its owner matters); the others act on photos inside it.
ON_THE_ALBUM = frozenset({ScopeName.ALBUMS_READ, ScopeName.ALBUMS_WRITE})
MAX_ENTRIES = 10
MAX_IDENTIFIERS = 200
MAX_LENGTH = 8000
DETAILS_DEPTH = 3  # an array of objects whose fields are arrays of strings

AlbumIds = frozenset[int]


# --- What codes and tokens store.


def parse_limit(value: str | None) -> AlbumIds | None:
    """A stored limit: None (no album limit) or the set of album ids ("" is the empty limit)."""
    if value is None:
        return None
    return frozenset(int(part) for part in value.split() if part.isdigit())


def format_limit(albums: Iterable[int] | None) -> str | None:
    """The stored form of a limit (None stays None: no limit)."""
    return None if albums is None else " ".join(str(a) for a in sorted(set(albums)))


def describe_limit(albums: AlbumIds | None, names: Iterable[str] = ()) -> str:
    """A limit for people (the admin): "none" when there is no album limit, else the albums."""
    if albums is None:
        return "none (every album its role reaches)"
    listed = list(names) or [f"#{a}" for a in sorted(albums)]
    return ", ".join(listed) if listed else "no album left"


# --- The rule: which of a grant's albums stand.


def visible_albums(
    albums: Iterable[tuple[int, int]],
    *,
    user_id: int | None,
    role_grants: Iterable[tuple[str, str]],
    implications: Implications,
) -> AlbumIds:
    """The albums (id, owner id) the user's role lets them see: the reach of its `albums.read`."""
    reach = grant_reaches(role_grants, implications).get(ScopeName.ALBUMS_READ)
    if reach == Reach.TENANT:
        return frozenset(album for album, _owner in albums)
    if reach == Reach.OWN and user_id is not None:
        return frozenset(album for album, owner in albums if owner == user_id)
    return frozenset()


def standing_albums(
    issued: AlbumIds | None,
    *,
    consented: Iterable[tuple[int, int]],
    consent_limited: bool,
    user_id: int | None,
    role_grants: Iterable[tuple[str, str]],
    implications: Implications,
) -> AlbumIds | None:
    """What a credential's album limit reaches now (None: no album limit at all).

    `consented` are the consent's albums that still exist in the grant's tenant, with their owner;
    `consent_limited` says whether the consent is album-limited (`Consent.albums_limited`). The
    consent caps every credential, as it caps scopes: under a limited consent even a credential
    issued without a limit (a code or device grant approved before the consent was limited, a
    device approval, which cannot carry albums) reaches only the consent's albums. An empty set is
    a limit that reaches nothing, never "no limit".
    """
    if issued is None and not consent_limited:
        return None
    visible = visible_albums(consented, user_id=user_id, role_grants=role_grants, implications=implications)
    return visible if issued is None else issued & visible


# --- The request (RFC 9396 section 2) and the answer (sections 7 and 9.2).


class InvalidDetails(ValueError):
    """The request's `authorization_details` cannot be used (RFC 9396 section 5)."""


@dataclass(frozen=True)
class AlbumRequest:
    """What an app asked for: these actions, on these albums (None: the user picks)."""

    actions: tuple[str, ...]
    identifiers: tuple[int, ...] | None

    def to_payload(self) -> dict[str, object]:
        return {"actions": list(self.actions), "identifiers": self.identifiers and list(self.identifiers)}

    @classmethod
    def from_payload(cls, data: object) -> AlbumRequest | None:
        """From a signed consent form (the server wrote it; anything odd is no request)."""
        if not isinstance(data, dict):
            return None
        actions, identifiers = data.get("actions"), data.get("identifiers")
        if not isinstance(actions, list) or not all(isinstance(a, str) for a in actions):
            return None
        if identifiers is not None and (
            not isinstance(identifiers, list) or not all(type(i) is int for i in identifiers)
        ):
            return None
        return cls(tuple(actions), None if identifiers is None else tuple(identifiers))


def _fail(message: str) -> InvalidDetails:
    return InvalidDetails(message)


def parse_request(raw: str, *, app_allowed: frozenset[str], implications: Implications) -> AlbumRequest:
    """The `authorization_details` parameter as an album request, or `InvalidDetails` saying why.

    Every entry must be of a type we support, name only actions the app may ask for, and name
    albums by id. Several entries are merged: the limit is one set of albums for the whole token.
    """
    if len(raw) > MAX_LENGTH:
        raise _fail("authorization_details is too long.")
    try:
        # Bounded (accounts.untrusted): 3,000 nested arrays raised RecursionError here, a 500.
        entries = loads_bounded(raw, max_size=MAX_LENGTH, max_depth=DETAILS_DEPTH)
    except UntrustedInput as error:
        raise _fail(f"authorization_details must be a JSON array. {error}") from None
    if not isinstance(entries, list) or not entries or len(entries) > MAX_ENTRIES:
        raise _fail(f"authorization_details must be a JSON array of 1 to {MAX_ENTRIES} objects.")
    actions: list[str] = []
    identifiers: set[int] | None = set()
    for entry in entries:
        if not isinstance(entry, dict) or not isinstance(entry.get("type"), str):
            raise _fail("Each authorization_details entry must be an object with a type.")
        if entry["type"] not in SUPPORTED_TYPES:
            raise _fail(f"Unknown authorization_details type; supported: {', '.join(SUPPORTED_TYPES)}.")
        unknown = sorted(set(entry) - {"type", "actions", "identifiers"})
        if unknown:
            raise _fail(f"The album type has no field {', '.join(unknown)}.")
        names = entry.get("actions")
        if not isinstance(names, list) or not names or not all(isinstance(n, str) for n in names):
            raise _fail("An album entry needs actions: a non-empty array of scope names.")
        bad = sorted({n for n in names if n not in ALBUM_ACTIONS or n not in app_allowed})
        if bad:
            raise _fail(f"Actions this app may not ask for on albums: {', '.join(bad)}.")
        actions += names
        ids = entry.get("identifiers")
        if ids is None:
            identifiers = None
            continue
        if (
            not isinstance(ids, list)
            or not ids
            or len(ids) > MAX_IDENTIFIERS
            or not all(
                isinstance(i, str) and 0 < len(i) <= 19 and i.isascii() and i.isdigit() and 0 < int(i) < 2**63
                for i in ids
            )
        ):
            raise _fail("identifiers must be a non-empty array of album ids (strings of digits).")
        if identifiers is not None:
            identifiers |= {int(i) for i in ids}
    return AlbumRequest(
        actions=tuple(normalise(actions, implications)),
        identifiers=None if identifiers is None else tuple(sorted(identifiers)),
    )


def response_details(scopes: Iterable[str], albums: Iterable[int], implications: Implications) -> list[dict]:
    """The granted `authorization_details` (RFC 9396 section 7): the token's album actions and albums."""
    actions = [
        name for name in normalise(scopes, implications) if closure([name], implications) & ALBUM_ACTIONS
    ]
    return [{"type": ALBUM_TYPE, "actions": actions, "identifiers": [str(a) for a in sorted(albums)]}]
