"""The permission matrix: endpoint x role x target x scope present/absent x token tenant.

The expected answer of every cell comes from the readable table below plus DESIGN.md's order of
steps (token, tenant, scope, role, object), spelled out in `expected()`. Side effects happen
only on 2xx.

A cell earns its place by proving wiring the pure decision cannot. A token of the other tenant, or
one without the endpoint's scope, is refused before the object step for every object: that order is
proven for every combination by tests/scopes/access/test_decision.py (hypothesis). Those cells therefore
keep one target per endpoint and role, the caller's own object, the one that would otherwise pass;
same-tenant cells holding the scope keep every target.
"""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from photos.models import Album, Photo
from scopes.constants import ScopeName as S
from tests.answers import bearer_challenge
from tests.factories import AlbumFactory, PhotoFactory
from tests.images import upload

T, O, X = "tenant", "own", None  # noqa: E741 - reach of the role's grant: whole tenant, own objects, no grant

# endpoint:        method,  path,                 scope needed,      Owner Admin Member Guest
TABLE: dict[str, tuple[str, str, S, tuple[str | None, ...]]] = {
    "photos.list":   ("GET",    "photos/",            S.PHOTOS_READ,   (T, T, T, T)),
    "photos.create": ("POST",   "photos/",            S.PHOTOS_UPLOAD, (T, T, O, X)),
    "photo.get":     ("GET",    "photos/{id}/",       S.PHOTOS_READ,   (T, T, T, T)),
    "photo.image":   ("GET",    "photos/{id}/image",  S.PHOTOS_READ,   (T, T, T, T)),
    "photo.patch":   ("PATCH",  "photos/{id}/",       S.PHOTOS_UPDATE, (T, T, O, X)),
    "photo.delete":  ("DELETE", "photos/{id}/",       S.PHOTOS_DELETE, (T, T, O, X)),
    "albums.list":   ("GET",    "albums/",            S.ALBUMS_READ,   (T, T, T, T)),
    "albums.create": ("POST",   "albums/",            S.ALBUMS_WRITE,  (T, T, O, X)),
    "album.get":     ("GET",    "albums/{id}/",       S.ALBUMS_READ,   (T, T, T, T)),
    "album.patch":   ("PATCH",  "albums/{id}/",       S.ALBUMS_WRITE,  (T, T, O, X)),
    "album.delete":  ("DELETE", "albums/{id}/",       S.ALBUMS_WRITE,  (T, T, O, X)),
    "me":            ("GET",    "me/",                S.PROFILE_READ,  (T, T, O, O)),
}  # fmt: skip

ROLES = ["owner", "admin", "member", "guest", "non-member"]
OBJECT_TARGETS = ["own", "other member's", "other tenant's", "missing"]
# A scope is also satisfied by the scopes that imply it: "absent" leaves those out too.
IMPLIED_BY = {
    S.PHOTOS_READ: {S.PHOTOS_WRITE},
    S.PHOTOS_UPLOAD: {S.PHOTOS_WRITE},
    S.PHOTOS_UPDATE: {S.PHOTOS_WRITE},
    S.PHOTOS_DELETE: {S.PHOTOS_WRITE},
    S.ALBUMS_READ: {S.ALBUMS_WRITE},
}
SUCCESS = {"GET": 200, "POST": 201, "PATCH": 200, "DELETE": 204}


def expected(endpoint: str, role: str, target: str | None, scope_present: bool, same_tenant: bool):
    """(status, reason) for one cell, following DESIGN.md's steps in order."""
    method, _path, _scope, reaches = TABLE[endpoint]
    if not same_tenant or role == "non-member":
        return 404, "not_found"
    if not scope_present:
        return 403, "scope_missing"
    reach = reaches[ROLES.index(role)]
    if reach is None:
        return 403, "role_forbids"
    if target in ("other tenant's", "missing"):
        return 404, "not_found"
    if target == "other member's" and reach == O:
        return 403, "not_owner"
    return SUCCESS[method], None


