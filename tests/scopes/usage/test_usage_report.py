"""The usage report, the preview of narrowing, and the shrink that live tokens obey at their next call."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from accounts import background
from accounts.constants import AuditAction
from accounts.models import AuditEvent
from scopes.constants import ScopeName as S
from scopes.models import ApplicationScope
from scopes.usage import preview
from scopes.usage.models import ScopeUsage
from scopes.usage.selectors import usage_report
from scopes.usage.services import application_scopes_narrow
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db

URL = "/admin/usage/"


@pytest.fixture
def superuser():
    return UserFactory(username="root", is_staff=True, is_superuser=True)


def _allowed(app) -> set[str]:
    return set(ApplicationScope.objects.filter(application=app).values_list("scope__name", flat=True))


def test_report_lists_never_used_unused_and_used_scopes(world, gallery, api_client):
    client = api_client(world.member_a, world.acme, [S.PHOTOS_READ], application=gallery)
    client.get("/api/t/acme/photos/")
    background.flush()
    today = timezone.now().date()
    ScopeUsage.objects.create(
        tenant=world.acme, application=gallery, user=world.member2_a, scope=S.ALBUMS_READ,
        last_used=today - timedelta(days=120),
    )  # fmt: skip
    lines = {line.scope: line for line in usage_report(application=gallery, tenant=world.acme, today=today)}
    assert lines["photos.read"].days_unused == 0 and not lines["photos.read"].unused_for(90)
    # A composite counts its parts: photos.write was exercised through photos.read.
    assert lines["photos.write"].last_used == today
    assert lines["albums.read"].days_unused == 120 and lines["albums.read"].unused_for(90)
    assert lines["albums.write"].last_used == today - timedelta(days=120)  # through albums.read
    assert lines["photos.delete"].never_used and lines["photos.delete"].unused_for(90)
    # In another tenant nothing was used.
    assert all(
        line.never_used for line in usage_report(application=gallery, tenant=world.globex, today=today)
    )


def test_report_page_is_for_superusers(world, gallery, browser_of, superuser):
    assert browser_of(world.owner_a).get(URL).status_code in (302, 403)
    page = browser_of(superuser).get(URL, {"application": gallery.pk, "tenant": world.acme.pk, "days": 30})
    assert page.status_code == 200
    assert b"never used" in page.content


def test_preview_then_shrink_refuses_the_live_token_with_the_standard_answer(
    world, gallery, api_client, browser_of, superuser
):
    client = api_client(world.member_a, world.acme, [S.PHOTOS_READ, S.PHOTOS_DELETE], application=gallery)
    assert client.get("/api/t/acme/photos/").status_code == 200  # warms the cached context
    admin = browser_of(superuser)
    query = f"?application={gallery.pk}&tenant={world.acme.pk}&days=90"
    page = admin.post(URL + query, {"scope": [S.PHOTOS_DELETE, S.PHOTOS_WRITE]})
    assert page.status_code == 200
    result = page.context["preview"]
    lost = {change.scope: change.summary for change in result.changes}
    assert set(lost) == {"photos.delete"}
    assert lost["photos.delete"]["tokens_lost"] == 1 and lost["photos.delete"]["users_lost"] == 1
    assert "photos.delete" in _allowed(gallery)  # a preview saves nothing
    assert not AuditEvent.objects.filter(action=AuditAction.APPLICATION_SCOPES_NARROWED).exists()

    page = admin.post(URL + query, {"scope": [S.PHOTOS_DELETE, S.PHOTOS_WRITE], "confirm": "1"})
    assert page.status_code == 302
    assert not {"photos.delete", "photos.write"} & _allowed(gallery)
    event = AuditEvent.objects.get(action=AuditAction.APPLICATION_SCOPES_NARROWED)
    assert event.after["removed"] == ["photos.delete", "photos.write"]
    response = client.delete("/api/t/acme/photos/1/")
    assert response.status_code == 403
    assert response.json()["reason"] == "scope_missing"
    assert 'error="insufficient_scope", scope="photos.delete"' in response["WWW-Authenticate"]
    assert client.get("/api/t/acme/photos/").status_code == 200


def test_only_superusers_narrow_and_unknown_scopes_change_nothing(world, gallery, superuser):
    from django.core.exceptions import PermissionDenied, ValidationError

    before = _allowed(gallery)
    with pytest.raises(PermissionDenied):
        application_scopes_narrow(actor=world.owner_a, application=gallery, remove=[S.PHOTOS_DELETE])
    with pytest.raises(ValidationError):
        application_scopes_narrow(actor=superuser, application=gallery, remove=["no.such"])
    assert _allowed(gallery) == before


def _statements(run) -> int:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    with CaptureQueriesContext(connection) as captured:
        run()
    return len(captured.captured_queries)


def test_preview_costs_the_same_statements_for_more_tokens(world, gallery, mint_token, superuser):
    def run():
        preview.preview_of(
            preview.for_application(gallery.pk),
            lambda: application_scopes_narrow(actor=superuser, application=gallery, remove=[S.PHOTOS_DELETE]),
        )

    mint_token(world.member_a, world.acme, [S.PHOTOS_DELETE], application=gallery)
    run()  # the registry, read once per process
    few = _statements(run)
    for user in (world.member2_a, world.admin_a, world.owner_a, world.guest_a) * 5:
        mint_token(user, world.acme, [S.PHOTOS_DELETE, S.PHOTOS_READ], application=gallery)
    assert _statements(run) == few <= 16


def test_removing_a_part_the_app_still_holds_through_a_composite_changes_nothing(
    world, gallery, mint_token, superuser
):
    mint_token(world.member_a, world.acme, [S.PHOTOS_DELETE], application=gallery)
    result = preview.preview_of(
        preview.for_application(gallery.pk),
        lambda: application_scopes_narrow(actor=superuser, application=gallery, remove=[S.PHOTOS_DELETE]),
    )
    assert result.empty and result.tokens_judged == 1  # photos.write still covers photos.delete


def test_preview_numbers_equal_what_the_api_then_does(
    world, gallery, api_client, django_assert_max_num_queries
):
    tokens = [
        api_client(user, world.acme, [S.PHOTOS_READ, S.PHOTOS_DELETE, S.ALBUMS_READ], application=gallery)
        for user in (world.member_a, world.member2_a, world.admin_a, world.guest_a)
    ]
    superuser = UserFactory(username="root2", is_superuser=True, is_staff=True)
    selection = preview.for_application(gallery.pk)
    # Bounded: the same number of statements for 4 tokens as it would be for 4,000.
    with django_assert_max_num_queries(16):
        result = preview.preview_of(
            selection,
            lambda: application_scopes_narrow(
                actor=superuser, application=gallery, remove=[S.PHOTOS_DELETE, S.PHOTOS_WRITE]
            ),
        )
    change = {c.scope: c.summary for c in result.changes}
    # The guest's token never could delete (role): it loses nothing.
    assert change == {"photos.delete": change["photos.delete"]}
    assert change["photos.delete"]["tokens_lost"] == 3
    before = {c.token.pk: c.delete("/api/t/acme/photos/1/").json().get("reason") for c in tokens}
    application_scopes_narrow(actor=superuser, application=gallery, remove=[S.PHOTOS_DELETE, S.PHOTOS_WRITE])
    after = {c.token.pk: c.delete("/api/t/acme/photos/1/").json().get("reason") for c in tokens}
    refused = {"scope_missing", "role_forbids"}  # the collection's refusals (the photo does not exist: 404)
    changed = [pk for pk in before if before[pk] not in refused and after[pk] in refused]
    assert len(changed) == change["photos.delete"]["tokens_lost"]
