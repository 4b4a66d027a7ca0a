"""The admin shows album limits (consents, tokens) and the explain page shows and simulates the album step."""

from __future__ import annotations

import re

import pytest
from django.urls import reverse

from tests.albums import limit
from tests.factories import AlbumFactory, PhotoFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def admin_client(client, django_user_model):
    client.force_login(django_user_model.objects.create_superuser("root", "root@example.com", "pw"))
    return client


@pytest.fixture
def case(world, api_client):
    granted = AlbumFactory(tenant=world.acme, owner=world.member_a, name="Granted album")
    other = AlbumFactory(tenant=world.acme, owner=world.member_a, name="Other album")
    client = api_client(world.member_a, world.acme, ["photos.read"])
    limit(client.token, [granted.pk])
    return {
        "client": client,
        "granted": granted,
        "in_granted": PhotoFactory(tenant=world.acme, owner=world.member_a, album=granted),
        "in_other": PhotoFactory(tenant=world.acme, owner=world.member_a, album=other),
    }


def explained(admin_client, **params) -> tuple[int, str | None, str]:
    body = admin_client.post(reverse("admin-explain"), params).content.decode()
    match = re.search(r"\(HTTP (\d+)(?:, reason <code>(\w+)</code>)?\)", body)
    assert match, body[-3000:]
    return int(match.group(1)), match.group(2), body


def test_explain_shows_the_album_step_of_a_pasted_token(admin_client, world, case):
    params = {"token": case["client"].token.token, "tenant": world.acme.pk, "action": "photos.read"}
    params |= {"resource": "photo"}
    inside = explained(admin_client, **params, object_id=case["in_granted"].pk)
    assert inside[:2] == (200, None) and "is one of the token&#x27;s albums" in inside[2]
    outside = explained(admin_client, **params, object_id=case["in_other"].pk)
    assert outside[:2] == (404, "not_found") and "outside the token&#x27;s albums" in outside[2]
    # The API agrees.
    assert case["client"].get(f"/api/t/acme/photos/{case['in_other'].pk}/").status_code == 404


def test_explain_simulates_an_album_limit(admin_client, world, case):
    params = {"user": world.member_a.pk, "scopes": ["photos.read"], "tenant": world.acme.pk}
    params |= {"action": "photos.read", "resource": "photo", "object_id": case["in_other"].pk}
    assert explained(admin_client, **params)[:2] == (200, None)  # no limit: as today
    status, reason, body = explained(admin_client, **params, albums=str(case["granted"].pk))
    assert (status, reason) == (404, "not_found") and "<td>album</td>" in body
    assert (
        "Album ids are whole numbers."
        in admin_client.post(reverse("admin-explain"), {**params, "albums": "1, x"}).content.decode()
    )


def test_consent_and_token_screens_show_album_limits(admin_client, case):
    consents = admin_client.get(reverse("admin:scopes_consent_changelist")).content.decode()
    assert f"Granted album (#{case['granted'].pk})" in consents
    tokens = admin_client.get(reverse("admin:scopes_accesstoken_changelist")).content.decode()
    assert f"#{case['granted'].pk}" in tokens
