"""The admin's explain page agrees with the API, case by case, because both ask `decide_for`."""

import re

import pytest
from django.urls import reverse

from tests.factories import PhotoFactory

CASES = [
    # (who, token scopes, method, action scope, whose photo, url tenant, expected status, expected reason)
    ("member_a", ["photos.read"], "get", "photos.read", "other", "acme", 200, None),
    ("member_a", ["photos.delete"], "delete", "photos.delete", "own", "acme", 204, None),
    ("member_a", ["photos.read"], "delete", "photos.delete", "own", "acme", 403, "scope_missing"),
    ("guest_a", ["photos.delete"], "delete", "photos.delete", "own", "acme", 403, "role_forbids"),
    ("member_a", ["photos.delete"], "delete", "photos.delete", "other", "acme", 403, "not_owner"),
    ("member_a", ["photos.read"], "get", "photos.read", "globex", "acme", 404, "not_found"),
    ("member_a", ["photos.read"], "get", "photos.read", "other", "globex", 404, "tenant_not_found"),
]


@pytest.fixture
def admin_client(client, django_user_model):
    client.force_login(django_user_model.objects.create_superuser("root", "root@example.com", "pw"))
    return client


def _explained(admin_client, **params) -> tuple[int, str | None, str]:
    body = admin_client.post(reverse("admin-explain"), params).content.decode()
    match = re.search(r"\(HTTP (\d+)(?:, reason <code>(\w+)</code>)?\)", body)
    assert match, body[-3000:]
    return int(match.group(1)), match.group(2), body


@pytest.mark.parametrize(
    ("who", "scopes", "method", "action", "whose", "url_tenant", "status", "reason"), CASES
)
def test_explain_agrees_with_the_api(
    admin_client, world, api_client, who, scopes, method, action, whose, url_tenant, status, reason
):
    user = getattr(world, who)
    owner, tenant = {
        "own": (user, world.acme),
        "other": (world.member2_a, world.acme),
        "globex": (world.member_b, world.globex),
    }[whose]
    photo = PhotoFactory(tenant=tenant, owner=owner)
    client = api_client(user, world.acme, scopes)
    raw = client.token.token
    params = {
        "token": raw,
        "tenant": getattr(world, url_tenant).pk,
        "action": action,
        "resource": "photo",
        "object_id": photo.pk,
    }
    explained_status, explained_reason, body = _explained(admin_client, **params)
    # The same case chosen by user and scopes instead of a pasted token gives the same answer.
    by_choice = {k: v for k, v in params.items() if k != "token"} | {"user": user.pk, "scopes": scopes}
    assert _explained(admin_client, **by_choice)[:2] == (explained_status, explained_reason)

    response = getattr(client, method)(f"/api/t/{url_tenant}/photos/{photo.pk}/")
    assert response.status_code == status
    api_reason = response.json().get("reason") if response.content else None
    expected_explain_status = 200 if status == 204 else status
    assert (explained_status, explained_reason) == (expected_explain_status, reason)
    if reason in {"scope_missing", "role_forbids", "not_owner"}:
        assert api_reason == reason
    assert '<table id="trace">' in body


def test_explain_shows_the_consent_page_offer(admin_client, world, gallery):
    _status, _reason, body = _explained(
        admin_client,
        user=world.guest_a.pk,
        tenant=world.acme.pk,
        application=gallery.pk,
        scopes=["photos.read", "photos.delete"],
        action="photos.delete",
    )
    assert "offered: <code>photos.read</code>" in body
    assert "unavailable: <code>photos.delete</code>" in body
    assert "Your role Guest in Acme does not allow this: delete photos." in body


def test_explain_with_an_unknown_token_says_so(admin_client, world):
    body = admin_client.post(
        reverse("admin-explain"), {"token": "nope", "tenant": world.acme.pk, "action": "photos.read"}
    ).content.decode()
    assert "No such token" in body


def test_explain_is_for_staff_only(client, world):
    client.force_login(world.member_a)
    response = client.get(reverse("admin-explain"))
    assert response.status_code == 302 and "/admin/login/" in response["Location"]


def test_explain_shows_the_sign_in_step_as_the_api_answers_it(admin_client, world, api_client):
    """A scope that needs a recent second factor: the trace's sign_in step, for a pasted token and
    for a chosen case (which has no recorded sign-in), agreeing with the API."""
    from django.utils import timezone

    from scopes.models import Scope

    Scope.objects.filter(name="photos.delete").update(required_acr="mfa", max_age=600)
    photo = PhotoFactory(tenant=world.acme, owner=world.member_a)
    client = api_client(
        world.member_a, world.acme, ["photos.delete"], acr="password", auth_time=timezone.now()
    )
    assert client.delete(f"/api/t/acme/photos/{photo.pk}/").status_code == 401
    params = {"tenant": world.acme.pk, "action": "photos.delete", "resource": "photo", "object_id": photo.pk}
    status, reason, body = _explained(admin_client, token=client.token.token, **params)
    assert (status, reason) == (401, "insufficient_user_authentication")
    assert "<td>sign_in</td>" in body and "a password, just now" in body
    chosen = _explained(admin_client, user=world.member_a.pk, scopes=["photos.delete"], **params)
    assert chosen[:2] == (401, "insufficient_user_authentication")
    assert "no recorded sign-in" in chosen[2]
