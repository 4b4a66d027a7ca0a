"""Usage by day: recorded from the decision point, once per key, day and process, never on a warm request."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from accounts import background
from scopes.constants import ScopeName as S
from scopes.usage import recorder
from scopes.usage.models import ScopeUsage

pytestmark = pytest.mark.django_db


def _usage() -> set[tuple[str, str, str, date]]:
    background.flush()  # what the process's bookkeeping thread writes every few seconds
    return set(ScopeUsage.objects.values_list("tenant__slug", "user__username", "scope", "last_used"))


def test_no_request_writes_usage_the_batch_writes_one_upsert(
    world, gallery, api_client, django_assert_num_queries, tenancy_statements
):
    client = api_client(world.member_a, world.acme, [S.PHOTOS_READ], application=gallery)
    # Cold: the registry, the context and the page: reads only, the use is noted in memory.
    with django_assert_num_queries(3 + tenancy_statements):
        assert client.get("/api/t/acme/photos/").status_code == 200
    assert not ScopeUsage.objects.exists()
    # Warm, the same day: the page only; usage costs a set lookup.
    for _ in range(3):
        with django_assert_num_queries(1 + tenancy_statements):
            assert client.get("/api/t/acme/photos/").status_code == 200
    # The batch: ONE write statement for every key noted (and, on PostgreSQL, entering its tenants).
    with CaptureQueriesContext(connection) as batch:
        assert recorder.flush() == 1
    writes = [
        q["sql"] for q in batch.captured_queries if q["sql"].lstrip().upper().startswith(("INSERT", "UPDATE"))
    ]
    assert len(writes) == 1 and "ON CONFLICT" in writes[0]
    assert _usage() == {("acme", "member_a", "photos.read", timezone.now().date())}
    assert ScopeUsage.objects.count() == 1
    assert recorder.flush() == 0  # nothing noted since


def test_each_key_is_written_once_and_refusals_record_nothing(world, gallery, api_client):
    client = api_client(world.member_a, world.acme, [S.PHOTOS_READ, S.ALBUMS_READ], application=gallery)
    other = api_client(world.member2_a, world.acme, [S.PHOTOS_READ], application=gallery)
    client.get("/api/t/acme/photos/")
    client.get("/api/t/acme/albums/")
    other.get("/api/t/acme/photos/")
    assert client.delete("/api/t/acme/photos/1/").status_code == 403  # scope_missing: not exercised
    guest = api_client(world.guest_a, world.acme, [S.PHOTOS_READ], application=gallery)
    assert guest.get("/api/t/acme/photos/999/").status_code == 404  # past the decision, still no use
    today = timezone.now().date()
    assert _usage() == {
        ("acme", "member_a", "photos.read", today),
        ("acme", "member_a", "albums.read", today),
        ("acme", "member2_a", "photos.read", today),
    }


def test_an_album_named_in_input_is_a_use_of_albums_read(world, gallery, api_client):
    client = api_client(world.member_a, world.acme, [S.PHOTOS_READ, S.ALBUMS_READ], application=gallery)
    assert client.get("/api/t/acme/photos/?album=999").status_code == 200
    assert {scope for _t, _u, scope, _d in _usage()} == {"photos.read", "albums.read"}


def test_a_new_day_writes_again_and_moves_the_date(world, gallery, api_client, monkeypatch):
    client = api_client(world.member_a, world.acme, [S.PHOTOS_READ], application=gallery)
    yesterday = timezone.now().date() - timedelta(days=1)
    monkeypatch.setattr(recorder, "today", lambda: yesterday)
    client.get("/api/t/acme/photos/")
    background.flush()
    assert ScopeUsage.objects.get().last_used == yesterday
    monkeypatch.undo()
    client.get("/api/t/acme/photos/")
    background.flush()
    assert ScopeUsage.objects.get().last_used == timezone.now().date()
