"""Album-limited tokens on the photo API (RFC 9396 grants): the decision's album step, list and object alike."""

from __future__ import annotations

import pytest
from django.db import connection

from accounts.constants import RoleName
from photos.models import Album, Photo
from scopes.constants import ScopeName as S
from scopes.models import ConsentAlbum, RoleGrant
from tests.albums import limit
from tests.answers import json_body
from tests.factories import AlbumFactory, PhotoFactory
from tests.images import upload

pytestmark = pytest.mark.django_db

SCOPES = [S.PHOTOS_READ, S.PHOTOS_UPLOAD, S.PHOTOS_UPDATE, S.ALBUMS_READ, S.ALBUMS_WRITE]


@pytest.fixture
def place(world):
    """Acme: the member's album A (granted), a colleague's album B (visible, not granted), photos in
    each and one in no album."""
    a = AlbumFactory(tenant=world.acme, owner=world.member_a, name="A")
    b = AlbumFactory(tenant=world.acme, owner=world.member2_a, name="B")
    return {
        "a": a,
        "b": b,
        "in_a": PhotoFactory(tenant=world.acme, owner=world.member2_a, album=a),
        "in_b": PhotoFactory(tenant=world.acme, owner=world.member_a, album=b),
        "loose": PhotoFactory(tenant=world.acme, owner=world.member_a, album=None),
    }


@pytest.fixture
def limited(world, api_client, place):
    client = api_client(world.member_a, world.acme, SCOPES)
    limit(client.token, [place["a"].pk])
    return client


def ids(response) -> set[int]:
    assert response.status_code == 200, response.content
    return {row["id"] for row in response.json()["results"]}


def test_lists_only_its_albums_and_their_photos(limited, place):
    assert ids(limited.get("/api/t/acme/photos/")) == {place["in_a"].pk}
    assert ids(limited.get("/api/t/acme/albums/")) == {place["a"].pk}
    assert ids(limited.get(f"/api/t/acme/photos/?album={place['b'].pk}")) == set()


@pytest.mark.parametrize("url", ["photos/{in_b}/", "photos/{loose}/", "photos/{in_b}/image", "albums/{b}/"])
def test_anything_else_is_the_standard_404(limited, place, url):
    keys = {name: obj.pk for name, obj in place.items()}
    response = limited.get("/api/t/acme/" + url.format(**keys))
    missing = limited.get("/api/t/acme/" + url.format(**dict.fromkeys(keys, 987654)))
    assert response.status_code == 404 and json_body(response) == json_body(missing)


def test_reads_photos_in_its_album(limited, place):
    assert limited.get(f"/api/t/acme/photos/{place['in_a'].pk}/").status_code == 200
    assert limited.get(f"/api/t/acme/albums/{place['a'].pk}/").status_code == 200


def test_uploads_only_into_granted_albums(limited, place):
    before = Photo.all_tenants.count()
    into_a = limited.post(
        "/api/t/acme/photos/", {"image": upload(), "album": place["a"].pk}, format="multipart"
    )
    assert into_a.status_code == 201 and into_a.json()["album"] == place["a"].pk
    into_b = limited.post(
        "/api/t/acme/photos/", {"image": upload(), "album": place["b"].pk}, format="multipart"
    )
    assert into_b.status_code == 400 and into_b.json()["reason"] == "does_not_exist"
    nowhere = limited.post("/api/t/acme/photos/", {"image": upload()}, format="multipart")
    assert nowhere.status_code == 403 and nowhere.json()["reason"] == "resource_not_granted"
    assert Photo.all_tenants.count() == before + 1


def test_moves_only_between_granted_albums(limited, place, world):
    mine = PhotoFactory(tenant=world.acme, owner=world.member_a, album=place["a"])
    out = limited.patch(f"/api/t/acme/photos/{mine.pk}/", {"album": None}, format="json")
    assert out.status_code == 403 and out.json()["reason"] == "resource_not_granted"
    to_b = limited.patch(f"/api/t/acme/photos/{mine.pk}/", {"album": place["b"].pk}, format="json")
    assert to_b.status_code == 400
    mine.refresh_from_db()
    assert mine.album_id == place["a"].pk


def test_creating_an_album_is_refused_with_the_reason(limited):
    before = Album.all_tenants.count()
    response = limited.post("/api/t/acme/albums/", {"name": "New"}, format="json")
    assert response.status_code == 403
    body = json_body(response)
    assert body["reason"] == "resource_not_granted" and "albums it was granted" in body["detail"]
    assert Album.all_tenants.count() == before


def test_without_an_album_limit_nothing_changes(world, api_client, place):
    client = api_client(world.member_a, world.acme, SCOPES)
    assert ids(client.get("/api/t/acme/photos/")) == {place["in_a"].pk, place["in_b"].pk, place["loose"].pk}
    assert client.post("/api/t/acme/albums/", {"name": "New"}, format="json").status_code == 201


# --- The standing: every change drops the album at the next request, whoever writes it


def test_album_deleted_drops_out(limited, place):
    assert ids(limited.get("/api/t/acme/albums/")) == {place["a"].pk}
    place["a"].delete()
    assert ids(limited.get("/api/t/acme/photos/")) == set()


def test_album_deleted_by_raw_sql_takes_its_links_with_it(limited, place):
    """Any writer: the trigger on the album table does what a foreign key's cascade did (the
    authorization server stores album limits as (kind, identifier), scopes 0020)."""
    assert ids(limited.get("/api/t/acme/photos/")) == {place["in_a"].pk}
    with connection.cursor() as cursor:
        cursor.execute("UPDATE photos_photo SET album_id = NULL WHERE album_id = %s", [place["a"].pk])
        cursor.execute("DELETE FROM photos_album WHERE id = %s", [place["a"].pk])
    assert not ConsentAlbum.all_tenants.exists()
    assert ids(limited.get("/api/t/acme/albums/")) == set()
    assert ids(limited.get("/api/t/acme/photos/")) == set()


