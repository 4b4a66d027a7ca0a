"""Who may introspect which token (RFC 7662 section 4; the rule is `scopes.oauth.introspection`).

A confidential client learns about its own tokens; a client an administrator marked as a resource
server learns about its tenant's tokens (every tenant's when it has none); anyone else hears
exactly `{"active": false}`, as for a token that does not exist. Asking changes nothing.
"""

from __future__ import annotations

import base64

import pytest
from django.test import Client

from scopes.models import Application
from tests.factories import ApplicationFactory

pytestmark = [pytest.mark.django_db, pytest.mark.attack]

SECRET = "a-confidential-secret"


def confidential(client_id: str, **fields) -> Application:
    return ApplicationFactory(
        name=client_id,
        client_id=client_id,
        client_type=Application.CLIENT_CONFIDENTIAL,
        client_secret=SECRET,
        hash_client_secret=True,
        **fields,
    )


def introspect(client: Application, token: str) -> dict:
    basic = base64.b64encode(f"{client.client_id}:{SECRET}".encode()).decode()
    response = Client().post("/o/introspect/", {"token": token}, HTTP_AUTHORIZATION=f"Basic {basic}")
    assert response.status_code == 200
    return response.json()


@pytest.fixture
def tokens(world, mint_token) -> dict[str, str]:
    """A live token in each tenant, both of the world's (public) app."""
    return {
        "acme": mint_token(world.member_a, world.acme, ["photos.read"]).token,
        "globex": mint_token(world.member_b, world.globex, ["photos.read"]).token,
    }


@pytest.mark.parametrize(
    "fields",
    [
        {},  # any confidential client
        {"tenant_id": "globex"},  # an app of the other tenant
        {"is_resource_server": True, "tenant_id": "globex"},  # a resource server of the other tenant
    ],
    ids=["any-client", "other-tenants-app", "other-tenants-resource-server"],
)
def test_a_client_may_not_introspect_tokens_that_are_not_its_own_or_its_tenants(
    world, tokens, unchanged, fields
):
    if "tenant_id" in fields:
        fields["tenant_id"] = getattr(world, fields["tenant_id"]).pk
    prober = confidential("prober", **fields)
    with unchanged():
        assert introspect(prober, tokens["acme"]) == {"active": False}
        assert introspect(prober, "no-such-token") == {"active": False}


def test_a_resource_server_introspects_its_tenants_tokens_only(world, tokens, unchanged):
    api = confidential("acme-api", is_resource_server=True, tenant=world.acme)
    with unchanged():
        assert introspect(api, tokens["acme"])["active"] is True
        assert introspect(api, tokens["globex"]) == {"active": False}


def test_a_resource_server_without_a_tenant_introspects_every_tenants_tokens(world, tokens, unchanged):
    api = confidential("shared-api", is_resource_server=True)
    with unchanged():
        assert introspect(api, tokens["acme"])["tenant"] == "acme"
        assert introspect(api, tokens["globex"])["tenant"] == "globex"


def test_a_client_introspects_its_own_tokens(world, mint_token, unchanged):
    server_app = confidential("server-app", tenant=world.acme)
    own = mint_token(world.member_a, world.acme, ["photos.read"], application=server_app).token
    with unchanged():
        data = introspect(server_app, own)
    assert data["active"] is True and data["client_id"] == "server-app"


def test_only_a_superuser_marks_a_resource_server(world, client):
    """The flag is on the application's admin form, which only superusers may change."""
    from tests.factories import UserFactory

    app = confidential("flag-me")
    superuser = UserFactory(username="root", is_staff=True, is_superuser=True)
    client.force_login(superuser)
    page = client.get(f"/admin/scopes/application/{app.pk}/change/")
    assert page.status_code == 200 and b'name="is_resource_server"' in page.content
    staff = UserFactory(username="staffer", is_staff=True)
    client.force_login(staff)
    page = client.get(f"/admin/scopes/application/{app.pk}/change/")
    assert b'name="is_resource_server"' not in page.content


@pytest.mark.parametrize(
    "query",
    ["client_id=photo-api&client_secret=x", "token=abc", "anything=1"],
    ids=["secret", "token", "other"],
)
def test_introspection_refuses_a_query_string_before_reading_any_credential(db, client, query, unchanged):
    """No secret or token in a URL (access logs keep URLs): 400 before any client is authenticated."""
    with unchanged():
        response = client.post(f"/o/introspect/?{query}", {"token": "abc"})
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_request"