def cells():
    for endpoint, (_method, path, _scope, _reaches) in TABLE.items():
        targets = OBJECT_TARGETS if "{id}" in path else [None]
        for role in ROLES:
            for target in targets:
                for scope_present in (True, False):
                    for same_tenant in (True, False):
                        if target not in (None, "own") and not (scope_present and same_tenant):
                            continue  # refused before the object step: see the module docstring
                        yield pytest.param(
                            endpoint,
                            role,
                            target,
                            scope_present,
                            same_tenant,
                            id="-".join(
                                [
                                    endpoint,
                                    role,
                                    target or "collection",
                                    "scope" if scope_present else "noscope",
                                    "tenant" if same_tenant else "othertenant",
                                ]
                            ),
                        )


@dataclass
class Snapshot:
    photos: int
    albums: int
    target: tuple | None


def snapshot(model, target_id: int | None) -> Snapshot:
    row = None
    if target_id is not None:
        row = (
            model.all_tenants.filter(pk=target_id)
            .values_list("pk", "title" if model is Photo else "name")
            .first()
        )
    return Snapshot(Photo.all_tenants.count(), Album.all_tenants.count(), row)


@pytest.mark.parametrize(("endpoint", "role", "target", "scope_present", "same_tenant"), list(cells()))
def test_permission_matrix(world, api_client, endpoint, role, target, scope_present, same_tenant):
    method, path, scope, _reaches = TABLE[endpoint]
    user = {
        "owner": world.owner_a,
        "admin": world.admin_a,
        "member": world.member_a,
        "guest": world.guest_a,
        "non-member": world.outsider,
    }[role]
    model = Album if endpoint.startswith("album") else Photo
    factory = AlbumFactory if model is Album else PhotoFactory
    owners = {"own": (user, world.acme), "other member's": (world.member2_a, world.acme)}
    owners["other tenant's"] = (world.member_b, world.globex)
    target_id = None
    if target == "missing":
        target_id = 987654
    elif target is not None:
        owner, tenant = owners[target]
        target_id = factory(tenant=tenant, owner=owner).pk
    if scope_present:
        scopes = [scope]
    else:
        scopes = [s for s in S if s != scope and s not in IMPLIED_BY.get(scope, set())]
    client = api_client(user, world.acme if same_tenant else world.globex, scopes)
    url = f"/api/t/acme/{path.format(id=target_id)}"
    before = snapshot(model, target_id)

    if method == "POST" and model is Photo:
        response = client.post(
            url, {"image": upload(), "title": "new", "owner": world.owner_a.pk}, format="multipart"
        )
    elif method == "POST":
        response = client.post(url, {"name": "new", "owner": world.owner_a.pk}, format="json")
    elif method == "PATCH":
        field = "title" if model is Photo else "name"
        response = client.patch(url, {field: "changed"}, format="json")
    else:
        response = client.generic(method, url)

    status, reason = expected(endpoint, role, target, scope_present, same_tenant)
    assert response.status_code == status, response.content
    # A valid token always learns what it holds and what the endpoint accepts.
    assert "X-OAuth-Scopes" in response.headers
    assert scope in response.headers["X-Accepted-OAuth-Scopes"].split()
    if reason is not None:
        body = response.json()
        assert body["reason"] == reason
        if status == 403:
            assert body["required_scopes"] == [scope]
            extra = {"request_access"} if reason == "role_forbids" else set()  # where to ask (issue 13)
            assert set(body) == {
                "error",
                "reason",
                "detail",
                "required_scopes",
                "granted_scopes",
                "request_id",
                *extra,
            }
            assert body["request_id"] == response["X-Request-ID"]

        if reason == "scope_missing":
            assert (
                bearer_challenge(response)
                == f'Bearer realm="api", error="insufficient_scope", scope="{scope}"'
            )
        else:  # a role or ownership 403 names only the resource's metadata (RFC 9728); a 404 nothing
            assert bearer_challenge(response) == ('Bearer realm="api"' if status == 403 else None)

    after = snapshot(model, target_id)
    if method == "GET" or status >= 300:
        assert after == before, "a refused or read-only call changed data"
    elif method == "POST":
        assert (after.photos, after.albums) != (before.photos, before.albums)
        created = model.all_tenants.latest("id")
        assert created.owner == user and created.tenant == world.acme  # never from the body
    elif method == "PATCH":
        assert after.target == (target_id, "changed")
    elif method == "DELETE":
        assert after.target is None


