"""RFC 9728: each API says where its authorization server is, and every refusal points there."""

from __future__ import annotations

import pytest
from django.test import Client

from scopes.constants import ScopeName as S

pytestmark = pytest.mark.django_db

ISSUER = "http://testserver"
WELL_KNOWN = "/.well-known/oauth-protected-resource"


def test_the_photo_api_names_its_issuer_scopes_and_bearer_method():
    body = Client().get(f"{WELL_KNOWN}/api/t/acme/").json()
    assert body["resource"] == f"{ISSUER}/api/t/acme/"
    assert body["authorization_servers"] == [ISSUER]
    assert body["bearer_methods_supported"] == ["header"]
    scopes = set(body["scopes_supported"])
    # What the photo API's views declare, and the composites that imply them.
    assert {S.PHOTOS_READ, S.PHOTOS_UPLOAD, S.PHOTOS_DELETE, S.ALBUMS_READ, S.PROFILE_READ} <= scopes
    assert S.PHOTOS_WRITE in scopes
    # Not what it does not understand: the audit API's scope, sign-in scopes.
    assert not scopes & {S.AUDIT_READ, S.OPENID, S.EMAIL, S.OFFLINE_ACCESS}


def test_the_audit_api_is_a_resource_of_its_own():
    body = Client().get(f"{WELL_KNOWN}/api/t/acme/audit/").json()
    assert body["resource"] == f"{ISSUER}/api/t/acme/audit/"
    assert body["scopes_supported"] == [S.AUDIT_READ]


def test_the_host_document_covers_every_api_and_any_slug_is_answered_alike(world):
    host = Client().get(WELL_KNOWN)
    assert host.status_code == 200 and host["Access-Control-Allow-Origin"] == "*"
    assert host.json()["resource"] == ISSUER
    assert {S.PHOTOS_READ, S.AUDIT_READ} <= set(host.json()["scopes_supported"])
    # A tenant that does not exist is answered as one that does: nothing to enumerate.
    known = Client().get(f"{WELL_KNOWN}/api/t/acme/").json()
    unknown = Client().get(f"{WELL_KNOWN}/api/t/no-such-tenant/").json()
    assert {k: v for k, v in known.items() if k != "resource"} == {
        k: v for k, v in unknown.items() if k != "resource"
    }


def _challenge(response) -> str:
    return response["WWW-Authenticate"]


@pytest.mark.parametrize(
    ("path", "document"),
    [("/api/t/acme/photos/", "/api/t/acme/"), ("/api/t/acme/audit/", "/api/t/acme/audit/")],
)
def test_every_401_and_403_points_at_its_resources_document(world, api_client, path, document):
    expected = f'resource_metadata="{ISSUER}{WELL_KNOWN}{document}"'
    missing = Client().get(path)
    assert missing.status_code == 401 and _challenge(missing).startswith('Bearer realm="api"')
    assert expected in _challenge(missing)
    bad = Client(HTTP_AUTHORIZATION="Bearer not-a-token").get(path)
    assert (
        bad.status_code == 401 and 'error="invalid_token"' in _challenge(bad) and expected in _challenge(bad)
    )
    # A scope the token lacks: the challenge names it, so an agent can ask for exactly that next.
    narrow = api_client(world.member_a, world.acme, [S.PROFILE_READ])
    refused = narrow.get(path)
    assert refused.status_code == 403
    assert 'error="insufficient_scope"' in _challenge(refused) and expected in _challenge(refused)


def test_a_role_refusal_points_there_too(world, api_client):
    guest = api_client(world.guest_a, world.acme, [S.PHOTOS_READ, S.PHOTOS_UPLOAD])
    refused = guest.post("/api/t/acme/photos/", {}, format="multipart")
    assert refused.status_code == 403 and refused.json()["reason"] == "role_forbids"
    assert _challenge(refused) == (
        f'Bearer realm="api", resource_metadata="{ISSUER}{WELL_KNOWN}/api/t/acme/"'
    )
