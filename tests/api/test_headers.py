"""Header injection: nothing a client or an administrator writes can break a `WWW-Authenticate` header.

By construction: the challenge's `realm` is a constant, its `error` one of RFC 6750's codes, its
`scope` the name of the scope the endpoint needs, and scope names are checked three times (the
model's validator, the admin form that runs it, and a CHECK constraint in the database), so no
quote, backslash, comma, space, CR or LF can reach a header. Error descriptions never go into
the header: they are in the JSON body. The tests try to get a bad name in, and parse every
challenge the API and the OAuth endpoints emit against RFC 7235 / RFC 6750.
"""

from __future__ import annotations

import base64
from datetime import timedelta

import pytest
from django.core.exceptions import ValidationError
from django.db import DatabaseError, DataError, IntegrityError, transaction
from django.test import Client
from django.utils import timezone
from rest_framework.test import APIClient

from accounts.models import AuditEvent
from scopes.constants import ScopeName as S
from scopes.models import Application, Scope
from tests.answers import bearer_challenge, parse_challenge
from tests.factories import AccessTokenFactory, ApplicationFactory, ConsentFactory, PhotoFactory

pytestmark = [pytest.mark.django_db, pytest.mark.attack]

BAD_NAMES = [
    'photos.read"',
    'a" error="invalid_token',
    "photos\\read",
    "photos.read\r\nSet-Cookie: x=1",
    "photos.read\n",
    "photos.read\r",
    "photos read",
    "photos.read,albums.read",
    "Photos.read",
    "1photos",
    "",
    "photos.réad",
    "photos.read\x00",
    "photos.read\t",
    "photos;read",
    "=",
]


# --- names cannot be made unsafe


@pytest.mark.parametrize("name", BAD_NAMES, ids=repr)
def test_full_clean_refuses_an_unsafe_scope_name(name):
    with pytest.raises(ValidationError) as excinfo:
        Scope(name=name, description="x").full_clean()
    assert "name" in excinfo.value.message_dict


@pytest.mark.parametrize("name", BAD_NAMES, ids=repr)
def test_the_database_refuses_an_unsafe_scope_name(seeded, name):
    """Even a path that skips validation (a shell, a data migration, bulk_create) cannot store one."""
    # PostgreSQL refuses a NUL in text before any constraint is looked at.
    refusals = (IntegrityError, DataError) if "\x00" in name else IntegrityError
    with pytest.raises(refusals), transaction.atomic():
        Scope.objects.create(name=name, description="x")
    # A rename is refused before the name is even looked at (names are fixed: scopes.access.freshness).
    with pytest.raises(DatabaseError), transaction.atomic():
        Scope.objects.filter(name="photos.read").update(name=name)
    assert Scope.objects.filter(name="photos.read").exists()


@pytest.fixture
def superuser_client(client, django_user_model):
    client.force_login(django_user_model.objects.create_superuser("root", "root@example.com", "pw"))
    return client


@pytest.mark.parametrize(
    "name", ['evil" realm="x', "evil\r\nX-Injected: 1", "evil scope", "evil,scope"], ids=repr
)
def test_the_admin_refuses_an_unsafe_scope_name(superuser_client, unchanged, name):
    with unchanged():
        response = superuser_client.post(
            "/admin/scopes/scope/add/", {"name": name, "description": "Do evil.", "implies": []}
        )
    assert response.status_code == 200  # the form again, with the error
    assert "contains only lowercase letters" in response.content.decode()
    assert not AuditEvent.objects.exists()


def test_the_admin_refuses_renaming_a_scope_to_an_unsafe_name(seeded, superuser_client):
    """A scope's name is fixed once created: the change page shows it read-only and ignores a posted one."""
    scope = Scope.objects.get(name="photos.read")
    page = superuser_client.get(f"/admin/scopes/scope/{scope.pk}/change/").content.decode()
    assert 'name="name"' not in page
    superuser_client.post(
        f"/admin/scopes/scope/{scope.pk}/change/",
        {"name": 'photos.read" error="x', "description": scope.description, "implies": []},
    )
    scope.refresh_from_db()
    assert scope.name == "photos.read"


# --- every challenge the server emits parses