# --- Album-limited tokens (RFC 9396 grants): the same table, then the decision's album step.
#
# The token holds the endpoint's scope (and albums.read, to name an album) and is limited to one
# album. The object is the caller's own, placed in that album, in another album the role sees, or
# in no album (an album endpoint's object is the album itself). Role refusals come first, exactly
# as without a limit; past them, what is outside the token's albums is the standard 404, and
# putting something outside them is 403 `resource_not_granted`.

PLACES = ["granted album", "other visible album", "no album"]
LIMITED_ROLES = ["owner", "admin", "member", "guest"]


def expected_limited(endpoint: str, role: str, place: str):
    method, path, _scope, reaches = TABLE[endpoint]
    if reaches[LIMITED_ROLES.index(role)] is None:
        return 403, "role_forbids"
    if endpoint == "albums.create":
        return 403, "resource_not_granted"
    if endpoint == "photos.create":
        return {
            "granted album": (201, None),
            "other visible album": (400, "does_not_exist"),
            "no album": (403, "resource_not_granted"),
        }[place]
    if "{id}" in path and place != "granted album":
        return 404, "not_found"
    return SUCCESS[method], None


def limited_cells():
    for endpoint, (_method, path, _scope, _reaches) in TABLE.items():
        places = PLACES if ("{id}" in path or endpoint == "photos.create") else ["granted album"]
        if endpoint.startswith("album"):
            places = [p for p in places if p != "no album"]
        for role in LIMITED_ROLES:
            for place in places:
                yield pytest.param(endpoint, role, place, id=f"{endpoint}-{role}-{place.replace(' ', '_')}")


@pytest.mark.parametrize(("endpoint", "role", "place"), list(limited_cells()))
def test_album_limited_matrix(world, api_client, endpoint, role, place):
    from tests.albums import limit

    method, path, scope, _reaches = TABLE[endpoint]
    user = {"owner": world.owner_a, "admin": world.admin_a, "member": world.member_a, "guest": world.guest_a}[
        role
    ]
    granted = AlbumFactory(tenant=world.acme, owner=user)
    other = AlbumFactory(tenant=world.acme, owner=user)
    album = {"granted album": granted, "other visible album": other, "no album": None}[place]
    model = Album if endpoint.startswith("album") else Photo
    target_id = None
    if "{id}" in path:
        target_id = (
            album.pk if model is Album else PhotoFactory(tenant=world.acme, owner=user, album=album).pk
        )
    client = api_client(user, world.acme, [scope, S.ALBUMS_READ])
    limit(client.token, [granted.pk])
    url = f"/api/t/acme/{path.format(id=target_id)}"
    before = snapshot(model, target_id)

    if method == "POST" and model is Photo:
        data = {"image": upload(), "title": "new"}
        if album is not None:
            data["album"] = album.pk
        response = client.post(url, data, format="multipart")
    elif method == "POST":
        response = client.post(url, {"name": "new"}, format="json")
    elif method == "PATCH":
        response = client.patch(url, {"title" if model is Photo else "name": "changed"}, format="json")
    else:
        response = client.generic(method, url)

    status, reason = expected_limited(endpoint, role, place)
    assert response.status_code == status, response.content
    if reason is not None:
        assert response.json()["reason"] == reason
    after = snapshot(model, target_id)
    if method == "GET" or status >= 300:
        assert after == before, "a refused or read-only call changed data"
