# ruff: noqa: F811  (fixtures imported from the agreement table are used as arguments)
"""Follow-up audit of issues 10 and 11: the same classes of bug where the fixes did not reach.

Tests that fail on this branch are confirmed problems; the others guard tricky cases that hold.
"""

from __future__ import annotations

import base64

import pytest
from django.db import connection
from django.test import Client

from accounts.models import Membership
from scopes.models import Application
from tests.scopes.test_standing_agreement import (  # noqa: F401  (fixtures)
    RS_SECRET,
    _ask,
    grant,
    resource_server,
)

pytestmark = pytest.mark.django_db


def _sql(statement: str, *params) -> None:
    with connection.cursor() as cursor:
        cursor.execute(statement, list(params))


def _introspect(token: str) -> dict:
    basic = base64.b64encode(f"photo-api:{RS_SECRET}".encode()).decode()
    return Client().post("/o/introspect/", {"token": token}, HTTP_AUTHORIZATION=f"Basic {basic}").json()


# --- Agreement: an app rebound to another tenant (a superuser's edit, or an update()).


def test_an_app_moved_to_another_tenant_is_refused_alike_everywhere(world, grant):
    """The consent page no longer lets acme use the app; every other endpoint must agree."""
    Application.objects.filter(pk=world.app.pk).update(tenant=world.globex)
    answers = _ask(world, grant)
    assert answers["consent"] is False  # the authorize endpoint refuses acme now
    assert answers == dict.fromkeys(answers, False), answers


# --- Freshness: a writer the triggers do not see.


@pytest.mark.skipif("connection.vendor != 'postgresql'")
def test_truncating_a_roles_grants_is_seen_by_the_next_request(world, grant):
    """TRUNCATE (a data fix as the owner) fires no row or DELETE statement trigger."""
    access = grant.tokens["access_token"]
    api = Client(HTTP_AUTHORIZATION=f"Bearer {access}")
    assert api.get("/api/t/acme/photos/").status_code == 200  # now cached
    _sql("TRUNCATE scopes_rolegrant")
    assert api.get("/api/t/acme/photos/").status_code == 403


@pytest.mark.skipif("connection.vendor != 'postgresql'")
def test_truncating_consent_scopes_is_seen_by_the_next_request(world, grant):
    access = grant.tokens["access_token"]
    api = Client(HTTP_AUTHORIZATION=f"Bearer {access}")
    assert api.get("/api/t/acme/photos/").status_code == 200
    _sql("SET CONSTRAINTS ALL IMMEDIATE")  # the test's transaction holds deferred FK checks
    _sql("TRUNCATE scopes_consent_scopes")
    assert api.get("/api/t/acme/photos/").status_code == 403


# --- Guards that hold: out-of-band consent narrowing, membership moved.


def test_raw_sql_consent_narrowing_reaches_api_and_introspection(world, grant):
    access = grant.tokens["access_token"]
    api = Client(HTTP_AUTHORIZATION=f"Bearer {access}")
    assert api.get("/api/t/acme/photos/").status_code == 200
    _sql(
        "DELETE FROM scopes_consent_scopes WHERE scope_id IN"
        " (SELECT id FROM scopes_scope WHERE name IN ('photos.write'))"
    )
    assert api.get("/api/t/acme/photos/").status_code == 403
    assert "photos" not in _introspect(access).get("scope", "")


def test_a_membership_moved_to_another_tenant_by_update(world, grant):
    access = grant.tokens["access_token"]
    api = Client(HTTP_AUTHORIZATION=f"Bearer {access}")
    assert api.get("/api/t/acme/photos/").status_code == 200
    Membership.objects.filter(user=world.owner_a, tenant=world.acme).update(tenant=world.globex)
    assert api.get("/api/t/acme/photos/").status_code == 404
    assert _introspect(access) == {"active": False}


# --- prompt: a repeated parameter (RFC 6749 3.1: sent at most once).


def test_prompt_none_repeated_with_another_value_never_renders_a_page(world, gallery, browser_of):
    """`prompt=none&prompt=consent`: Django reads the last value, so the page is shown."""
    from urllib.parse import urlencode

    from tests.scopes.oauth import Flow

    flow = Flow(browser_of(world.member_a), gallery.client_id, "photos.read", extra={"tenant": "acme"})
    url = "/o/authorize/?" + urlencode(flow.params) + "&prompt=none&prompt=consent"
    response = flow.client.get(url)
    assert response.status_code == 302, response.status_code
    assert "error=" in response["Location"]
