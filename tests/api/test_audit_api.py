"""The tenant audit API: pages newest first, filters, NDJSON, and no way into another tenant's log."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from django.utils import timezone

from accounts.constants import AuditAction, RoleName
from accounts.models import AuditEvent, Membership
from accounts.services import audit_record
from api.audit import encode_cursor
from scopes.constants import ScopeName as S
from tests.answers import json_body

pytestmark = [pytest.mark.django_db, pytest.mark.attack]

URL = "/api/t/acme/audit/"


@pytest.fixture
def events(world):
    """Five acme events (newest last), two globex events, one platform event."""
    made = {"acme": [], "globex": []}
    for i in range(5):
        action = AuditAction.ROLE_CHANGED if i % 2 else AuditAction.MEMBERSHIP_CHANGED
        made["acme"].append(audit_record(actor=world.owner_a, action=action, target=world.acme, tenant=world.acme,
                                         after={"i": i}))  # fmt: skip
    for _ in range(2):
        made["globex"].append(
            audit_record(
                actor=world.member_b,
                action=AuditAction.ROLE_CHANGED,
                target=world.globex,
                tenant=world.globex,
            )
        )
    audit_record(actor=None, action=AuditAction.SCOPE_CHANGED, target=world.acme)
    return made


def test_owner_pages_newest_first_through_every_event_once(world, events, api_client):
    client = api_client(world.owner_a, world.acme, [S.AUDIT_READ])
    seen, url = [], URL + "?page_size=2"
    while url:
        body = client.get(url).json()
        seen += [event["id"] for event in body["results"]]
        url = body["next"]
    assert seen == [e.pk for e in reversed(events["acme"])]
    first = client.get(URL + "?page_size=1").json()["results"][0]
    assert first["tenant"] == "acme" and first["actor"] == "owner_a" and first["after"] == {"i": 4}


def test_filters_by_action_and_time(world, events, api_client):
    client = api_client(world.admin_a, world.acme, [S.AUDIT_READ])
    roles = client.get(URL, {"action": AuditAction.ROLE_CHANGED}).json()["results"]
    assert [e["after"]["i"] for e in roles] == [3, 1]
    AuditEvent.objects.filter(pk=events["acme"][0].pk).update(created_at=timezone.now() - timedelta(days=10))
    since = (timezone.now() - timedelta(days=1)).date().isoformat()
    recent = client.get(URL, {"since": since}).json()["results"]
    assert len(recent) == 4
    old = client.get(URL, {"until": (timezone.now() - timedelta(days=5)).isoformat()}).json()["results"]
    assert [e["id"] for e in old] == [events["acme"][0].pk]


def test_ndjson_one_event_per_line_with_a_link_to_the_next_page(world, events, api_client):
    client = api_client(world.owner_a, world.acme, [S.AUDIT_READ])
    response = client.get(URL + "?format=ndjson&page_size=3")
    assert response["Content-Type"].startswith("application/x-ndjson")
    lines = [json.loads(line) for line in response.content.decode().splitlines()]
    assert [e["id"] for e in lines] == [e.pk for e in reversed(events["acme"])][:3]
    assert 'rel="next"' in response["Link"]
    accepted = client.get(URL, HTTP_ACCEPT="application/x-ndjson")
    assert accepted["Content-Type"].startswith("application/x-ndjson")


@pytest.mark.parametrize(
    ("user", "scopes", "status", "reason"),
    [
        ("owner_a", [S.AUDIT_READ], 200, None),
        ("admin_a", [S.AUDIT_READ], 200, None),
        ("member_a", [S.AUDIT_READ], 403, "role_forbids"),
        ("guest_a", [S.AUDIT_READ], 403, "role_forbids"),
        ("owner_a", [S.PHOTOS_READ], 403, "scope_missing"),
    ],
)
def test_only_tenant_administrators_with_the_scope_read_it(
    world, events, api_client, user, scopes, status, reason
):
    response = api_client(getattr(world, user), world.acme, scopes).get(URL)
    assert response.status_code == status
    if reason:
        assert response.json()["reason"] == reason
        assert "owner_a" not in response.content.decode()


def test_another_tenants_log_is_the_answer_of_a_missing_tenant(world, events, api_client):
    client = api_client(world.owner_a, world.acme, [S.AUDIT_READ])
    other = client.get("/api/t/globex/audit/")
    missing = client.get("/api/t/no-such-tenant/audit/")
    assert other.status_code == missing.status_code == 404
    assert json_body(other) == json_body(missing)
    # A globex owner's token sees globex's events only, never acme's or the platform's.
    globex_owner = world.member_b
    Membership.objects.filter(user=globex_owner).update(role=world.role(RoleName.OWNER))
    ids = {
        e["id"]
        for e in api_client(globex_owner, world.globex, [S.AUDIT_READ])
        .get("/api/t/globex/audit/")
        .json()["results"]
    }
    assert ids == {e.pk for e in events["globex"]}


def test_a_cursor_pointing_into_another_tenant_shows_only_this_tenant(world, events, api_client):
    client = api_client(world.owner_a, world.acme, [S.AUDIT_READ])
    beyond = events["globex"][-1].pk + 1
    ids = [e["id"] for e in client.get(URL, {"cursor": encode_cursor(beyond)}).json()["results"]]
    assert set(ids) <= {e.pk for e in events["acme"]}


@pytest.mark.parametrize(
    "query",
    [
        {"cursor": "not-a-cursor"},
        {"cursor": encode_cursor(0)},
        {"cursor": "eyJiZWZvcmUiOiAieCJ9"},  # {"before": "x"}
        {"cursor": "W10"},  # []
        {"since": "yesterday"},
        {"until": "2026-13-40"},
        {"page_size": "0"},
        {"page_size": "-1"},
        {"page_size": "100000"},
    ],
)
def test_bad_input_is_a_400_that_changes_nothing(world, events, api_client, query):
    client = api_client(world.owner_a, world.acme, [S.AUDIT_READ])
    before = AuditEvent.objects.count()
    response = client.get(URL, query)
    assert response.status_code == 400, response.content
    assert response.json()["reason"] in {"invalid_cursor", "invalid_filter"}
    assert AuditEvent.objects.count() == before


def test_a_page_costs_one_query_warm(
    world, events, api_client, django_assert_num_queries, tenancy_statements
):
    client = api_client(world.owner_a, world.acme, [S.AUDIT_READ])
    client.get(URL)
    with django_assert_num_queries(1 + tenancy_statements):
        client.get(URL + "?page_size=2")
