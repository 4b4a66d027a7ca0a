"""Bearer authentication: bad tokens get RFC 6750 answers, good ones cost one query."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from rest_framework.test import APIClient

from scopes.access.cache import load_context
from scopes.access.selectors import authorization_context, registry
from scopes.constants import ScopeName
from scopes.models import Scope
from tests.answers import bearer_challenge

URL = "/api/t/acme/me/"


def test_no_token_is_401_with_a_bare_bearer_challenge(world):
    response = APIClient().get(URL)
    assert response.status_code == 401
    assert bearer_challenge(response) == 'Bearer realm="api"'
    assert response.json()["reason"] == "token_missing"
    assert "X-OAuth-Scopes" not in response.headers


def test_other_schemes_are_treated_as_no_token(world):
    response = APIClient().get(URL, HTTP_AUTHORIZATION="Basic dXNlcjpwdw==")
    assert response.status_code == 401
    assert bearer_challenge(response) == 'Bearer realm="api"'


@pytest.mark.parametrize(
    "header", ["Bearer", "Bearer ", "Bearer a b", "Bearer not-a-real-token", "Bearer \u00e9t\u00e9"]
)
def test_malformed_or_unknown_token_is_401_invalid_token(world, header):
    response = APIClient().get(URL, HTTP_AUTHORIZATION=header)
    assert response.status_code == 401
    assert bearer_challenge(response) == 'Bearer realm="api", error="invalid_token"'
    body = response.json()
    assert body["error"] == "invalid_token"
    assert "not valid" in body["detail"]


def test_expired_token_is_401_invalid_token(world, api_client):
    client = api_client(
        world.member_a, world.acme, [ScopeName.PROFILE_READ], expires=timezone.now() - timedelta(seconds=1)
    )
    response = client.get(URL)
    assert response.status_code == 401
    assert "expired" in response.json()["detail"]
    assert bearer_challenge(response) == 'Bearer realm="api", error="invalid_token"'


def test_revoked_token_is_401_on_the_next_request(world, api_client):
    client = api_client(world.member_a, world.acme, [ScopeName.PROFILE_READ])
    assert client.get(URL).status_code == 200
    client.token.revoke()
    assert client.get(URL).status_code == 401


def test_inactive_user_is_401(world, api_client):
    client = api_client(world.member_a, world.acme, [ScopeName.PROFILE_READ])
    world.member_a.is_active = False
    world.member_a.save()
    assert client.get(URL).status_code == 401


def test_token_user_tenant_membership_and_grants_load_in_one_query(world, mint_token, tenancy_statements):
    token = mint_token(world.member_a, world.acme, [ScopeName.PHOTOS_READ])
    registry()  # this process's copy, shared by every token under the same registry epoch
    with CaptureQueriesContext(connection) as queries:
        context = load_context(token.token)
    # The first-use probe (which on PostgreSQL also enters the token's tenant), then ONE query for
    # the grant's rows (the token's own columns came with the probe).
    assert len(queries) == tenancy_statements + 1
    assert "row_version" in queries[0]["sql"] or "scopes_token_first_use" in queries[0]["sql"]
    assert context.user.pk == world.member_a.pk and context.tenant.pk == world.acme.pk
    assert context.role_name == "Member"
    assert ("photos.delete", "own") in context.role_grants


def test_non_member_context_has_no_role(world, mint_token):
    context = authorization_context(mint_token(world.outsider, world.acme, []).token)
    assert context.role_id is None and context.role_grants == ()


def test_implication_graph_cache_is_dropped_when_implications_change(world, django_assert_num_queries):
    graph = registry().implications
    with django_assert_num_queries(1):  # the registry's epoch; the copy itself is reused
        registry()
    profile = Scope.objects.get(name=ScopeName.PROFILE_READ)
    profile.implies.add(Scope.objects.get(name=ScopeName.ALBUMS_READ))
    assert "albums.read" not in graph["profile.read"]
    assert "albums.read" in registry().implications["profile.read"]


def test_implication_graph_cache_is_dropped_when_a_scope_is_added(world):
    registry()
    Scope.objects.create(name="extra.scope", description="Extra")
    assert "extra.scope" in registry().implications
