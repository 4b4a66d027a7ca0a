"""Reference checks: an album id in a photo's body or in the list filter is read, not trusted.

DESIGN.md, "The access decision": an object referenced in input passes the same decision as
reading it (`GET albums/<id>/`), and what the caller cannot see is the same answer as what does
not exist. The matrix is role x album (own, another member's, another tenant's, missing) x token
with or without `albums.read`, on upload, update and the `?album=` list filter; every refused write
changes nothing, and for every caller the invisible albums answer byte for byte as a missing one.

Expected answers, in the order the request meets them:

1. the photo action itself (`photos.upload` / `photos.update` / `photos.read`): a role without it
   is 403 `role_forbids`, whatever album is named;
2. reading albums at all: a token without `albums.read` is 403 `scope_missing`, a role without a
   grant for it 403 `role_forbids` (both before any album is looked at, so the same for every id);
3. the album: visible (own, or the tenant's when the `albums.read` reach is `tenant`) succeeds;
   anything else is the missing album's answer: 400 `does_not_exist` on a write, an empty page on
   the list filter.

A token without `albums.read` is refused before any album is read, so the matrix names one album
for it, the caller's own (the one that would otherwise pass); that every other album answers the
same, byte for byte, is `test_every_album_a_caller_cannot_see_answers_as_a_missing_one`.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

import pytest

from accounts.models import User
from photos.models import Photo
from scopes.constants import ScopeName as S
from scopes.models import Scope
from tests.answers import bearer_challenge, json_body
from tests.factories import (
    AlbumFactory,
    MembershipFactory,
    PhotoFactory,
    RoleFactory,
    RoleGrantFactory,
    UserFactory,
)
from tests.images import upload

pytestmark = [pytest.mark.django_db, pytest.mark.attack]

T, O, X = "tenant", "own", None  # noqa: E741 - reach of a grant: whole tenant, own objects, no grant
MISSING = 987654

# role: (albums.read reach, reach of photos.upload and photos.update). Every role reads the
# tenant's photos. "private" and "no-albums" are tenant roles made for this test.
ROLES: dict[str, tuple[str | None, str | None]] = {
    "owner": (T, T),
    "admin": (T, T),
    "member": (T, O),
    "guest": (T, X),
    "private": (O, O),  # sees only its own albums
    "no-albums": (X, O),  # may upload and change photos, never read an album
}
ALBUMS = ["own", "other member's", "other tenant's", "missing"]
ENDPOINTS = {"create": S.PHOTOS_UPLOAD, "update": S.PHOTOS_UPDATE, "list": S.PHOTOS_READ}


@dataclass
class Case:
    """One caller and the albums (and photos in them) it may name."""

    role: str
    user: User
    albums: dict[str, int]
    photo_in: dict[str, int]  # album label -> a photo filed in it (for the list filter)
    own_photo: int  # the caller's photo, outside any album (for updates)


def _custom_role(world, name: str, grants: dict[str, str]):
    role = RoleFactory(name=name, tenant=world.acme)
    for scope, reach in grants.items():
        RoleGrantFactory(role=role, scope=Scope.objects.get(name=scope), reach=reach)
    return role


@pytest.fixture
def case(world, request) -> Case:
    role = request.param
    if role in ("private", "no-albums"):
        grants = {S.PHOTOS_READ: T, S.PHOTOS_UPLOAD: O, S.PHOTOS_UPDATE: O}
        if role == "private":
            grants[S.ALBUMS_READ] = O
        user = UserFactory(username=f"{role}_a")
        MembershipFactory(user=user, tenant=world.acme, role=_custom_role(world, role.title(), grants))
    else:
        user = getattr(world, f"{role}_a")
    owners = {"own": (world.acme, user), "other member's": (world.acme, world.member2_a),
              "other tenant's": (world.globex, world.member_b)}  # fmt: skip
    albums, photo_in = {}, {}
    for label, (tenant, owner) in owners.items():
        album = AlbumFactory(tenant=tenant, owner=owner, name=f"{label} album")
        albums[label] = album.pk
        photo_in[label] = PhotoFactory(tenant=tenant, owner=owner, album=album).pk
    albums["missing"] = MISSING
    own_photo = PhotoFactory(tenant=world.acme, owner=user, title="mine").pk
    return Case(role, user, albums, photo_in, own_photo)


def expected(endpoint: str, role: str, album: str, albums_read: bool) -> tuple[int, str | None, str | None]:
    """(status, reason, the scope a 403 names) for one cell; see the module docstring."""
    albums_reach, write_reach = ROLES[role]
    if endpoint != "list" and write_reach is None:
        return 403, "role_forbids", ENDPOINTS[endpoint]
    if not albums_read:
        return 403, "scope_missing", S.ALBUMS_READ
    if albums_reach is None:
        return 403, "role_forbids", S.ALBUMS_READ
    if album == "own" or (album == "other member's" and albums_reach == T):
        return {"create": 201, "update": 200, "list": 200}[endpoint], None, None
    if endpoint == "list":
        return 200, "empty", None
    return 400, "does_not_exist", None


VISIBLE = {(201, None), (200, None)}


def send(client, endpoint: str, case: Case, album_id: object):
    if endpoint == "create":
        return client.post("/api/t/acme/photos/", {"image": upload(), "album": album_id}, format="multipart")
    if endpoint == "update":
        return client.patch(f"/api/t/acme/photos/{case.own_photo}/", {"album": album_id}, format="json")
    return client.get(f"/api/t/acme/photos/?album={album_id}")


def answer(response) -> tuple[int, str, str | None]:
    """Everything a caller can tell two answers apart by (the scope headers are the endpoint's)."""
    body = json.dumps(json_body(response), sort_keys=True)  # less its request id, unique by design
    return response.status_code, body, response.headers.get("WWW-Authenticate")


def token_scopes(endpoint: str, albums_read: bool) -> list[str]:
    return [ENDPOINTS[endpoint], *([S.ALBUMS_READ] if albums_read else [])]


def matrix():
    for endpoint in ENDPOINTS:
        for role in ROLES:
            for album in ALBUMS:
                for albums_read in (True, False):
                    if not albums_read and album != "own":
                        continue  # refused before any album is read: see the module docstring
                    name = f"{endpoint}-{role}-{album.replace(' ', '_')}-{'albums' if albums_read else 'noalbums'}"
                    yield pytest.param(endpoint, role, album, albums_read, id=name)


@pytest.mark.parametrize(("endpoint", "case", "album", "albums_read"), list(matrix()), indirect=["case"])
def test_reference_matrix(world, api_client, unchanged, endpoint, case, album, albums_read):
    client = api_client(case.user, world.acme, token_scopes(endpoint, albums_read))
    status, reason, scope = expected(endpoint, case.role, album, albums_read)
    album_id = case.albums[album]

    if status >= 300 or endpoint == "list":
        with unchanged():
            response = send(client, endpoint, case, album_id)
    else:
        response = send(client, endpoint, case, album_id)
    assert response.status_code == status, response.content
    body = json_body(response)

    if status == 403:
        assert body["reason"] == reason and body["required_scopes"] == [scope]
        if reason == "scope_missing":
            assert (
                bearer_challenge(response)
                == f'Bearer realm="api", error="insufficient_scope", scope="{scope}"'
            )
        else:
            assert bearer_challenge(response) == 'Bearer realm="api"'  # and its resource's metadata document
    elif status == 400:
        assert body == {
            "error": "invalid_request",
            "reason": "does_not_exist",
            "detail": "No such album.",
            "fields": {"album": ["No such album."]},
        }
    elif endpoint == "list":
        shown = [row["id"] for row in body["results"]]
        assert shown == ([] if reason == "empty" else [case.photo_in[album]])
    else:
        photo = Photo.all_tenants.get(pk=body["id"])
        assert photo.album_id == album_id and body["album"] == album_id
        assert (photo.owner, photo.tenant) == (case.user, world.acme)


def callers():
    for endpoint in ENDPOINTS:
        for role in ROLES:
            for albums_read in (True, False):
                yield pytest.param(
                    endpoint,
                    role,
                    albums_read,
                    id=f"{endpoint}-{role}-{'albums' if albums_read else 'noalbums'}",
                )


@pytest.mark.parametrize(("endpoint", "case", "albums_read"), list(callers()), indirect=["case"])
def test_every_album_a_caller_cannot_see_answers_as_a_missing_one(
    world, api_client, unchanged, endpoint, case, albums_read
):
    """Not an oracle: the invisible albums and a missing id give the same status, body and headers."""
    client = api_client(case.user, world.acme, token_scopes(endpoint, albums_read))
    invisible = [a for a in ALBUMS if expected(endpoint, case.role, a, albums_read)[:2] not in VISIBLE]
    assert "missing" in invisible and "other tenant's" in invisible
    with unchanged():
        answers = {label: answer(send(client, endpoint, case, case.albums[label])) for label in invisible}
    assert len(set(answers.values())) == 1, json.dumps(answers, indent=1)


# --- what is not a reference, and what is not an id


@pytest.mark.parametrize("endpoint", ["create", "update"])
def test_null_names_no_album_and_needs_no_albums_read(world, api_client, endpoint):
    """Taking a photo out of an album, even one the caller cannot see, reads no album."""
    hidden = AlbumFactory(tenant=world.acme, owner=world.member2_a)
    mine = PhotoFactory(tenant=world.acme, owner=world.member_a, album=hidden)
    client = api_client(world.member_a, world.acme, [ENDPOINTS[endpoint]])  # no albums.read
    case = Case("member", world.member_a, {}, {}, mine.pk)
    data = {"album": ""} if endpoint == "create" else {"album": None}  # multipart has no null
    if endpoint == "create":
        response = client.post("/api/t/acme/photos/", {"image": upload(), **data}, format="multipart")
    else:
        response = send(client, endpoint, case, None)
    assert response.status_code in (200, 201), response.content
    assert response.json()["album"] is None
    assert Photo.all_tenants.get(pk=response.json()["id"]).album is None


BAD_IDS = ["abc", "-1", "1.5", "0x10", "1e3", "\uff11", " 1", "99999999999999999999"]


@pytest.mark.parametrize("albums_read", [True, False], ids=["albums", "noalbums"])
@pytest.mark.parametrize("endpoint", list(ENDPOINTS))
def test_a_malformed_album_id_is_one_400_before_any_album_is_read(
    world, api_client, unchanged, endpoint, albums_read
):
    """Not an id at all is bad input, the same answer with or without the right to read albums."""
    mine = PhotoFactory(tenant=world.acme, owner=world.member_a)
    case = Case("member", world.member_a, {}, {}, mine.pk)
    client = api_client(world.member_a, world.acme, token_scopes(endpoint, albums_read))
    with unchanged():
        answers = {bad: send(client, endpoint, case, bad) for bad in BAD_IDS}
    for bad, response in answers.items():
        assert response.status_code == 400, (bad, response.content)
        assert response.json()["error"] == "invalid_request"
        assert list(response.json()["fields"]) == ["album"]


@pytest.mark.parametrize("bad", [True, 1.5, [1], {"id": 1}, -1, 2**63, 2**70], ids=repr)
def test_a_json_album_that_is_not_an_id_is_a_400(world, api_client, unchanged, bad):
    mine = PhotoFactory(tenant=world.acme, owner=world.member_a)
    client = api_client(world.member_a, world.acme, [S.PHOTOS_UPDATE, S.ALBUMS_READ])
    with unchanged():
        response = client.patch(f"/api/t/acme/photos/{mine.pk}/", {"album": bad}, format="json")
    assert response.status_code == 400
    assert response.json()["reason"] == "incorrect_type"
