"""A token from the real consent flow, used on the real API: consent, role and revocation agree."""

import pytest
from rest_framework.test import APIClient

from accounts.constants import RoleName
from scopes.models import Consent
from scopes.roles.services import membership_set
from tests.factories import PhotoFactory
from tests.oauth import Flow

pytestmark = pytest.mark.django_db


def _token(browser, app, scope) -> dict:
    flow = Flow(browser, app.client_id, scope)
    return flow.exchange(flow.authorize()).json()


def _api(access_token: str) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {access_token}")
    return client


def test_flow_token_works_on_the_api_and_consent_changes_apply_at_once(world, gallery, browser_of):
    mine = PhotoFactory(tenant=world.acme, owner=world.member_a)
    theirs = PhotoFactory(tenant=world.acme, owner=world.member2_a)
    browser = browser_of(world.member_a)
    token = _token(browser, gallery, "photos.read photos.delete")
    api = _api(token["access_token"])

    listing = api.get("/api/t/acme/photos/")
    assert listing.status_code == 200
    assert listing["X-OAuth-Scopes"] == "photos.delete photos.read"
    assert {p["id"] for p in listing.json()["results"]} == {mine.pk, theirs.pk}

    refused = api.delete(f"/api/t/acme/photos/{theirs.pk}/")
    assert refused.status_code == 403 and refused.json()["reason"] == "not_owner"

    # The token is bound to acme: globex answers exactly like an unknown tenant.
    assert api.get("/api/t/globex/photos/").status_code == 404

    consent = Consent.objects.get(user=world.member_a)
    browser.post(f"/account/apps/{consent.pk}/remove-scopes/", {"scope": ["photos.delete"]})
    narrowed = api.delete(f"/api/t/acme/photos/{mine.pk}/")
    assert narrowed.status_code == 403
    assert narrowed.json()["reason"] == "scope_missing"
    assert 'error="insufficient_scope"' in narrowed["WWW-Authenticate"]
    assert api.get("/api/t/acme/photos/").status_code == 200

    browser.post(f"/account/apps/{consent.pk}/revoke/")
    gone = api.get("/api/t/acme/photos/")
    assert gone.status_code == 401 and 'error="invalid_token"' in gone["WWW-Authenticate"]


def test_role_lowered_after_consent_applies_to_the_next_request(world, gallery, browser_of):
    photo = PhotoFactory(tenant=world.acme, owner=world.member2_a)
    token = _token(browser_of(world.admin_a), gallery, "photos.write")
    api = _api(token["access_token"])
    membership_set(
        actor=world.owner_a, user=world.admin_a, tenant=world.acme, role=world.role(RoleName.GUEST)
    )
    response = api.delete(f"/api/t/acme/photos/{photo.pk}/")
    assert response.status_code == 403 and response.json()["reason"] == "role_forbids"
    assert api.get(f"/api/t/acme/photos/{photo.pk}/").status_code == 200
