"""Attacks on the photo API: other tenants' ids, forged body fields, odd methods and bodies, token tricks.

The attacker holds the strongest token there is (an Owner's, every scope) in acme; the victim's
rows live in globex. Every attempt is refused with the same answer as a missing id, and changes
nothing.
"""

from __future__ import annotations

import json

import pytest
from rest_framework.test import APIClient

from photos.models import Album, Photo
from tests.answers import bearer_challenge, json_body
from tests.attacks import ALL_API_SCOPES
from tests.factories import AlbumFactory, PhotoFactory
from tests.images import upload

pytestmark = [pytest.mark.django_db, pytest.mark.attack]

MISSING = 987654


@pytest.fixture
def victim(world):
    """globex's rows, which nobody in acme may see or touch."""
    album = AlbumFactory(tenant=world.globex, owner=world.member_b, name="Globex secrets")
    photo = PhotoFactory(tenant=world.globex, owner=world.member_b, album=album, title="Globex only")
    return {"photo": photo.pk, "album": album.pk}


@pytest.fixture
def mine(world):
    """acme's own rows, owned by the attacker."""
    album = AlbumFactory(tenant=world.acme, owner=world.owner_a, name="Mine")
    photo = PhotoFactory(tenant=world.acme, owner=world.owner_a, album=album, title="Mine")
    return {"photo": photo.pk, "album": album.pk}


@pytest.fixture
def attacker(world, api_client) -> APIClient:
    return api_client(world.owner_a, world.acme, ALL_API_SCOPES)


def comparable(response) -> tuple:
    """Status, body and headers, less the request id each answer carries (its own every time)."""
    body = b"".join(response.streaming_content) if response.streaming else response.content
    if response.get("Content-Type") == "application/json" and body:
        body = json.loads(body)
        if isinstance(body, dict):
            body.pop("request_id", None)
    headers = {k: v for k, v in response.headers.items() if k != "X-Request-ID"}
    return response.status_code, body, headers


# (method, path template, body): every endpoint that takes an id.
ID_ENDPOINTS = [
    ("get", "photos/{photo}/", None),
    ("patch", "photos/{photo}/", {"title": "pwned"}),
    ("delete", "photos/{photo}/", None),
    ("get", "photos/{photo}/image", None),
    ("get", "albums/{album}/", None),
    ("patch", "albums/{album}/", {"name": "pwned"}),
    ("delete", "albums/{album}/", None),
]


def call(client: APIClient, method: str, url: str, body: dict | None):
    if body is None:
        return getattr(client, method)(url)
    return getattr(client, method)(url, body, format="json")


@pytest.mark.parametrize(("method", "path", "body"), ID_ENDPOINTS, ids=lambda v: str(v))
def test_another_tenants_id_is_the_same_404_as_a_missing_one(attacker, victim, unchanged, method, path, body):
    with unchanged():
        foreign = call(attacker, method, "/api/t/acme/" + path.format(**victim), body)
        missing = call(attacker, method, "/api/t/acme/" + path.format(photo=MISSING, album=MISSING), body)
    assert foreign.status_code == 404
    assert comparable(foreign) == comparable(missing)


@pytest.mark.parametrize(("method", "path", "body"), ID_ENDPOINTS, ids=lambda v: str(v))
def test_another_tenants_url_with_its_own_ids_is_404(attacker, victim, unchanged, method, path, body):
    """The token is acme's: globex's URL is "no such tenant" whatever the ids, even real ones."""
    with unchanged():
        foreign = call(attacker, method, "/api/t/globex/" + path.format(**victim), body)
        nowhere = call(attacker, method, "/api/t/nowhere/" + path.format(**victim), body)
    assert foreign.status_code == 404
    assert comparable(foreign) == comparable(nowhere)


@pytest.mark.parametrize("path", ["photos/", "albums/", "me/", f"photos/?album={MISSING}"])
def test_another_tenants_collections_are_404(attacker, victim, unchanged, path):
    with unchanged():
        assert attacker.get("/api/t/globex/" + path).status_code == 404
        assert attacker.post("/api/t/globex/" + path, {"name": "x"}, format="json").status_code in {404, 405}


def test_a_foreign_album_filter_lists_nothing(attacker, victim, mine, unchanged):
    with unchanged():
        response = attacker.get(f"/api/t/acme/photos/?album={victim['album']}")
    assert response.status_code == 200 and response.json()["results"] == []


