"""Issue 24, item 1: an album-limited grant never silently becomes unlimited.

The second audit's attack: a user allows an app one album, the album is then removed from the
grant on /account/apps/ (or deleted by its owner through the API), and the app sends a plain
`prompt=none` request with no `authorization_details`. Album limits were inferred from album rows
existing, so the request got a code for every album. A limit is now the consent's explicit state
(`Consent.albums_limited`): one whose albums are all gone reaches nothing, a plain request shows
the page again (and `prompt=none` answers `consent_required`), and every credential of the grant,
whenever it was issued, stays within the consent's albums (refresh and introspection included).
"""

from __future__ import annotations

import base64

import pytest
from django.test import Client

from scopes.models import AccessToken, Application, Consent, ConsentAlbum, Grant
from tests.albums import details
from tests.factories import AlbumFactory, ApplicationFactory, PhotoFactory
from tests.oauth import Flow, refresh

pytestmark = [pytest.mark.django_db, pytest.mark.attack]

SCOPE = "photos.read albums.read offline_access"


@pytest.fixture
def place(world):
    """Acme: album 22 of the audit (the owner's), another album, a photo in each."""
    granted = AlbumFactory(tenant=world.acme, owner=world.owner_a, name="Granted")
    other = AlbumFactory(tenant=world.acme, owner=world.owner_a, name="Never granted")
    return {
        "granted": granted,
        "other": other,
        "in_granted": PhotoFactory(tenant=world.acme, owner=world.owner_a, album=granted),
        "in_other": PhotoFactory(tenant=world.acme, owner=world.owner_a, album=other),
    }


def album_grant(world, gallery, browser, album) -> dict:
    """The member allows the app one album on the consent page; the token response."""
    flow = Flow(
        browser,
        gallery.client_id,
        SCOPE,
        extra={"authorization_details": details(["photos.read", "albums.read"], [album.pk])},
    )
    response = flow.exchange(flow.consent(flow.start(), albums=[album.pk]))
    assert response.status_code == 200, response.content
    return response.json()


def silent_plain_request(world, gallery, browser):
    """The audit's request: no authorization_details, prompt=none."""
    return Flow(browser, gallery.client_id, "photos.read", extra={"prompt": "none"}).start()


def photo_ids(access_token: str) -> set[int]:
    response = Client().get("/api/t/acme/photos/", HTTP_AUTHORIZATION=f"Bearer {access_token}")
    assert response.status_code == 200, response.content
    return {row["id"] for row in response.json()["results"]}


def introspect(access_token: str) -> dict:
    server = ApplicationFactory(
        client_type=Application.CLIENT_CONFIDENTIAL,
        client_secret="s3cret",
        is_resource_server=True,
        tenant=None,
    )
    basic = base64.b64encode(f"{server.client_id}:s3cret".encode()).decode()
    response = Client().post("/o/introspect/", {"token": access_token}, HTTP_AUTHORIZATION=f"Basic {basic}")
    assert response.status_code == 200
    return response.json()


def consent_required(response) -> None:
    params = Flow.redirect_params(response)
    assert params["error"] == "consent_required" and "code" not in params, params


def test_album_removed_on_connected_apps_then_prompt_none_gets_no_code(
    world, gallery, browser_of, place, unchanged
):
    browser = browser_of(world.member_a)
    album_grant(world, gallery, browser, place["granted"])
    consent = Consent.objects.get(user=world.member_a, application=gallery)
    removed = browser.post(f"/account/apps/{consent.pk}/remove-album/", {"album": place["granted"].pk})
    assert removed.status_code == 302
    assert not ConsentAlbum.all_tenants.filter(consent=consent).exists()

    with unchanged():  # no code, no consent change
        consent_required(silent_plain_request(world, gallery, browser))
    # Without prompt=none the page asks, and says the request would reach every album.
    page = Flow(browser, gallery.client_id, "photos.read").start()
    assert page.status_code == 200
    assert "lets it reach every album your role reaches" in page.content.decode()


def test_album_deleted_by_its_owner_then_prompt_none_gets_no_code(
    world, gallery, browser_of, place, api_client, unchanged
):
    browser = browser_of(world.member_a)
    album_grant(world, gallery, browser, place["granted"])
    owner = api_client(world.owner_a, world.acme, ["albums.write"])
    assert owner.delete(f"/api/t/acme/albums/{place['granted'].pk}/").status_code == 204

    with unchanged():
        consent_required(silent_plain_request(world, gallery, browser))
    assert Consent.objects.get(user=world.member_a, application=gallery).albums_limited


