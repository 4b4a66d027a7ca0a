"""The photo and album API beyond the matrix: lists, filters, pagination, 404s, live changes, me/."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from accounts.constants import RoleName
from accounts.models import User
from photos.models import Photo
from scopes.constants import ScopeName as S
from scopes.roles.services import membership_remove, membership_set
from tests.answers import bearer_challenge, json_body
from tests.factories import AlbumFactory, PhotoFactory, RoleFactory, RoleGrantFactory
from tests.images import upload


@pytest.fixture
def photos(world):
    """Two photos each for member_a and member2_a in acme, one for member_b in globex."""
    return {
        "a1": PhotoFactory(tenant=world.acme, owner=world.member_a),
        "a2": PhotoFactory(tenant=world.acme, owner=world.member_a),
        "m1": PhotoFactory(tenant=world.acme, owner=world.member2_a),
        "m2": PhotoFactory(tenant=world.acme, owner=world.member2_a),
        "b1": PhotoFactory(tenant=world.globex, owner=world.member_b),
    }


def ids(response) -> set[int]:
    assert response.status_code == 200, response.content
    return {row["id"] for row in response.json()["results"]}


@pytest.mark.parametrize("role", ["owner_a", "admin_a", "member_a", "guest_a"])
def test_members_with_tenant_read_reach_list_exactly_the_tenants_photos(world, api_client, photos, role):
    client = api_client(getattr(world, role), world.acme, [S.PHOTOS_READ])
    assert ids(client.get("/api/t/acme/photos/")) == {photos[k].pk for k in ("a1", "a2", "m1", "m2")}


def test_own_read_reach_lists_exactly_the_users_photos(world, api_client, photos):
    role = RoleFactory(name="Private viewer", tenant=world.acme)
    RoleGrantFactory(role=role, scope_id=_scope_id(S.PHOTOS_READ), reach="own")
    membership_set(actor=None, user=world.member_a, tenant=world.acme, role=role)
    client = api_client(world.member_a, world.acme, [S.PHOTOS_READ])
    assert ids(client.get("/api/t/acme/photos/")) == {photos["a1"].pk, photos["a2"].pk}
    # ... and someone else's photo is then not visible at all: 404, not 403.
    assert client.get(f"/api/t/acme/photos/{photos['m1'].pk}/").status_code == 404


def _scope_id(name: str) -> int:
    from scopes.models import Scope

    return Scope.objects.get(name=name).pk


def test_member_b_lists_only_globex(world, api_client, photos):
    client = api_client(world.member_b, world.globex, [S.PHOTOS_READ])
    assert ids(client.get("/api/t/globex/photos/")) == {photos["b1"].pk}


def test_filters_owner_me_and_album(world, api_client, photos):
    album = AlbumFactory(tenant=world.acme, owner=world.member2_a)
    Photo.all_tenants.filter(pk=photos["m1"].pk).update(album=album)
    client = api_client(world.member_a, world.acme, [S.PHOTOS_READ, S.ALBUMS_READ])
    assert ids(client.get("/api/t/acme/photos/?owner=me")) == {photos["a1"].pk, photos["a2"].pk}
    assert ids(client.get(f"/api/t/acme/photos/?album={album.pk}")) == {photos["m1"].pk}
    foreign = AlbumFactory(tenant=world.globex, owner=world.member_b)
    assert ids(client.get(f"/api/t/acme/photos/?album={foreign.pk}")) == set()


def test_the_album_filter_needs_albums_read_as_reading_the_album_does(world, api_client, photos):
    """`?album=` names an album: a token without albums.read is told so, whichever id it names."""
    album = AlbumFactory(tenant=world.acme, owner=world.member_a)
    client = api_client(world.member_a, world.acme, [S.PHOTOS_READ])
    answers = [client.get(f"/api/t/acme/photos/?album={pk}") for pk in (album.pk, 987654)]
    assert [r.status_code for r in answers] == [403, 403]
    assert json_body(answers[0]) == json_body(answers[1])
    assert answers[0].json()["reason"] == "scope_missing"
    assert answers[0].json()["required_scopes"] == [S.ALBUMS_READ]
    assert (
        bearer_challenge(answers[0]) == 'Bearer realm="api", error="insufficient_scope", scope="albums.read"'
    )


@pytest.mark.parametrize(
    "query", ["album=abc", "album=-1", "owner=someone", "cursor=garbage", "album=99999999999999999999"]
)
def test_bad_list_parameters_are_400_not_500(world, api_client, photos, query):
    client = api_client(world.member_a, world.acme, [S.PHOTOS_READ])
    response = client.get(f"/api/t/acme/photos/?{query}")
    assert response.status_code == 400, response.content
    assert response.json()["error"] == "invalid_request"


def test_cursor_pagination_walks_every_photo_once_newest_first(world, api_client):
    now = timezone.now()
    made = Photo.objects.bulk_create(
        [
            Photo(tenant=world.acme, owner=world.member_a, image="x.png", content_type="image/png",
                  byte_size=1, width=1, height=1, created=now - timezone.timedelta(seconds=i % 3))
            for i in range(7)
        ]
    )  # fmt: skip
    client = api_client(world.member_a, world.acme, [S.PHOTOS_READ])
    seen: list[int] = []
    url = "/api/t/acme/photos/?page_size=3"
    while url:
        body = client.get(url).json()
        seen += [row["id"] for row in body["results"]]
        url = body["next"]
    assert sorted(seen) == sorted(p.pk for p in made)
    expected = sorted(made, key=lambda p: (p.created, p.pk), reverse=True)
    assert seen == [p.pk for p in expected]


@pytest.mark.parametrize("count", [10, 1000])
def test_warm_list_page_costs_one_query_whatever_the_number_of_photos(
    world, api_client, django_assert_num_queries, count, tenancy_statements
):
    Photo.objects.bulk_create(
        [
            Photo(tenant=world.acme, owner=world.member2_a if i % 2 else world.member_a, image=f"p{i}.png",
                  content_type="image/png", byte_size=1, width=1, height=1)
            for i in range(count)
        ]
    )  # fmt: skip
    client = api_client(world.member_a, world.acme, [S.PHOTOS_READ])
    client.get("/api/t/acme/photos/")  # warms the registry and the token's authorization context
    # The page of rows only: token, user, tenant, membership and role grants come from the cache
    # (on PostgreSQL, plus the one statement that enters the token's tenant for row-level security).
    with django_assert_num_queries(1 + tenancy_statements):
        response = client.get("/api/t/acme/photos/")
    assert len(response.json()["results"]) == 10 if count == 10 else 50
    with django_assert_num_queries(1 + tenancy_statements):
        client.get(response.json()["next"] or "/api/t/acme/photos/")


def test_a_list_page_reads_the_owners_username_and_nothing_else_of_the_owner(world, api_client):
    """The list's rows carry the owner's username as a column (photos.selectors.photos_listed):
    no other column of the user (no password hash) is read, and no user is built per row."""
    PhotoFactory(tenant=world.acme, owner=world.member2_a)
    client = api_client(world.member_a, world.acme, [S.PHOTOS_READ])
    client.get("/api/t/acme/photos/")
    with CaptureQueriesContext(connection) as queries:
        response = client.get("/api/t/acme/photos/")
    assert response.status_code == 200
    assert [row["owner"] for row in response.json()["results"]] == [
        {"id": world.member2_a.pk, "username": "member2_a"}
    ]
    (page,) = [q["sql"] for q in queries.captured_queries if '"photos_photo"' in q["sql"]]
    selected = page.split(" FROM ", 1)[0]
    assert '"accounts_user"."username" AS "owner_username"' in selected
    user_columns = {f'"accounts_user"."{f.column}"' for f in User._meta.concrete_fields}
    assert {column for column in user_columns if column in selected} == {'"accounts_user"."username"'}


def test_warm_album_list_costs_one_query(world, api_client, django_assert_num_queries, tenancy_statements):
    for i in range(5):
        AlbumFactory(tenant=world.acme, owner=world.member2_a if i % 2 else world.member_a)
    client = api_client(world.member_a, world.acme, [S.ALBUMS_READ])
    client.get("/api/t/acme/albums/")
    with django_assert_num_queries(1 + tenancy_statements):
        assert len(client.get("/api/t/acme/albums/").json()["results"]) == 5


def test_cold_cache_adds_only_the_implication_graph(
    world, api_client, django_assert_num_queries, tenancy_statements
):
    client = api_client(world.member_a, world.acme, [S.PHOTOS_READ])
    # The registry (shared by every token), the token's context and the page; the first use of
    # photos.read today is noted in memory, not written (accounts.background).
    with django_assert_num_queries(3 + tenancy_statements):
        assert client.get("/api/t/acme/photos/").status_code == 200


def _as_comparable(response):
    headers = {k: v for k, v in response.headers.items() if k != "X-Request-ID"}
    return response.status_code, json_body(response), headers


@pytest.mark.parametrize("method", ["get", "patch", "delete"])
def test_other_tenants_photo_and_a_missing_id_get_the_identical_404(world, api_client, photos, method):
    client = api_client(world.owner_a, world.acme, [S.PHOTOS_WRITE])
    foreign = getattr(client, method)(f"/api/t/acme/photos/{photos['b1'].pk}/", {}, format="json")
    missing = getattr(client, method)("/api/t/acme/photos/987654/", {}, format="json")
    assert foreign.status_code == 404
    assert _as_comparable(foreign) == _as_comparable(missing)
    assert Photo.all_tenants.filter(pk=photos["b1"].pk).exists()


def test_unknown_tenant_and_a_tenant_you_cannot_use_get_the_identical_404(world, api_client):
    client = api_client(world.member_a, world.acme, [S.PHOTOS_READ])
    assert _as_comparable(client.get("/api/t/globex/photos/")) == _as_comparable(
        client.get("/api/t/nope/photos/")
    )
    assert json_body(client.get("/api/t/nope/photos/")) == {
        "error": "not_found",
        "reason": "not_found",
        "detail": "Not found.",
    }


@pytest.mark.parametrize("bad_id", ["abc", "99999999999999999999", "-1", "1.5"])
def test_odd_ids_are_404(world, api_client, bad_id):
    client = api_client(world.owner_a, world.acme, [S.PHOTOS_READ])
    assert client.get(f"/api/t/acme/photos/{bad_id}/").status_code == 404


def test_inactive_tenant_is_404(world, api_client, photos):
    client = api_client(world.member_a, world.acme, [S.PHOTOS_READ])
    world.acme.is_active = False
    world.acme.save()
    assert client.get("/api/t/acme/photos/").status_code == 404


def test_role_lowered_applies_to_the_next_request(world, api_client, photos):
    client = api_client(world.admin_a, world.acme, [S.PHOTOS_DELETE])
    url = f"/api/t/acme/photos/{photos['m1'].pk}/"
    membership_set(actor=None, user=world.admin_a, tenant=world.acme, role=world.role(RoleName.MEMBER))
    assert client.delete(url).json()["reason"] == "not_owner"
    membership_set(actor=None, user=world.admin_a, tenant=world.acme, role=world.role(RoleName.GUEST))
    assert client.delete(url).json()["reason"] == "role_forbids"
    assert Photo.all_tenants.filter(pk=photos["m1"].pk).exists()


def test_membership_removed_applies_to_the_next_request(world, api_client, photos):
    client = api_client(world.member_a, world.acme, [S.PHOTOS_READ])
    assert client.get("/api/t/acme/photos/").status_code == 200
    membership_remove(actor=None, user=world.member_a, tenant=world.acme)
    assert client.get("/api/t/acme/photos/").status_code == 404


def test_scope_narrowed_applies_to_the_next_request(world, api_client, photos):
    client = api_client(world.member_a, world.acme, [S.PHOTOS_READ, S.PHOTOS_DELETE])
    assert client.get("/api/t/acme/photos/").status_code == 200
    # What the consent pages do on narrowing: rewrite the live token's scope.
    client.token.scope = S.PHOTOS_DELETE
    client.token.save(update_fields=["scope"])
    response = client.get("/api/t/acme/photos/")
    assert response.status_code == 403 and response.json()["reason"] == "scope_missing"
    assert response.headers["X-OAuth-Scopes"] == "photos.delete"


def test_role_grant_added_applies_to_the_next_request(world, api_client, photos):
    client = api_client(world.guest_a, world.acme, [S.PHOTOS_DELETE])
    url = f"/api/t/acme/photos/{photos['m1'].pk}/"
    assert client.delete(url).json()["reason"] == "role_forbids"
    RoleGrantFactory(role=world.role(RoleName.GUEST), scope_id=_scope_id(S.PHOTOS_DELETE), reach="tenant")
    assert client.delete(url).status_code == 204


def test_write_scope_satisfies_its_parts_and_headers_show_normalised_scopes(world, api_client, photos):
    client = api_client(world.member_a, world.acme, [S.PHOTOS_WRITE, S.PHOTOS_DELETE])
    response = client.delete(f"/api/t/acme/photos/{photos['a1'].pk}/")
    assert response.status_code == 204
    assert response.headers["X-OAuth-Scopes"] == "photos.write"
    assert response.headers["X-Accepted-OAuth-Scopes"] == "photos.delete photos.write"


def test_upload_ignores_tenant_and_owner_in_the_body(world, api_client):
    client = api_client(world.member_a, world.acme, [S.PHOTOS_UPLOAD])
    response = client.post(
        "/api/t/acme/photos/",
        {"image": upload(), "tenant": world.globex.pk, "owner": world.owner_a.pk},
        format="multipart",
    )
    assert response.status_code == 201
    photo = Photo.all_tenants.get(pk=response.json()["id"])
    assert (photo.tenant, photo.owner) == (world.acme, world.member_a)


def test_album_from_another_tenant_is_the_same_400_as_a_missing_album(world, api_client):
    client = api_client(world.member_a, world.acme, [S.PHOTOS_UPLOAD, S.ALBUMS_READ])
    foreign = AlbumFactory(tenant=world.globex, owner=world.member_b)
    answers = []
    for album_id in (foreign.pk, 987654):
        response = client.post(
            "/api/t/acme/photos/", {"image": upload(), "album": album_id}, format="multipart"
        )
        assert response.status_code == 400
        body = response.json()
        answers.append((body["reason"], body["fields"]["album"][0].replace(str(album_id), "<id>")))
    assert answers[0] == answers[1] == ("does_not_exist", "No such album.")
    assert not Photo.all_tenants.exists()


def test_patch_moves_a_photo_into_an_album_of_the_tenant_only(world, api_client, photos):
    client = api_client(world.member_a, world.acme, [S.PHOTOS_UPDATE, S.ALBUMS_READ])
    url = f"/api/t/acme/photos/{photos['a1'].pk}/"
    album = AlbumFactory(tenant=world.acme, owner=world.member_a)
    assert client.patch(url, {"album": album.pk}, format="json").json()["album"] == album.pk
    foreign = AlbumFactory(tenant=world.globex, owner=world.member_b)
    assert client.patch(url, {"album": foreign.pk}, format="json").status_code == 400
    assert client.patch(url, {"album": None}, format="json").json()["album"] is None


def test_image_endpoint_serves_the_bytes_with_the_recorded_type(world, api_client, photos):
    client = api_client(world.guest_a, world.acme, [S.PHOTOS_READ])
    response = client.get(f"/api/t/acme/photos/{photos['a1'].pk}/image")
    assert response.status_code == 200
    assert response["Content-Type"] == "image/png"
    assert b"".join(response.streaming_content).startswith(b"\x89PNG")


def test_me_says_who_what_role_and_what_is_allowed(world, api_client):
    client = api_client(world.member_a, world.acme, [S.PROFILE_READ, S.PHOTOS_WRITE])
    body = client.get("/api/t/acme/me/").json()
    assert body["user"]["username"] == "member_a"
    assert body["role"] == "Member"
    assert body["tenant"] == {"slug": "acme", "name": "Acme"}
    assert body["token_scopes"] == ["photos.write", "profile.read"]
    assert body["allowed"]["photos.delete"] == "own"
    assert body["allowed"]["photos.read"] == "tenant"
    assert body["allowed"]["albums.read"] is None  # the role allows it, the token does not


def test_put_is_405_and_post_on_detail_is_405(world, api_client, photos):
    client = api_client(world.owner_a, world.acme, [S.PHOTOS_WRITE])
    assert client.put(f"/api/t/acme/photos/{photos['a1'].pk}/", {}).status_code == 405
    assert client.post(f"/api/t/acme/photos/{photos['a1'].pk}/", {}).status_code == 405


@pytest.mark.parametrize("url", ["/api/t/acme/photos/", "/api/t/acme/photos/1/", "/api/t/acme/me/"])
def test_options_is_405_not_a_leak_or_a_500(world, api_client, url):
    client = api_client(world.member_a, world.acme, [S.PHOTOS_READ])
    assert client.options(url).status_code == 405
    assert api_client(world.member_b, world.globex, [S.PHOTOS_READ]).options(url).status_code == 404


def test_tenant_querysets_fail_closed_without_a_tenant():
    from accounts.querysets import TenantMissing

    with pytest.raises(TenantMissing):
        Photo.objects.for_tenant(None)


def test_the_base_viewset_refuses_to_build_a_queryset_before_authorization(db):
    from accounts.querysets import TenantMissing
    from photos.api.views import PhotoViewSet

    with pytest.raises(TenantMissing):
        PhotoViewSet().get_queryset()