def test_lists_never_contain_another_tenants_rows(attacker, victim, mine):
    photos = attacker.get("/api/t/acme/photos/").json()["results"]
    albums = attacker.get("/api/t/acme/albums/").json()["results"]
    assert [p["id"] for p in photos] == [mine["photo"]]
    assert [a["id"] for a in albums] == [mine["album"]]
    assert "Globex" not in json.dumps([photos, albums])


# --- foreign album ids in create and update


def test_a_foreign_album_in_an_upload_is_the_same_400_as_a_missing_one(attacker, victim, unchanged):
    answers = []
    for album in (victim["album"], MISSING):
        with unchanged():
            response = attacker.post(
                "/api/t/acme/photos/", {"image": upload(), "album": album}, format="multipart"
            )
        assert response.status_code == 400
        answers.append(json.dumps(json_body(response)).replace(str(album), "<id>"))
    assert answers[0] == answers[1]


def test_a_foreign_album_in_an_update_is_the_same_400_as_a_missing_one(attacker, victim, mine, unchanged):
    answers = []
    for album in (victim["album"], MISSING):
        with unchanged():
            response = attacker.patch(f"/api/t/acme/photos/{mine['photo']}/", {"album": album}, format="json")
        assert response.status_code == 400
        answers.append(json.dumps(json_body(response)).replace(str(album), "<id>"))
    assert answers[0] == answers[1]


@pytest.mark.parametrize("album", ["abc", -1, 1.5, True, [1], {"id": 1}, "1 OR 1=1", 2**70])
def test_a_malformed_album_id_is_a_400(attacker, mine, unchanged, album):
    with unchanged():
        response = attacker.patch(f"/api/t/acme/photos/{mine['photo']}/", {"album": album}, format="json")
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_request"


# --- fields the body may not set


FORGED = {
    "tenant": "globex",
    "tenant_id": 2,
    "owner": 6,
    "owner_id": 6,
    "id": 424242,
    "created": "2000-01-01T00:00:00Z",
}


def test_an_upload_ignores_tenant_owner_id_and_measured_fields(world, attacker, victim):
    forged = {**FORGED, "tenant": world.globex.pk, "owner": world.member_b.pk, "byte_size": 1, "width": 9999,
              "height": 9999, "content_type": "text/html", "image_url": "https://evil.example/x"}  # fmt: skip
    response = attacker.post(
        "/api/t/acme/photos/", {"image": upload(), "title": "t", **forged}, format="multipart"
    )
    assert response.status_code == 201
    body = response.json()
    photo = Photo.all_tenants.get(pk=body["id"])
    assert (photo.tenant, photo.owner) == (world.acme, world.owner_a)
    assert photo.pk != 424242 and photo.created.year > 2000
    assert (photo.content_type, photo.width, photo.height) == ("image/png", 4, 3)
    assert photo.byte_size == len(upload().read()) != 1
    assert body["image_url"].endswith(f"/api/t/acme/photos/{photo.pk}/image")


def test_an_update_ignores_tenant_owner_id_and_measured_fields(world, attacker, mine):
    before = Photo.all_tenants.values().get(pk=mine["photo"])
    forged = {
        **FORGED,
        "byte_size": 1,
        "width": 1,
        "height": 1,
        "content_type": "text/html",
        "image": "x.html",
    }
    response = attacker.patch(
        f"/api/t/acme/photos/{mine['photo']}/", {"title": "new", **forged}, format="json"
    )
    assert response.status_code == 200
    after = Photo.all_tenants.values().get(pk=mine["photo"])
    assert after["title"] == "new"
    changed = {k for k in before if before[k] != after[k]}
    assert changed == {"title", "updated"}
    assert not Photo.all_tenants.filter(pk=424242).exists()


def test_an_album_create_and_update_ignore_tenant_owner_and_id(world, attacker):
    response = attacker.post("/api/t/acme/albums/", {"name": "a", **FORGED}, format="json")
    assert response.status_code == 201
    album = Album.all_tenants.get(pk=response.json()["id"])
    assert (album.tenant, album.owner, album.created.year > 2000) == (world.acme, world.owner_a, True)
    assert album.pk != 424242
    response = attacker.patch(f"/api/t/acme/albums/{album.pk}/", {"name": "b", **FORGED}, format="json")
    assert response.status_code == 200
    album.refresh_from_db()
    assert (album.name, album.tenant, album.owner, album.pk != 424242) == (
        "b",
        world.acme,
        world.owner_a,
        True,
    )


# --- methods