def _collect_api_challenges(world, mint_token) -> list[tuple[str, int, str]]:
    """(request, status, WWW-Authenticate) for every kind of refusal the API gives."""
    photo = PhotoFactory(tenant=world.acme, owner=world.member2_a)
    targets = [
        ("get", "/api/t/acme/photos/"),
        ("post", "/api/t/acme/photos/"),
        ("get", f"/api/t/acme/photos/{photo.pk}/"),
        ("patch", f"/api/t/acme/photos/{photo.pk}/"),
        ("delete", f"/api/t/acme/photos/{photo.pk}/"),
        ("get", f"/api/t/acme/photos/{photo.pk}/image"),
        ("get", "/api/t/acme/albums/"),
        ("post", "/api/t/acme/albums/"),
        ("get", "/api/t/acme/me/"),
        ("get", "/api/t/globex/photos/"),
    ]
    expired = mint_token(world.member_a, world.acme, [S.PHOTOS_READ], expires=timezone.now() - timedelta(1))
    # Rows no product path can write: a token "granted" scopes with quotes, commas and line breaks.
    forged = AccessTokenFactory(
        user=world.member_a, tenant=world.acme, application=world.app,
        scope='photos.read" error="forged albums.read,x \r\nX-Injected: 1',
    )  # fmt: skip
    credentials = {
        "none": None,
        "unknown": "Bearer made-up",
        "malformed": "Bearer a b",
        "expired": f"Bearer {expired.token}",
        "no-scopes": f"Bearer {mint_token(world.member_a, world.acme, []).token}",
        "guest-all": f"Bearer {mint_token(world.guest_a, world.acme, [S.PHOTOS_WRITE, S.ALBUMS_WRITE]).token}",
        "member-all": f"Bearer {mint_token(world.member_a, world.acme, [S.PHOTOS_WRITE, S.PROFILE_READ]).token}",
        "forged": f"Bearer {forged.token}",
    }
    seen = []
    for label, header in credentials.items():
        client = APIClient()
        if header:
            client.credentials(HTTP_AUTHORIZATION=header)
        for method, url in targets:
            response = getattr(client, method)(url, {}, format="json")
            assert response.status_code < 500
            for name, value in response.headers.items():
                assert "\r" not in value and "\n" not in value, (label, url, name, value)
                assert not name.lower().startswith("x-injected")
            if response.has_header("WWW-Authenticate"):
                seen.append((f"{label} {method} {url}", response.status_code, response["WWW-Authenticate"]))
    return seen


def test_every_challenge_the_api_emits_is_well_formed(world, mint_token):
    seen = _collect_api_challenges(world, mint_token)
    statuses = {status for _what, status, _value in seen}
    assert statuses == {401, 403}
    for what, status, value in seen:
        scheme, params = parse_challenge(value)
        assert (scheme, params["realm"]) == ("Bearer", "api"), what
        # RFC 9728: every API refusal names its resource's metadata document.
        assert params.pop("resource_metadata").startswith(
            "http://testserver/.well-known/oauth-protected-resource/api/t/"
        ), what
        if status == 403 and "error" in params:
            assert params["error"] == "insufficient_scope" and params["scope"], what
        elif status == 403:  # the role or ownership refused, not the token: no error code
            assert params == {"realm": "api"}, what
        elif what.startswith("none "):
            assert params == {"realm": "api"}, what  # RFC 6750 3.1: no error without credentials
        else:
            assert params["error"] == "invalid_token", what


def test_a_forged_token_scope_never_reaches_the_challenge(world):
    ConsentFactory(user=world.member_a, tenant=world.acme, application=world.app)  # the grant stands
    token = AccessTokenFactory(
        user=world.member_a, tenant=world.acme, application=world.app, scope='x" error="invalid_token'
    )
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {token.token}")
    response = client.get("/api/t/acme/photos/")
    assert response.status_code == 403
    assert bearer_challenge(response) == 'Bearer realm="api", error="insufficient_scope", scope="photos.read"'


def test_the_oauth_endpoints_challenges_are_well_formed(world, gallery):
    confidential = ApplicationFactory(
        client_id="confidential",
        client_type=Application.CLIENT_CONFIDENTIAL,
        client_secret="right-secret",
        hash_client_secret=True,
    )

    def basic(user: str, password: str) -> str:
        return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()

    answers = [
        Client().post(
            "/o/token/", {"grant_type": "authorization_code", "code": "x"}, HTTP_AUTHORIZATION=header
        )
        for header in (basic(confidential.client_id, "wrong"), basic('a" error="x', "y"), basic("\r\n", "x"))
    ]
    answers += [
        Client().post("/o/introspect/", {"token": "x"}),
        Client().post(
            "/o/introspect/", {"token": "x"}, HTTP_AUTHORIZATION=basic(confidential.client_id, "no")
        ),
        Client().post("/o/revoke_token/", {"token": "x"}, HTTP_AUTHORIZATION=basic('"', '"')),
    ]
    challenges = [r["WWW-Authenticate"] for r in answers if r.has_header("WWW-Authenticate")]
    assert len(challenges) >= 4
    for value in challenges:
        scheme, params = parse_challenge(value)
        assert scheme in {"Bearer", "Basic"}
        assert '"' not in "".join(params.values())
