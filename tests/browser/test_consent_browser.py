"""What end users do in a real browser: consent line by line, see why, and take a scope back."""

from __future__ import annotations

import hashlib
import os

import pytest
from playwright.sync_api import expect

from scopes.constants import ScopeName
from scopes.models import AccessToken, ApplicationScope, Scope
from tests.browser.conftest import screenshot, sign_in
from tests.oauth import REDIRECT_URI, authorize_url, exchange_code, pkce_pair

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def gallery(world):
    for scope in Scope.objects.filter(name__in=[str(n) for n in ScopeName]):
        ApplicationScope.objects.create(application=world.app, scope=scope, reason=f"to use {scope.name}")
    world.app.redirect_uris = REDIRECT_URI
    world.app.save()
    return world.app


def test_member_unticks_a_scope_and_approves(live_server, world, gallery, page):
    browser, callback = page
    verifier, challenge = pkce_pair()
    browser.goto(
        authorize_url(live_server.url, gallery.client_id, "photos.read photos.upload albums.read", challenge)
    )
    sign_in(browser, "member_a")
    expect(browser.get_by_role("heading", level=1)).to_contain_text("Test Gallery")
    upload = browser.get_by_label("Upload new photos.")
    expect(upload).to_be_checked()
    upload.uncheck()
    screenshot(browser, "consent-member-unticked")
    browser.get_by_role("button", name="Allow").click()
    browser.wait_for_url(REDIRECT_URI + "**")
    assert callback.url and "code=" in callback.url and "state=xyz" in callback.url
    token = exchange_code(live_server.url, gallery.client_id, callback.url, verifier)
    assert token["scope"] == "albums.read photos.read"


def test_guest_sees_delete_unavailable_with_the_reason(live_server, world, gallery, page):
    browser, _ = page
    _verifier, challenge = pkce_pair()
    browser.goto(authorize_url(live_server.url, gallery.client_id, "photos.read photos.delete", challenge))
    sign_in(browser, "guest_a")
    expect(browser.get_by_text("Your role Guest in Acme does not allow this: delete photos.")).to_be_visible()
    expect(browser.get_by_role("checkbox")).to_have_count(1)  # only photos.read is offered
    screenshot(browser, "consent-guest-unavailable")


def test_user_removes_one_scope_on_connected_apps_and_the_token_loses_it(live_server, world, gallery, page):
    browser, callback = page
    verifier, challenge = pkce_pair()
    browser.goto(authorize_url(live_server.url, gallery.client_id, "photos.read albums.read", challenge))
    sign_in(browser, "member_a")
    browser.get_by_role("button", name="Allow").click()
    browser.wait_for_url(REDIRECT_URI + "**")
    token = exchange_code(live_server.url, gallery.client_id, callback.url, verifier)
    assert token["scope"] == "albums.read photos.read"

    browser.goto(f"{live_server.url}/account/apps/")
    expect(browser.get_by_role("heading", name="Test Gallery")).to_be_visible()
    screenshot(browser, "connected-apps")
    # A tick means "allowed", as on the consent page: untick to take back.
    expect(browser.get_by_label("See the photos in this organisation.")).to_be_checked()
    browser.get_by_label("See the albums in this organisation.").uncheck()
    browser.get_by_role("button", name="Save: take back what is unticked").click()
    expect(browser.get_by_label("See the albums in this organisation.")).to_have_count(0)
    checksum = hashlib.sha256(token["access_token"].encode()).hexdigest()
    assert AccessToken.objects.get(token_checksum=checksum).scope == "photos.read"


def test_requests_oauthlib_completes_code_pkce_and_refresh(live_server, world, gallery, page, monkeypatch):
    from requests_oauthlib import OAuth2Session

    monkeypatch.setenv("OAUTHLIB_INSECURE_TRANSPORT", "1")  # the live server speaks plain HTTP on loopback
    browser, callback = page
    session = OAuth2Session(
        gallery.client_id, redirect_uri=REDIRECT_URI, scope=["photos.read", "offline_access"], pkce="S256"
    )
    url, _state = session.authorization_url(f"{live_server.url}/o/authorize/")
    browser.goto(url)
    sign_in(browser, "member_a")
    browser.get_by_role("button", name="Allow").click()
    browser.wait_for_url(REDIRECT_URI + "**")
    token = session.fetch_token(
        f"{live_server.url}/o/token/", authorization_response=callback.url, include_client_id=True
    )
    assert token["scope"] == ["offline_access", "photos.read"]
    assert token["refresh_token"]
    refreshed = session.refresh_token(f"{live_server.url}/o/token/", client_id=gallery.client_id)
    assert refreshed["access_token"] != token["access_token"]
    assert refreshed["refresh_token"] != token["refresh_token"]
    assert os.environ["OAUTHLIB_INSECURE_TRANSPORT"] == "1"
