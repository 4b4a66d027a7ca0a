"""An agent's view of a missing scope (docs/agents.md): the 403's challenge alone leads it to ask for
exactly that scope, and with `include_granted_scopes=true` its new token keeps what it had.

Each step reads only what the previous answer said, as a client that knows only the API's URL
would: the challenge's `scope` and `resource_metadata`, the resource's metadata document (its
`resource` and authorization server), the authorization server's metadata.
"""

from __future__ import annotations

import re
from urllib.parse import urlsplit

import pytest
from django.test import Client
from rest_framework.test import APIClient

from scopes.constants import ScopeName as S
from tests.answers import parse_challenge
from tests.factories import PhotoFactory
from tests.oauth import Flow

pytestmark = pytest.mark.django_db

API = "/api/t/acme/photos/"


def bearer(tokens: dict) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {tokens['access_token']}")
    return client


def get_json(url: str) -> dict:
    """GET an absolute URL of this server (the test client takes the path)."""
    parts = urlsplit(url)
    response = Client().get(parts.path)
    assert response.status_code == 200, (url, response.status_code)
    return response.json()


def authorized(browser, client_id: str, scope: str, **extra: str) -> tuple[dict, str]:
    """Authorize (consenting to what the page offers) and exchange the code: (tokens, page shown)."""
    flow = Flow(browser, client_id, scope, extra=extra)
    page = flow.start()
    html = page.content.decode() if page.status_code == 200 else ""
    answer = flow.consent(page) if page.status_code == 200 else page
    tokens = flow.exchange(answer)
    assert tokens.status_code == 200, tokens.content
    return tokens.json(), html


def test_the_challenge_is_all_an_agent_needs_to_ask_for_exactly_the_missing_scope(world, gallery, browser_of):
    browser = browser_of(world.member_a)
    photo = PhotoFactory(tenant=world.acme, owner=world.member_a)
    first, _page = authorized(browser, gallery.client_id, S.PHOTOS_READ)
    agent = bearer(first)
    assert agent.get(API).status_code == 200

    refused = agent.delete(f"{API}{photo.pk}/")
    assert refused.status_code == 403
    assert refused.json()["reason"] == "scope_missing"
    scheme, challenge = parse_challenge(refused["WWW-Authenticate"])
    assert scheme == "Bearer" and challenge["error"] == "insufficient_scope"
    assert challenge["scope"] == S.PHOTOS_DELETE  # exactly the missing scope, nothing else
    assert challenge["error_description"] == (
        "This call needs the scope photos.delete. Ask the authorization server for it with "
        "include_granted_scopes=true to keep the scopes this token has."
    )

    resource = get_json(challenge["resource_metadata"])
    assert resource["resource"] == "http://testserver/api/t/acme/"
    assert challenge["scope"] in resource["scopes_supported"]
    server = get_json(resource["authorization_servers"][0] + "/.well-known/oauth-authorization-server")
    assert urlsplit(server["authorization_endpoint"]).path == "/o/authorize/"

    second, page = authorized(
        browser,
        gallery.client_id,
        challenge["scope"],
        resource=resource["resource"],
        include_granted_scopes="true",
    )
    # The page asks only about the new line; what was granted before is not asked again.
    assert re.findall(r'name="scope" value="([^"]+)"', page) == [S.PHOTOS_DELETE]
    assert 'data-resource="http://testserver/api/t/acme/"' in page
    assert set(second["scope"].split()) == {S.PHOTOS_READ, S.PHOTOS_DELETE}
    agent = bearer(second)
    assert agent.delete(f"{API}{photo.pk}/").status_code == 204
    assert agent.get(API).status_code == 200  # and it kept what it had
    # Bound to the resource it asked for (RFC 8707): the audit API refuses it.
    assert agent.get("/api/t/acme/audit/").json()["reason"] == "wrong_resource"


def test_without_include_granted_scopes_the_new_token_has_only_what_was_asked(world, gallery, browser_of):
    """Documented: each token carries what its request asked for; the consent is remembered."""
    browser = browser_of(world.member_a)
    authorized(browser, gallery.client_id, S.PHOTOS_READ)
    only_delete, _page = authorized(browser, gallery.client_id, S.PHOTOS_DELETE)
    assert only_delete["scope"] == S.PHOTOS_DELETE
    refused = bearer(only_delete).get(API)
    assert (
        refused.status_code == 403
        and parse_challenge(refused["WWW-Authenticate"])[1]["scope"] == "photos.read"
    )


def test_a_scope_the_role_cannot_grant_is_refused_on_the_page_with_the_reason(world, gallery, browser_of):
    """A Guest's agent asking for photos.delete: the page shows it unavailable and why; nothing to tick."""
    browser = browser_of(world.guest_a)
    authorized(browser, gallery.client_id, S.PHOTOS_READ)
    flow = Flow(browser, gallery.client_id, S.PHOTOS_DELETE, extra={"include_granted_scopes": "true"})
    html = flow.start().content.decode()
    assert "does not allow this: delete photos" in html
    assert re.findall(r'name="scope" value="([^"]+)"', html) == []
