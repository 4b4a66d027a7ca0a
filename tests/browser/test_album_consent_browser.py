"""Per-album grants in a real browser (RFC 9396): the Member picks albums; the token stays inside them."""

from __future__ import annotations

import json

import pytest
import requests
from playwright.sync_api import expect

from tests.answers import json_body
from tests.browser.conftest import screenshot, sign_in
from tests.factories import AlbumFactory, PhotoFactory
from tests.images import image_bytes
from tests.oauth import REDIRECT_URI, authorize_url, exchange_code, pkce_pair

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def gallery(world):
    from scopes.constants import ScopeName
    from scopes.models import ApplicationScope, Scope

    for scope in Scope.objects.filter(name__in=[str(n) for n in ScopeName]):
        ApplicationScope.objects.create(application=world.app, scope=scope, reason=f"to use {scope.name}")
    world.app.redirect_uris = REDIRECT_URI
    world.app.save()
    return world.app


def test_member_picks_albums_and_the_token_stays_inside_them(live_server, world, gallery, page):
    # Acme's albums: the Member's own, a colleague's, and a third the Member will not pick; and an
    # album of another tenant, which the Member cannot see. (With the seeded roles a Member sees
    # every album of its tenant; an album hidden by the role's reach is tests/scopes/consent/test_album_consent.py.)
    own = AlbumFactory(tenant=world.acme, owner=world.member_a, name="Holidays")
    colleague = AlbumFactory(tenant=world.acme, owner=world.member2_a, name="Team offsite")
    AlbumFactory(tenant=world.acme, owner=world.admin_a, name="Board")
    AlbumFactory(tenant=world.globex, owner=world.member_b, name="Globex album")
    in_own = PhotoFactory(tenant=world.acme, owner=world.member2_a, album=own)
    in_colleague = PhotoFactory(tenant=world.acme, owner=world.member2_a, album=colleague)
    browser, callback = page
    verifier, challenge = pkce_pair()
    details = json.dumps([{"type": "album", "actions": ["photos.read", "photos.upload", "albums.write"]}])
    browser.goto(
        authorize_url(
            live_server.url,
            gallery.client_id,
            "photos.read photos.upload albums.read albums.write",
            challenge,
            authorization_details=details,
        )
    )
    sign_in(browser, "member_a")
    expect(browser.get_by_role("group", name="Choose the albums it may reach")).to_be_visible()
    expect(browser.get_by_label("Holidays")).to_be_enabled()
    expect(browser.get_by_label("Team offsite")).to_be_enabled()
    expect(browser.get_by_label("Board")).to_be_enabled()
    # What the role cannot do on an album is said on that album.
    expect(browser.locator("li", has_text="Team offsite").locator(".why")).to_contain_text(
        "albums.write: Your role Member in Acme allows albums.write only on objects you own."
    )
    expect(browser.get_by_text("Globex album")).to_have_count(0)
    browser.get_by_label("Holidays").check()
    screenshot(browser, "consent-member-albums")
    browser.get_by_role("button", name="Allow").click()
    browser.wait_for_url(REDIRECT_URI + "**")
    token = exchange_code(live_server.url, gallery.client_id, callback.url, verifier)
    assert token["authorization_details"] == [
        {
            "type": "album",
            "actions": ["albums.write", "photos.read", "photos.upload"],
            "identifiers": [str(own.pk)],
        }
    ]
    api = f"{live_server.url}/api/t/acme"
    auth = {"Authorization": f"Bearer {token['access_token']}"}
    listed = requests.get(f"{api}/photos/", headers=auth, timeout=10).json()
    assert [row["id"] for row in listed["results"]] == [in_own.pk]
    albums = requests.get(f"{api}/albums/", headers=auth, timeout=10).json()
    assert [row["id"] for row in albums["results"]] == [own.pk]
    uploaded = requests.post(
        f"{api}/photos/",
        headers=auth,
        files={"image": ("cat.png", image_bytes(), "image/png")},
        data={"album": str(own.pk)},
        timeout=10,
    )
    assert uploaded.status_code == 201 and uploaded.json()["album"] == own.pk
    elsewhere_upload = requests.post(
        f"{api}/photos/",
        headers=auth,
        files={"image": ("cat.png", image_bytes(), "image/png")},
        data={"album": str(colleague.pk)},
        timeout=10,
    )
    assert elsewhere_upload.status_code == 400
    other = requests.get(f"{api}/photos/{in_colleague.pk}/", headers=auth, timeout=10)
    missing = requests.get(f"{api}/photos/987654/", headers=auth, timeout=10)
    assert other.status_code == missing.status_code == 404 and json_body(other) == json_body(missing)
    created = requests.post(f"{api}/albums/", headers=auth, json={"name": "New"}, timeout=10)
    assert created.status_code == 403 and created.json()["reason"] == "resource_not_granted"
