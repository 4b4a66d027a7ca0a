"""Connected apps: the user sees what they granted and takes it back, effective on live tokens at once."""

import hashlib

import pytest

from accounts import background
from scopes.models import AccessToken, Consent, RefreshToken
from tests.oauth import Flow, refresh

pytestmark = pytest.mark.django_db


def _grant(browser, app, scope):
    flow = Flow(browser, app.client_id, scope)
    return flow.exchange(flow.authorize()).json()


def _row(raw: str) -> AccessToken | None:
    return AccessToken.objects.filter(token_checksum=hashlib.sha256(raw.encode()).hexdigest()).first()


def test_page_lists_grants_per_tenant(world, gallery, browser_of):
    browser = browser_of(world.member_a)
    _grant(browser, gallery, "photos.read albums.read")
    page = browser.get("/account/apps/")
    body = page.content.decode()
    assert page.status_code == 200
    assert "In Acme" in body and "Test Gallery" in body
    assert "See the photos in this organisation." in body
    assert page["X-Frame-Options"] == "DENY"
    assert "csrfmiddlewaretoken" in body


def test_removing_one_scope_narrows_every_live_token_now(world, gallery, browser_of):
    browser = browser_of(world.member_a)
    first = _grant(browser, gallery, "photos.read albums.read offline_access")
    consent = Consent.objects.get()
    response = browser.post(f"/account/apps/{consent.pk}/remove-scopes/", {"scope": ["albums.read"]})
    assert response.status_code == 302
    assert {s.name for s in consent.scopes.all()} == {"photos.read", "offline_access"}
    assert _row(first["access_token"]).scope == "offline_access photos.read"
    renewed = refresh(gallery.client_id, first["refresh_token"]).json()
    assert renewed["scope"] == "offline_access photos.read"


def test_removing_offline_access_kills_refresh_tokens(world, gallery, browser_of):
    browser = browser_of(world.member_a)
    first = _grant(browser, gallery, "photos.read offline_access")
    consent = Consent.objects.get()
    browser.post(f"/account/apps/{consent.pk}/remove-scopes/", {"scope": ["offline_access"]})
    assert _row(first["access_token"]).scope == "photos.read"
    assert refresh(gallery.client_id, first["refresh_token"]).status_code == 400


def test_composite_token_is_split_when_a_part_is_removed(world, gallery, browser_of):
    browser = browser_of(world.admin_a)
    first = _grant(browser, gallery, "photos.write")
    consent = Consent.objects.get()
    browser.post(f"/account/apps/{consent.pk}/remove-scopes/", {"scope": ["photos.write"]})
    # The consent held only photos.write: removing it revokes the whole grant.
    assert not Consent.objects.exists()
    assert _row(first["access_token"]) is None


def test_revoking_the_app_kills_access_and_refresh_tokens(world, gallery, browser_of):
    browser = browser_of(world.member_a)
    first = _grant(browser, gallery, "photos.read offline_access")
    consent = Consent.objects.get()
    assert browser.post(f"/account/apps/{consent.pk}/revoke/").status_code == 302
    assert not Consent.objects.exists()
    assert _row(first["access_token"]) is None
    assert RefreshToken.objects.filter(revoked__isnull=True).count() == 0
    assert refresh(gallery.client_id, first["refresh_token"]).status_code == 400
    # The next authorization asks again.
    assert Flow(browser, gallery.client_id, "photos.read").start().status_code == 200


def test_someone_elses_consent_is_not_found(world, gallery, browser_of):
    _grant(browser_of(world.member_a), gallery, "photos.read")
    consent = Consent.objects.get()
    intruder = browser_of(world.admin_a)
    assert intruder.post(f"/account/apps/{consent.pk}/revoke/").status_code == 404
    assert (
        intruder.post(f"/account/apps/{consent.pk}/remove-scopes/", {"scope": ["photos.read"]}).status_code
        == 404
    )
    assert intruder.post("/account/apps/999999/revoke/").status_code == 404
    assert Consent.objects.get().scopes.count() == 1


def test_get_does_not_revoke_and_pages_need_sign_in(world, gallery, browser_of, client):
    browser = browser_of(world.member_a)
    _grant(browser, gallery, "photos.read")
    consent = Consent.objects.get()
    assert browser.get(f"/account/apps/{consent.pk}/revoke/").status_code == 405
    assert client.get("/account/apps/").status_code == 302
    assert client.post(f"/account/apps/{consent.pk}/revoke/").status_code == 302
    assert Consent.objects.exists()


def test_each_scope_shows_its_last_use_and_only_the_users_own(world, gallery, browser_of, api_client):
    from datetime import timedelta

    from django.utils import timezone

    from scopes.usage.models import ScopeUsage

    browser = browser_of(world.member_a)
    token = _grant(browser, gallery, "photos.read albums.read")["access_token"]
    client = api_client(world.member2_a, world.acme, ["albums.read"], application=gallery)
    client.get("/api/t/acme/albums/")  # another user's use of albums.read is not member_a's
    from rest_framework.test import APIClient

    mine = APIClient()
    mine.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
    assert mine.get("/api/t/acme/photos/").status_code == 200
    background.flush()
    ScopeUsage.objects.filter(user=world.member_a).update(last_used=timezone.now().date() - timedelta(days=3))
    body = browser.get("/account/apps/").content.decode()
    day = (timezone.now().date() - timedelta(days=3)).strftime("%-d %b %Y")
    assert f'data-last-use="photos.read">last used {day}' in body
    assert 'data-last-use="albums.read">never used' in body
