"""The admin says true things: our name, correct plurals, no unused Groups, only supported application
settings, a consent text with room and a preview, an explain form that needs a tenant only without a
token, one date style (the pages' "27 Nov 2026")."""

from __future__ import annotations

import datetime

import pytest
from django.test import Client
from django.utils import formats

from scopes.models import Scope
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def root(world) -> Client:
    client = Client()
    client.force_login(UserFactory(username="root", is_staff=True, is_superuser=True))
    return client


def test_the_index_is_ours_with_correct_plurals_and_no_groups(root):
    html = root.get("/admin/").content.decode()
    assert "Granular Photos administration" in html and "Django administration" not in html
    assert "Audit deliveries" in html and "deliverys" not in html
    assert "Authorization codes" in html and "ID tokens" in html
    assert "/admin/auth/group/" not in html and ">Groups<" not in html
    assert "Roles × scopes" in html  # noqa: RUF001


@pytest.mark.parametrize("path", ["/admin/explain/", "/admin/usage/", "/admin/roles/grid/"])
def test_our_own_admin_pages_carry_our_name(root, path):
    html = root.get(path).content.decode()
    assert "Granular Photos administration" in html and "Django administration" not in html


def test_a_persons_page_offers_no_groups(root, world):
    html = root.get(f"/admin/accounts/user/{world.member_a.pk}/change/").content.decode()
    assert 'name="groups"' not in html and 'name="user_permissions"' in html


def test_the_application_form_offers_only_what_the_server_supports(root):
    html = root.get("/admin/scopes/application/add/").content.decode()
    for unsupported in (
        'value="implicit"',
        'value="password"',
        'value="openid-hybrid"',
        'name="skip_authorization"',
        'name="algorithm"',
        'name="user"',
    ):
        assert unsupported not in html
    for supported in ('value="authorization-code"', 'value="client-credentials"', "Device code"):
        assert supported in html


def test_a_scopes_consent_text_has_room_and_a_preview(root):
    scope = Scope.objects.get(name="photos.delete")
    html = root.get(f"/admin/scopes/scope/{scope.pk}/change/").content.decode()
    assert '<textarea name="description"' in html and 'maxlength="300"' in html
    assert 'id="consent-preview"' in html and '<span class="scope-desc">Delete photos.</span>' in html
    assert "admin/scope_consent_preview.js" in html


def test_explain_takes_the_tenant_from_a_pasted_token(root, world, mint_token):
    token = mint_token(world.member_a, world.acme, ["photos.read"])
    answer = root.post("/admin/explain/", {"token": token.token, "action": "photos.read"})
    html = answer.content.decode()
    assert answer.status_code == 200 and "Decision:" in html and "allowed" in html
    without = root.post(
        "/admin/explain/", {"user": world.member_a.pk, "action": "photos.read"}
    ).content.decode()
    assert "Choose the tenant the call is made in" in without and "Decision:" not in without


def test_one_date_style_on_every_page():
    when = datetime.datetime(2026, 11, 27, 14, 5)
    assert formats.date_format(when.date()) == "27 Nov 2026"
    assert formats.date_format(when, "DATETIME_FORMAT") == "27 Nov 2026, 14:05"
