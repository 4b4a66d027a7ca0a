"""The benchmark's baselines (bench/views.py) do the work `make bench` says they do, as deployed.

On PostgreSQL requests run as the runtime role under row-level security (tests/rls.py): bare and
stock DOT must enter the URL's tenant themselves, or they would list nothing (or find no token)
and the comparison with ours would be meaningless.
"""

from __future__ import annotations

from urllib.parse import parse_qs, urlparse

import pytest
from django.db import connection  # noqa: F401 (the skipif condition below reads it)
from rest_framework.test import APIClient

from scopes.constants import ScopeName as S
from tests.factories import PhotoFactory

VARIANTS = {
    "bare": "/bench/bare/t/{slug}/photos/?page_size=20",
    "dot": "/bench/dot/t/{slug}/photos/?page_size=20",
    "ours": "/api/t/{slug}/photos/?page_size=20",
}


@pytest.fixture(autouse=True)
def _bench_urls(settings) -> None:
    settings.ROOT_URLCONF = "bench.urls"


@pytest.fixture
def photos(world) -> None:
    for _ in range(25):
        PhotoFactory(tenant=world.acme, owner=world.member_a)
    PhotoFactory(tenant=world.globex, owner=world.member_b)


def test_bare_and_dot_answer_ours_page_byte_for_byte(world, gallery, api_client, photos) -> None:
    client = api_client(world.member_a, world.acme, [S.PHOTOS_READ])
    pages = {}
    for name, path in VARIANTS.items():
        response = client.get(path.format(slug="acme"))
        assert response.status_code == 200, (name, response.content[:200])
        body = response.json()
        pages[name] = (body["results"], parse_qs(urlparse(body["next"]).query)["cursor"])
    assert len(pages["ours"][0]) == 20
    assert pages["bare"] == pages["ours"] == pages["dot"]


def test_bare_lists_exactly_the_url_tenant_in_one_statement_before_the_page(
    world, photos, django_assert_num_queries
) -> None:
    # One statement resolves and enters the tenant, one reads the page (as ours when warm).
    with django_assert_num_queries(2):
        response = APIClient().get(VARIANTS["bare"].format(slug="globex"))
    assert response.status_code == 200
    assert [row["owner"]["username"] for row in response.json()["results"]] == ["member_b"]


@pytest.mark.parametrize("variant", ["bare", "dot"])
def test_an_unknown_or_inactive_tenant_is_404(world, gallery, api_client, variant) -> None:
    client = api_client(world.member_a, world.acme, [S.PHOTOS_READ])
    assert client.get(VARIANTS[variant].format(slug="nope")).status_code == 404
    world.acme.is_active = False
    world.acme.save()
    assert client.get(VARIANTS[variant].format(slug="acme")).status_code == 404


# --- Stock DOT's OAuth endpoints (bench/oauth.py), as the OAuth phase of `make bench` loads them.

DOT_OAUTH = "/bench/dot/t/{slug}/o/"


def _basic(client_id: str, secret: str) -> dict[str, str]:
    import base64

    return {"HTTP_AUTHORIZATION": "Basic " + base64.b64encode(f"{client_id}:{secret}".encode()).decode()}


def test_stock_dot_refreshes_introspects_and_revokes_in_the_url_tenant(world, gallery, browser_of) -> None:
    """DOT's own views and validator, on the product's tenant-bound token tables, under
    row-level security: each new token is written in the URL's tenant, and the answers are DOT's."""
    from django.test import Client

    from accounts.tenancy import tenant_scope
    from scopes.access.tenancy import token_checksum
    from scopes.models import AccessToken, Application, RefreshToken
    from tests.factories import ApplicationFactory
    from tests.oauth import Flow

    flow = Flow(browser_of(world.member_a), gallery.client_id, "photos.read offline_access")
    issued = flow.exchange(flow.authorize()).json()
    dot = DOT_OAUTH.format(slug="acme")

    refreshed = Client().post(
        dot + "token/",
        {
            "grant_type": "refresh_token",
            "refresh_token": issued["refresh_token"],
            "client_id": gallery.client_id,
        },
    )
    assert refreshed.status_code == 200, refreshed.content[:300]
    pair = refreshed.json()
    assert set(pair["scope"].split()) == {"photos.read", "offline_access"}
    with tenant_scope(world.acme.pk):
        access = AccessToken.objects.get(token_checksum=token_checksum(pair["access_token"]))
        refresh = RefreshToken.objects.get(token_checksum=token_checksum(pair["refresh_token"]))
        assert access.tenant_id == refresh.tenant_id == world.acme.pk
        assert access.source_refresh_token is not None

    ApplicationFactory(
        client_id="bench-rs",
        client_type=Application.CLIENT_CONFIDENTIAL,
        authorization_grant_type=Application.GRANT_CLIENT_CREDENTIALS,
        client_secret="bench-rs-secret",
        hash_client_secret=False,
        is_resource_server=True,
    )
    answer = Client().post(
        dot + "introspect/", {"token": pair["access_token"]}, **_basic("bench-rs", "bench-rs-secret")
    )
    assert answer.status_code == 200
    assert answer.json()["active"] is True
    assert answer.json()["username"] == "member_a"

    revoked = Client().post(
        dot + "revoke_token/",
        {"token": pair["access_token"], "token_type_hint": "access_token", "client_id": gallery.client_id},
    )
    assert revoked.status_code == 200
    with tenant_scope(world.acme.pk):
        assert not AccessToken.objects.filter(token_checksum=token_checksum(pair["access_token"])).exists()


@pytest.mark.skipif("connection.vendor != 'postgresql'")
def test_stock_dot_in_another_tenant_finds_nothing(world, gallery, browser_of) -> None:
    """The URL's tenant is the only one entered: under row-level security a refresh token of acme
    is unknown at globex's stock endpoint."""
    from django.test import Client

    from tests.oauth import Flow

    flow = Flow(browser_of(world.member_a), gallery.client_id, "photos.read offline_access")
    issued = flow.exchange(flow.authorize()).json()
    answer = Client().post(
        DOT_OAUTH.format(slug="globex") + "token/",
        {
            "grant_type": "refresh_token",
            "refresh_token": issued["refresh_token"],
            "client_id": gallery.client_id,
        },
    )
    assert answer.status_code == 400
    assert answer.json()["error"] == "invalid_grant"
