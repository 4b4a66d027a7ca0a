"""Revocation (RFC 7009), introspection (RFC 7662) and server metadata (RFC 8414)."""

import time

import pytest
from django.test import Client

from scopes.models import AccessToken
from tests.factories import ApplicationFactory
from tests.oauth import RS_SECRET, Flow, refresh

pytestmark = pytest.mark.django_db

# `resource_server` (the photo API, which may introspect) is the shared world's (tests/conftest.py).


def _introspect(token: str, *, auth=("photo-api", RS_SECRET)):
    import base64

    headers = {}
    if auth:
        headers["HTTP_AUTHORIZATION"] = "Basic " + base64.b64encode(f"{auth[0]}:{auth[1]}".encode()).decode()
    return Client().post("/o/introspect/", {"token": token}, **headers)


def _grant(world, gallery, browser_of, scope="photos.write albums.read offline_access", user=None):
    flow = Flow(browser_of(user or world.admin_a), gallery.client_id, scope)
    return flow.exchange(flow.authorize()).json()


def test_introspection_of_an_active_token(world, gallery, browser_of, resource_server):
    token = _grant(world, gallery, browser_of)
    data = _introspect(token["access_token"]).json()
    assert data.pop("exp") > 0
    # How and when the user signed in (RFC 9470 section 6.2): a password, at the browser's sign-in.
    assert abs(data.pop("auth_time") - time.time()) < 60
    assert data == {
        "acr": "password",
        "amr": ["pwd"],
        "active": True,
        "scope": "albums.read offline_access photos.write",
        "client_id": gallery.client_id,
        "token_kind": "consent",
        "username": "admin_a",
        "tenant": "acme",
        "token_type": "Bearer",
    }


def test_introspection_of_anything_else_is_exactly_inactive(world, gallery, browser_of, resource_server):
    token = _grant(world, gallery, browser_of)
    assert _introspect("no-such-token").json() == {"active": False}
    assert _introspect(token["refresh_token"]).json() == {"active": False}
    world.acme.is_active = False
    world.acme.save()
    assert _introspect(token["access_token"]).json() == {"active": False}
    world.acme.is_active = True
    world.acme.save()
    AccessToken.objects.update(expires="2000-01-01T00:00Z")
    assert _introspect(token["access_token"]).json() == {"active": False}


def test_introspection_requires_a_confidential_client(world, gallery, browser_of, resource_server):
    token = _grant(world, gallery, browser_of)
    assert _introspect(token["access_token"], auth=None).status_code == 401
    assert _introspect(token["access_token"], auth=("photo-api", "wrong")).status_code == 401
    # A public client (no secret) cannot introspect.
    public = Client().post("/o/introspect/", {"token": token["access_token"], "client_id": gallery.client_id})
    assert public.status_code == 401


def test_revocation_of_access_and_refresh_tokens(world, gallery, browser_of):
    token = _grant(world, gallery, browser_of)
    response = Client().post(
        "/o/revoke_token/", {"token": token["access_token"], "client_id": gallery.client_id}
    )
    assert response.status_code == 200
    assert not AccessToken.objects.exists()
    token = _grant(world, gallery, browser_of, user=world.admin_a)
    Client().post(
        "/o/revoke_token/",
        {"token": token["refresh_token"], "token_type_hint": "refresh_token", "client_id": gallery.client_id},
    )
    assert refresh(gallery.client_id, token["refresh_token"]).status_code == 400


def test_another_client_cannot_revoke_a_token(world, gallery, browser_of):
    other = ApplicationFactory(name="Other", client_id="other-client")
    token = _grant(world, gallery, browser_of)
    Client().post("/o/revoke_token/", {"token": token["access_token"], "client_id": other.client_id})
    assert AccessToken.objects.count() == 1


def test_server_metadata(world, gallery):
    data = Client().get("/.well-known/oauth-authorization-server").json()
    assert data["authorization_endpoint"].endswith("/o/authorize/")
    assert data["token_endpoint"].endswith("/o/token/")
    assert data["revocation_endpoint"].endswith("/o/revoke_token/")
    assert data["introspection_endpoint"].endswith("/o/introspect/")
    assert data["code_challenge_methods_supported"] == ["S256"]
    assert "photos.delete" in data["scopes_supported"] and "offline_access" in data["scopes_supported"]
    assert data["scope_implications"] == {
        "albums.write": ["albums.read"],
        "photos.write": ["photos.delete", "photos.read", "photos.update", "photos.upload"],
    }
    assert data["grant_types_supported"] == [
        "authorization_code",
        "refresh_token",
        "urn:ietf:params:oauth:grant-type:device_code",
        "client_credentials",
    ]


def test_dot_management_urls_are_not_mounted(world, browser_of):
    browser = browser_of(world.member_a)
    assert browser.get("/o/applications/").status_code == 404
    assert browser.get("/o/applications/register/").status_code == 404


def test_sign_in_page_and_sign_out(world, client):
    page = client.get("/account/login/")
    assert page.status_code == 200 and b'<label for="id_username">' in page.content
    bad = client.post("/account/login/", {"username": "member_a", "password": "nope"})
    assert b"didn't match" in bad.content
    good = client.post("/account/login/", {"username": "member_a", "password": "pw"})
    assert good.status_code == 302
    out = client.post("/account/logout/")
    assert out.status_code == 302 and out["Location"] == "/account/login/"
    assert client.get("/account/apps/").status_code == 302


def test_revocation_endpoint_writes_an_audit_row(world, gallery, browser_of):
    from accounts.constants import AuditAction
    from accounts.models import AuditEvent

    token = _grant(world, gallery, browser_of)
    Client().post("/o/revoke_token/", {"token": token["access_token"], "client_id": gallery.client_id})
    event = AuditEvent.objects.get(action=AuditAction.TOKEN_REVOKED)
    assert event.tenant == world.acme
    assert event.before["via"] == f"revocation endpoint, client {gallery.client_id}"
    assert event.before["user"] == "admin_a"


def test_the_token_endpoint_keeps_client_secrets_and_passwords_out_of_error_reports(world, gallery):
    """DOT marks them sensitive on its token response; the product's override of it does too."""
    from django.test import RequestFactory

    from scopes.oauth.views import TokenView

    request = RequestFactory().post(
        "/o/token/",
        {"grant_type": "client_credentials", "client_id": gallery.client_id, "client_secret": "s"},
    )
    TokenView().authorization_flow_token_response(request)
    assert set(request.sensitive_post_parameters) == {"password", "client_secret"}
