"""The benchmark's baselines (bench/views.py) do the work `make bench` says they do, as deployed.

On PostgreSQL requests run as the runtime role under row-level security (tests/rls.py): bare and
stock DOT must enter the URL's tenant themselves, or they would list nothing (or find no token)
and the comparison with ours would be meaningless.
"""

from __future__ import annotations

from urllib.parse import parse_qs, urlparse

import pytest
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