METHODS_NOT_ALLOWED = [
    ("put", "photos/{photo}/"),
    ("post", "photos/{photo}/"),
    ("put", "photos/"),
    ("patch", "photos/"),
    ("delete", "photos/"),
    ("post", "photos/{photo}/image"),
    ("put", "photos/{photo}/image"),
    ("patch", "photos/{photo}/image"),
    ("delete", "photos/{photo}/image"),
    ("put", "albums/{album}/"),
    ("post", "albums/{album}/"),
    ("put", "albums/"),
    ("patch", "albums/"),
    ("delete", "albums/"),
    ("post", "me/"),
    ("put", "me/"),
    ("patch", "me/"),
    ("delete", "me/"),
    ("options", "photos/"),
    ("TRACE", "photos/"),
    ("CONNECT", "photos/"),
    ("PROPFIND", "albums/"),
]


@pytest.mark.parametrize(("method", "path"), METHODS_NOT_ALLOWED, ids=lambda v: str(v))
def test_methods_the_api_does_not_offer_are_405_and_change_nothing(attacker, mine, unchanged, method, path):
    url = "/api/t/acme/" + path.format(**mine)
    with unchanged():
        if method.isupper():
            response = attacker.generic(method, url)
        else:
            response = getattr(attacker, method)(url, {"title": "x", "name": "x"}, format="json")
    assert response.status_code == 405, (response.status_code, response.content)
    assert response.json()["error"] == "method_not_allowed"


def test_a_method_override_header_is_not_honoured(attacker, mine, unchanged):
    with unchanged():
        response = attacker.get(
            f"/api/t/acme/photos/{mine['photo']}/",
            HTTP_X_HTTP_METHOD_OVERRIDE="DELETE",
            QUERY_STRING="_method=DELETE",
        )
    assert response.status_code == 200


# --- malformed bodies


MALFORMED_JSON = [
    b"{bad",
    b'{"title": }',
    b"\xff\xfe{}",
    b'{"title": NaN}',
    b"[" * 100_000 + b"]" * 100_000,  # nested deeper than Python's decoder can follow
    b'{"a":' * 50_000 + b"1" + b"}" * 50_000,
]


@pytest.mark.parametrize("body", MALFORMED_JSON, ids=lambda b: repr(b[:12]))
@pytest.mark.parametrize("target", ["photo", "album", "new-album"])
def test_malformed_json_is_a_400(attacker, mine, unchanged, body, target):
    url = {
        "photo": f"/api/t/acme/photos/{mine['photo']}/",
        "album": f"/api/t/acme/albums/{mine['album']}/",
        "new-album": "/api/t/acme/albums/",
    }[target]
    method = attacker.post if target == "new-album" else attacker.patch
    with unchanged():
        response = method(url, body, content_type="application/json")
    assert response.status_code == 400, response.content[:200]
    assert response.json()["error"] in {"parse_error", "invalid_request"}


def test_an_empty_body_creates_nothing(attacker, unchanged):
    with unchanged():
        response = attacker.post("/api/t/acme/albums/", b"", content_type="application/json")
    assert response.status_code == 400


@pytest.mark.parametrize(
    "payload",
    [
        [],
        "a string",
        42,
        None,
        {"title": {"nested": "object"}},
        {"title": ["list"]},
        {"title": "x" * 201},
        {"title": "nul \x00 byte"},
        {"description": "lone surrogate \ud800"},
    ],
    ids=repr,
)
def test_json_of_the_wrong_shape_is_a_400(attacker, mine, unchanged, payload):
    with unchanged():
        response = attacker.patch(
            f"/api/t/acme/photos/{mine['photo']}/",
            json.dumps(payload),
            content_type="application/json",
        )
    assert response.status_code == 400, response.content
    assert response.json()["error"] in {"parse_error", "invalid_request"}


@pytest.mark.parametrize(
    "payload",
    [{"name": ""}, {"name": "x" * 201}, {"name": "a\x00b"}, {"name": None}, {}, {"name": ["x"]}],
    ids=repr,
)
def test_an_album_with_bad_fields_is_a_400(attacker, unchanged, payload):
    with unchanged():
        response = attacker.post("/api/t/acme/albums/", payload, format="json")
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_request"


@pytest.mark.parametrize("content_type", ["application/xml", "text/plain", "application/x-yaml", "image/png"])
def test_an_unsupported_media_type_is_a_415(attacker, mine, unchanged, content_type):
    with unchanged():
        response = attacker.patch(
            f"/api/t/acme/photos/{mine['photo']}/", b"<title>x</title>", content_type=content_type
        )
    assert response.status_code == 415


