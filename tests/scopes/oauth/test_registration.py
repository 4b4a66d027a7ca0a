"""RFC 7591 dynamic client registration (scopes.oauth.registration): open, rate limited, held to a
self-registered client's rules, and refused in every tenant that has not allowed it."""

from __future__ import annotations

import html as html_lib
import json
from datetime import timedelta
from typing import Any

import pytest
from django.core.management import call_command
from django.test import Client
from django.utils import timezone
from rest_framework.test import APIClient

from accounts.models import AuditEvent
from scopes.access.applications import app_scopes
from scopes.access.policy import AppPolicyMode, AppStatus
from scopes.models import Application
from scopes.tenant_policy import services
from scopes.tenant_policy.models import TenantAppPolicy
from tests.oauth import REDIRECT_URI, Flow

pytestmark = pytest.mark.django_db

READ = "photos.read"


def metadata(**changes: Any) -> dict[str, Any]:
    return {
        "client_name": "Command-line agent",
        "redirect_uris": [REDIRECT_URI],
        "grant_types": ["authorization_code", "refresh_token"],
        "token_endpoint_auth_method": "none",
        "scope": f"{READ} albums.read tenant.admin",
        **changes,
    }


def register(body: Any, *, content_type: str = "application/json", address: str = "203.0.113.9"):
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    return Client().post("/o/register/", raw, content_type=content_type, REMOTE_ADDR=address)