def test_a_limit_that_became_empty_stays_empty_through_refresh_and_introspection(
    world, gallery, browser_of, place, api_client
):
    browser = browser_of(world.member_a)
    tokens = album_grant(world, gallery, browser, place["granted"])
    owner = api_client(world.owner_a, world.acme, ["albums.write"])
    assert owner.delete(f"/api/t/acme/albums/{place['granted'].pk}/").status_code == 204

    assert photo_ids(tokens["access_token"]) == set()
    assert introspect(tokens["access_token"])["authorization_details"][0]["identifiers"] == []
    refreshed = refresh(gallery.client_id, tokens["refresh_token"])
    assert refreshed.status_code == 200, refreshed.content
    body = refreshed.json()
    assert body["authorization_details"][0]["identifiers"] == []
    assert photo_ids(body["access_token"]) == set()


def test_a_credential_issued_before_the_consent_was_limited_is_held_to_it(world, gallery, browser_of, place):
    """The consent caps every credential of its grant, as it caps scopes: an unlimited code and
    refresh token issued before the user limited the app to albums do not reach beyond them."""
    browser = browser_of(world.member_a)
    plain = Flow(browser, gallery.client_id, SCOPE)
    unexchanged_code = Flow(browser, gallery.client_id, SCOPE)
    early = plain.exchange(plain.authorize()).json()  # no album limit: every album
    code_response = unexchanged_code.start()  # remembered consent answers with a code at once
    assert "authorization_details" not in early
    assert photo_ids(early["access_token"]) == {place["in_granted"].pk, place["in_other"].pk}

    album_grant(world, gallery, browser, place["granted"])  # the user now limits the app to one album
    assert photo_ids(early["access_token"]) == {place["in_granted"].pk}
    assert introspect(early["access_token"])["authorization_details"][0]["identifiers"] == [
        str(place["granted"].pk)
    ]
    refreshed = refresh(gallery.client_id, early["refresh_token"]).json()
    assert refreshed["authorization_details"][0]["identifiers"] == [str(place["granted"].pk)]
    late = unexchanged_code.exchange(code_response).json()
    assert late["authorization_details"][0]["identifiers"] == [str(place["granted"].pk)]
    assert AccessToken.objects.latest("pk").albums == str(place["granted"].pk)  # stored, not only said

    consent = Consent.objects.get(user=world.member_a, application=gallery)
    browser.post(f"/account/apps/{consent.pk}/remove-album/", {"album": place["granted"].pk})
    assert photo_ids(refreshed["access_token"]) == set()  # an empty limit reaches nothing
    assert photo_ids(late["access_token"]) == set()


def test_only_approving_the_page_that_says_every_album_lifts_the_limit(world, gallery, browser_of, place):
    browser = browser_of(world.member_a)
    album_grant(world, gallery, browser, place["granted"])
    plain = Flow(browser, gallery.client_id, SCOPE)
    page = plain.start()
    assert "lets it reach every album your role reaches" in page.content.decode()
    tokens = plain.exchange(plain.consent(page)).json()
    assert "authorization_details" not in tokens
    assert photo_ids(tokens["access_token"]) == {place["in_granted"].pk, place["in_other"].pk}
    consent = Consent.objects.get(user=world.member_a, application=gallery)
    assert not consent.albums_limited
    assert not ConsentAlbum.all_tenants.filter(consent=consent).exists()
    assert Grant.objects.filter(albums__isnull=True).exists()


def test_the_limit_set_by_raw_sql_reaches_a_cached_token_at_its_next_request(world, api_client, place):
    """The flag is read by the standing, so the consent's row version covers it: no signal, no
    service, and the per-process cache still cannot serve the unlimited context it held."""
    from django.db import connection

    client = api_client(world.member_a, world.acme, ["photos.read"])
    every = {place["in_granted"].pk, place["in_other"].pk}
    for _ in range(2):  # the second answer comes from the cached context
        assert {row["id"] for row in client.get("/api/t/acme/photos/").json()["results"]} == every
    consent = Consent.objects.get(user=world.member_a, application=client.token.application)
    with connection.cursor() as cursor:
        cursor.execute("UPDATE scopes_consent SET albums_limited = %s WHERE id = %s", [True, consent.pk])
    assert client.get("/api/t/acme/photos/").json()["results"] == []  # limited, to no album