# --- huge bodies


def test_a_json_body_over_djangos_limit_is_a_413_in_json(attacker, mine, unchanged, settings):
    body = json.dumps({"title": "t", "description": "x" * settings.DATA_UPLOAD_MAX_MEMORY_SIZE})
    with unchanged():
        response = attacker.patch(
            f"/api/t/acme/photos/{mine['photo']}/", body, content_type="application/json"
        )
    assert response.status_code == 413
    assert response.json()["reason"] == "too_large"


def test_a_form_with_too_many_fields_is_a_400_in_json(attacker, unchanged, settings):
    fields = {f"f{i}": "x" for i in range(settings.DATA_UPLOAD_MAX_NUMBER_FIELDS + 1)}
    with unchanged():
        response = attacker.post("/api/t/acme/photos/", {"image": upload(), **fields}, format="multipart")
    assert response.status_code == 400
    assert response.json()["reason"] == "too_many_fields"


def test_an_upload_larger_than_any_photo_is_a_413_before_it_is_read(attacker, unchanged, settings):
    settings.PHOTO_MAX_BYTES = 1000
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 1000
    with unchanged():
        response = attacker.post(
            "/api/t/acme/photos/", {"image": upload("big.png", b"\x89PNG" + b"0" * 3000)}, format="multipart"
        )
    assert response.status_code == 413
    assert json_body(response) == {
        "error": "invalid_request",
        "reason": "too_large",
        "detail": response.json()["detail"],
    }
    assert "at most 2000 bytes" in response.json()["detail"]


def test_a_huge_query_string_is_not_a_500(attacker, unchanged):
    with unchanged():
        response = attacker.get("/api/t/acme/photos/?" + "&".join(f"k{i}=v" for i in range(5000)))
    assert response.status_code in {200, 400}


# --- where the token may come from


@pytest.fixture
def token(world, mint_token) -> str:
    return mint_token(world.owner_a, world.acme, ALL_API_SCOPES).token


@pytest.mark.parametrize("param", ["access_token", "token", "bearer", "Authorization"])
def test_a_token_in_the_query_string_is_not_accepted(token, unchanged, param):
    with unchanged():
        response = APIClient().get(f"/api/t/acme/photos/?{param}={token}")
    assert response.status_code == 401
    assert response.json()["reason"] == "token_missing"
    assert bearer_challenge(response) == 'Bearer realm="api"'


def test_a_token_in_a_form_body_is_not_accepted(token, unchanged):
    with unchanged():
        response = APIClient().post(
            "/api/t/acme/albums/", {"access_token": token, "name": "x"}, format="multipart"
        )
    assert response.status_code == 401


def test_a_token_in_a_cookie_or_a_session_is_not_accepted(world, token, browser_of, unchanged):
    browser = browser_of(world.owner_a)  # signed in: a session cookie, but no Bearer token
    browser.cookies["access_token"] = token
    with unchanged():
        assert browser.get("/api/t/acme/photos/").status_code == 401
        assert browser.post("/api/t/acme/albums/", {"name": "csrf"}).status_code == 401


@pytest.mark.parametrize(
    ("header", "reason"),
    [
        ("Bearer {t}, Bearer {t}", "invalid_token"),  # two headers, joined by the server
        ("Bearer {t},Bearer {t}", "invalid_token"),
        ("Bearer {t} {t}", "invalid_token"),
        ("Bearer  {t}x", "invalid_token"),
        ("Bearer", "invalid_token"),
        ("Bearer ", "invalid_token"),
        ("Bearer\t{t}", "token_missing"),  # no space: not the Bearer scheme at all
        ("Basic {t}", "token_missing"),
        ("Token {t}", "token_missing"),
        ("MAC id={t}", "token_missing"),
        ("{t}", "token_missing"),
        ("Bearer{t}", "token_missing"),
    ],
)
def test_authorization_headers_that_are_not_one_bearer_token_are_refused(token, unchanged, header, reason):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=header.format(t=token))
    with unchanged():
        response = client.get("/api/t/acme/photos/")
    assert response.status_code == 401
    assert response.json()["reason"] == reason


def test_the_bearer_scheme_is_case_insensitive_but_the_token_is_not(token):
    """RFC 7235 2.1: the scheme is case-insensitive; the token is compared exactly."""
    for header, status in (
        (f"bearer {token}", 200),
        (f"BEARER {token}", 200),
        (f"Bearer {token.swapcase()}", 401),
    ):
        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION=header)
        assert client.get("/api/t/acme/photos/").status_code == status