def browser(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def allow_dynamic(world, tenant=None) -> None:
    services.app_policy_set(
        actor=world.owner_a, tenant=tenant or world.acme, mode=AppPolicyMode.ANY, dynamic_clients=True
    )


def test_a_client_registers_and_is_used_where_the_tenant_allows_dynamic_registration(world):
    response = register(metadata())
    assert response.status_code == 201 and response["Cache-Control"] == "no-store"
    body = response.json()
    app = Application.objects.get(client_id=body["client_id"])
    assert (app.registration_source, app.client_type, app.authorization_grant_type, app.tenant) == (
        "dcr",
        "public",
        "authorization-code",
        None,
    )
    assert set(app_scopes(app)) == {READ, "albums.read"} == set(body["scope"].split())
    assert body["token_endpoint_auth_method"] == "none" and "client_secret" not in body
    assert "registration_access_token" not in body  # RFC 7592 is not offered
    created = AuditEvent.objects.filter(action="application.created").get()
    assert created.actor is None and created.after["registration_source"] == "dcr"
    allow_dynamic(world)
    flow = Flow(browser(world.member_a), app.client_id, READ)
    page = flow.start()
    assert "not verified by Acme" in html_lib.unescape(page.content.decode())
    tokens = flow.exchange(flow.consent(page)).json()
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Bearer {tokens['access_token']}")
    assert api.get("/api/t/acme/photos/").status_code == 200
    # The tenant turns it off again: the live token is refused at its next request.
    services.app_policy_set(
        actor=world.owner_a, tenant=world.acme, mode=AppPolicyMode.ANY, dynamic_clients=False
    )
    response = api.get("/api/t/acme/photos/")
    assert response.status_code == 401 and "blocked by Acme's app policy" in response.json()["detail"]


def test_by_default_a_tenant_refuses_it_until_its_administrators_approve_that_app(world):
    app = Application.objects.get(client_id=register(metadata()).json()["client_id"])
    member = browser(world.member_a)
    page = html_lib.unescape(Flow(member, app.client_id, READ).start().content.decode())
    assert "registered itself by dynamic registration" in page and "You can ask them" in page
    assert TenantAppPolicy.all_tenants.filter(dynamic_clients=True).count() == 0
    services.tenant_app_set(
        actor=world.owner_a, tenant=world.acme, application=app, status=AppStatus.APPROVED
    )
    flow = Flow(member, app.client_id, READ)
    assert flow.exchange(flow.authorize()).status_code == 200


def test_the_metadata_names_the_registration_endpoint(world, settings):
    document = Client().get("/.well-known/oauth-authorization-server").json()
    assert document["registration_endpoint"] == "http://testserver/o/register/"
    settings.DYNAMIC_REGISTRATION_ENABLED = False
    assert "registration_endpoint" not in Client().get("/.well-known/oauth-authorization-server").json()
    assert register(metadata()).status_code == 404


def test_administrators_allow_it_on_the_organisation_page_audited(world):
    owner = browser(world.owner_a)
    assert (
        owner.post("/account/org/acme/policy/", {"mode": "any", "dynamic_clients": "on"}).status_code == 302
    )
    assert TenantAppPolicy.all_tenants.get(tenant=world.acme).dynamic_clients
    event = AuditEvent.objects.filter(action="app_policy.changed").latest("pk")
    assert (event.before, event.after) == ({"dynamic_clients": False}, {"dynamic_clients": True})
    assert 'name="dynamic_clients" checked' in owner.get("/account/org/acme/").content.decode()


def test_unused_registrations_expire_and_used_ones_stay(world):
    unused = Application.objects.get(client_id=register(metadata()).json()["client_id"])
    used = Application.objects.get(client_id=register(metadata(), address="203.0.113.10").json()["client_id"])
    recent = Application.objects.get(
        client_id=register(metadata(), address="203.0.113.11").json()["client_id"]
    )
    allow_dynamic(world)
    flow = Flow(browser(world.member_a), used.client_id, READ)
    assert flow.exchange(flow.authorize()).status_code == 200
    Application.objects.filter(pk__in=[unused.pk, used.pk]).update(created=timezone.now() - timedelta(days=8))
    call_command("cleartokens")
    left = set(Application.objects.values_list("pk", flat=True))
    assert unused.pk not in left and {used.pk, recent.pk} <= left


# --- Attacks: nothing is written


BAD = {
    "client credentials": ({"grant_types": ["client_credentials"]}, "invalid_client_metadata"),
    "device grant": (
        {"grant_types": ["authorization_code", "urn:ietf:params:oauth:grant-type:device_code"]},
        "invalid_client_metadata",
    ),
    "implicit": ({"response_types": ["token"]}, "invalid_client_metadata"),
    "a secret method": ({"token_endpoint_auth_method": "client_secret_basic"}, "invalid_client_metadata"),
    "private_key_jwt": ({"token_endpoint_auth_method": "private_key_jwt"}, "invalid_client_metadata"),
    "keys": ({"jwks_uri": "https://agent.example/jwks"}, "invalid_client_metadata"),
    "plain http redirect": ({"redirect_uris": ["http://agent.example/cb"]}, "invalid_redirect_uri"),
    "javascript redirect": ({"redirect_uris": ["javascript:alert(1)"]}, "invalid_redirect_uri"),
    "fragment": ({"redirect_uris": ["https://agent.example/cb#x"]}, "invalid_redirect_uri"),
    "no redirect": ({"redirect_uris": []}, "invalid_client_metadata"),
    "too many redirects": (
        {"redirect_uris": [f"https://agent.example/{n}" for n in range(11)]},
        "invalid_client_metadata",
    ),
    "no name": ({"client_name": " "}, "invalid_client_metadata"),
    "long name": ({"client_name": "x" * 101}, "invalid_client_metadata"),
    "scope not a string": ({"scope": ["photos.read"]}, "invalid_client_metadata"),
    "logo over http": ({"logo_uri": "http://agent.example/logo.png"}, "invalid_client_metadata"),
}


@pytest.mark.attack
@pytest.mark.parametrize("case", sorted(BAD))
def test_metadata_a_self_registered_client_may_not_have_registers_nothing(world, unchanged, case):
    changes, error = BAD[case]
    with unchanged():
        response = register(metadata(**changes))
        assert response.status_code == 400, response.content
        assert response.json()["error"] == error


@pytest.mark.attack
@pytest.mark.parametrize(
    ("body", "content_type"),
    [
        (b"not json", "application/json"),
        (b"[]", "application/json"),
        (b"[" * 100 + b"]" * 100, "application/json"),
        (b'{"client_name": "' + b"x" * 20_000 + b'"}', "application/json"),
        (json.dumps(metadata()).encode(), "application/x-www-form-urlencoded"),
        (json.dumps(metadata(client_name="a\x00b")).encode(), "application/json"),
    ],
)
def test_malformed_registrations_are_a_clear_400(world, unchanged, body, content_type):
    with unchanged():
        response = register(body, content_type=content_type)
        assert response.status_code == 400


@pytest.mark.attack
def test_a_registration_flood_is_held_at_the_limit(world, unchanged, settings):
    settings.RATE_LIMITS = {**settings.RATE_LIMITS, "dcr-registration-ip": (2, 3600)}
    assert [register(metadata()).status_code for _ in range(2)] == [201, 201]
    with unchanged():
        held = register(metadata())
        assert held.status_code == 429 and int(held["Retry-After"]) > 0
    assert register(metadata(), address="198.51.100.7").status_code == 201  # another address


@pytest.mark.attack
def test_a_registered_client_gets_no_client_credentials_token(world, unchanged):
    client_id = register(metadata()).json()["client_id"]
    allow_dynamic(world)
    with unchanged():
        response = Client().post(
            "/o/token/", {"grant_type": "client_credentials", "client_id": client_id, "scope": READ}
        )
        assert response.status_code in (400, 401)


@pytest.mark.attack
def test_a_member_cannot_allow_dynamic_registration(world, unchanged):
    member = browser(world.member_a)
    with unchanged():
        response = member.post("/account/org/acme/policy/", {"mode": "any", "dynamic_clients": "on"})
        assert response.status_code in (403, 404)