def test_consent_album_removed_by_raw_sql_drops_out(limited, place):
    assert ids(limited.get("/api/t/acme/photos/")) == {place["in_a"].pk}
    with connection.cursor() as cursor:
        cursor.execute("DELETE FROM scopes_consentalbum WHERE object_id = %s", [place["a"].pk])
    assert ids(limited.get("/api/t/acme/photos/")) == set()


def test_role_change_hiding_the_album_drops_it(world, api_client, place):
    client = api_client(world.member_a, world.acme, SCOPES)
    limit(client.token, [place["a"].pk, place["b"].pk])
    assert ids(client.get("/api/t/acme/albums/")) == {place["a"].pk, place["b"].pk}
    RoleGrant.objects.filter(role=world.role(RoleName.MEMBER), scope__name="albums.read").update(reach="own")
    assert ids(client.get("/api/t/acme/photos/")) == {place["in_a"].pk}


def test_album_owner_changed_by_raw_sql_drops_it_for_an_own_reach_role(world, api_client, place):
    RoleGrant.objects.filter(role=world.role(RoleName.MEMBER), scope__name="albums.read").update(reach="own")
    client = api_client(world.member_a, world.acme, SCOPES)
    limit(client.token, [place["a"].pk])
    assert ids(client.get("/api/t/acme/photos/")) == {place["in_a"].pk}
    with connection.cursor() as cursor:
        cursor.execute(
            "UPDATE photos_album SET owner_id = %s WHERE id = %s", [world.member2_a.pk, place["a"].pk]
        )
    assert ids(client.get("/api/t/acme/photos/")) == set()


def test_connected_apps_removes_one_album_at_once(world, limited, place, browser_of):
    consent_id = ConsentAlbum.all_tenants.get().consent_id
    page = browser_of(world.member_a).get("/account/apps/").content.decode()
    assert f'data-album="{place["a"].pk}"' in page and ">A</span>" in page
    assert ids(limited.get("/api/t/acme/photos/")) == {place["in_a"].pk}
    browser_of(world.member_a).post(f"/account/apps/{consent_id}/remove-album/", {"album": place["a"].pk})
    assert not ConsentAlbum.all_tenants.exists()
    assert ids(limited.get("/api/t/acme/photos/")) == set()


def test_someone_elses_grant_album_cannot_be_removed(world, limited, place, browser_of):
    consent_id = ConsentAlbum.all_tenants.get().consent_id
    response = browser_of(world.member2_a).post(
        f"/account/apps/{consent_id}/remove-album/", {"album": place["a"].pk}
    )
    assert response.status_code == 404 and ConsentAlbum.all_tenants.count() == 1


# --- Cost


def test_album_limited_list_costs_what_an_unlimited_one_costs(
    world, api_client, place, django_assert_num_queries, tenancy_statements
):
    for i in range(30):
        PhotoFactory(tenant=world.acme, owner=world.member_a, album=place["a"] if i % 2 else place["b"])
    plain = api_client(world.member_a, world.acme, SCOPES)
    limited = api_client(world.member_a, world.acme, SCOPES)
    limit(limited.token, [place["a"].pk])
    for client in (plain, limited):
        client.get("/api/t/acme/photos/")  # warm
        with django_assert_num_queries(1 + tenancy_statements):
            assert client.get("/api/t/acme/photos/").status_code == 200


def test_openapi_documents_the_reason(db):
    from rest_framework.test import APIClient

    schema = APIClient().get("/api/schema/?format=json").json()
    refusal = schema["components"]["schemas"]["Refusal"]
    assert "resource_not_granted" in refusal["properties"]["reason"]["enum"]
    assert "RFC 9396" in refusal["description"]


def test_a_token_without_albums_read_names_its_own_albums(world, api_client, place):
    """The album was granted by name (RFC 9396): uploading into it, or filtering by it, needs no albums.read."""
    client = api_client(world.member_a, world.acme, [S.PHOTOS_READ, S.PHOTOS_UPLOAD])
    limit(client.token, [place["a"].pk])
    into_a = client.post(
        "/api/t/acme/photos/", {"image": upload(), "album": place["a"].pk}, format="multipart"
    )
    assert into_a.status_code == 201, into_a.content
    into_b = client.post(
        "/api/t/acme/photos/", {"image": upload(), "album": place["b"].pk}, format="multipart"
    )
    assert into_b.status_code == 400 and into_b.json()["reason"] == "does_not_exist"
    assert ids(client.get(f"/api/t/acme/photos/?album={place['a'].pk}")) == {
        place["in_a"].pk,
        into_a.json()["id"],
    }
    assert ids(client.get(f"/api/t/acme/photos/?album={place['b'].pk}")) == set()
    # Listing albums is still albums.read's.
    assert client.get("/api/t/acme/albums/").json()["reason"] == "scope_missing"


def test_an_unlimited_token_without_albums_read_still_cannot_name_an_album(world, api_client, place):
    client = api_client(world.member_a, world.acme, [S.PHOTOS_READ, S.PHOTOS_UPLOAD])
    response = client.post(
        "/api/t/acme/photos/", {"image": upload(), "album": place["a"].pk}, format="multipart"
    )
    assert response.status_code == 403 and response.json()["reason"] == "scope_missing"
