"""What the end-user pages say is true: a Member deletes only their own photos, a part quotes its own
reason, a tick means "allowed" on Connected apps as on the consent page, and a personal token is
offered only what a token can carry, with a way to ask for the rest."""

from __future__ import annotations

import re

import pytest
from django.core.exceptions import ValidationError
from django.test import Client

from scopes.consent.rules import AppScope, plan_consent
from scopes.machines.models import ServiceAccount
from scopes.machines.services import personal_token_create, service_account_create
from scopes.models import AccessToken, ApplicationScope, Consent, Scope
from tests.oauth import Flow

pytestmark = pytest.mark.django_db

GRAPH = {
    "albums.write": frozenset({"albums.read"}),
    "photos.write": frozenset({"photos.delete", "photos.read"}),
}


def test_a_part_offered_for_a_composite_quotes_its_own_reason_or_none():
    plan = plan_consent(
        requested=["albums.write", "photos.write"],
        app_scopes={
            "albums.write": AppScope(reason="to build albums for you"),
            "albums.read": AppScope(reason="to show albums"),
            "photos.write": AppScope(reason="to manage photos"),
        },
        role_covered=frozenset({"albums.read", "photos.read"}),
        implications=GRAPH,
        descriptions={},
        role_label="Guest",
        tenant_label="Acme",
    )
    lines = {line.name: line for line in plan.offered}
    assert lines["albums.read"].reason == "to show albums" and lines["albums.read"].part_of == "albums.write"
    assert lines["photos.read"].reason == ""  # the app gave none for the part itself


def test_a_line_the_role_allows_only_on_own_objects_says_so():
    plan = plan_consent(
        requested=["photos.delete", "photos.read"],
        app_scopes={"photos.delete": AppScope(), "photos.read": AppScope()},
        role_covered=frozenset({"photos.delete", "photos.read"}),
        implications=GRAPH,
        descriptions={},
        role_label="Member",
        tenant_label="Acme",
        own_only=frozenset({"photos.delete"}),
    )
    assert {line.name: line.own_only for line in plan.offered} == {
        "photos.delete": True,
        "photos.read": False,
    }


@pytest.fixture
def gallery(world):
    for name in ("photos.read", "photos.delete", "albums.read", "profile.read"):
        ApplicationScope.objects.create(application=world.app, scope=Scope.objects.get(name=name))
    return world.app


def test_the_consent_page_tells_a_member_delete_is_only_their_own(world, gallery, browser_of):
    page = Flow(
        browser_of(world.member_a), gallery.client_id, "photos.delete photos.read profile.read"
    ).start()
    assert page.status_code == 200
    html = page.content.decode()
    start = html.index('value="photos.delete"')
    line = html[start : html.index("</li>", start)]
    assert "Only your own: your role Member in Acme allows this on what you own." in line
    read = html[html.index('value="photos.read"') :]
    assert "Only your own" not in read[: read.index("</li>")]
    profile = html[html.index('value="profile.read"') :]
    assert "Only your own" not in profile[: profile.index("</li>")]  # a person's own profile: no objects


def test_on_connected_apps_a_tick_means_allowed_and_untick_takes_back(world, gallery, browser_of, mint_token):
    token = mint_token(world.member_a, world.acme, ["photos.read", "albums.read"], application=gallery)
    consent = Consent.objects.get(user=world.member_a, tenant=world.acme, application=gallery)
    browser = browser_of(world.member_a)
    html = browser.get("/account/apps/").content.decode()
    assert re.search(r'<input type="checkbox" name="keep" value="albums.read" id="[^"]+" checked>', html)
    # The page showed both; albums.read was unticked, so only it is taken back.
    browser.post(
        f"/account/apps/{consent.pk}/remove-scopes/",
        {"shown": ["albums.read", "photos.read"], "keep": ["photos.read"]},
    )
    token.refresh_from_db()
    assert token.scope == "photos.read"
    assert sorted(consent.scopes.values_list("name", flat=True)) == ["photos.read"]


def test_a_scope_granted_after_the_page_was_shown_is_not_taken_back(world, gallery, browser_of, mint_token):
    mint_token(world.member_a, world.acme, ["photos.read", "albums.read"], application=gallery)
    consent = Consent.objects.get(user=world.member_a, tenant=world.acme, application=gallery)
    browser = browser_of(world.member_a)
    # The page showed photos.read only (albums.read came later); everything shown stays ticked.
    browser.post(
        f"/account/apps/{consent.pk}/remove-scopes/", {"shown": ["photos.read"], "keep": ["photos.read"]}
    )
    assert sorted(consent.scopes.values_list("name", flat=True)) == ["albums.read", "photos.read"]


def test_someone_elses_consent_is_not_found_and_unchanged(world, gallery, mint_token):
    mint_token(world.member_a, world.acme, ["photos.read"], application=gallery)
    consent = Consent.objects.get(user=world.member_a, tenant=world.acme, application=gallery)
    intruder = Client()
    intruder.force_login(world.member_b)
    answer = intruder.post(f"/account/apps/{consent.pk}/remove-scopes/", {"shown": ["photos.read"]})
    assert answer.status_code == 404
    assert list(consent.scopes.values_list("name", flat=True)) == ["photos.read"]


def test_personal_tokens_are_offered_no_sign_in_scope_and_a_way_to_ask(world, browser_of):
    html = browser_of(world.guest_a).get("/account/tokens/").content.decode()
    for name in ("openid", "profile", "email", "tenant.admin", "offline_access"):
        assert f"<code>{name}</code>" not in html
    assert 'data-ask="photos.delete"' in html and "Ask for this" in html
    assert "/account/requests/new/?tenant=acme&amp;kind=scope&amp;scope=photos.delete" in html


@pytest.mark.parametrize("scope", ["openid", "email", "profile", "tenant.admin"])
def test_a_machine_token_cannot_carry_sign_in_scopes_or_tenant_admin(world, scope):
    before = (AccessToken.objects.count(), ServiceAccount.objects.count())
    with pytest.raises(ValidationError, match="cannot carry"):
        personal_token_create(actor=world.admin_a, tenant=world.acme, name="x", scopes=[scope], days=1)
    with pytest.raises(ValidationError, match="cannot carry"):
        service_account_create(
            actor=world.admin_a, tenant=world.acme, name="x", role=world.role("Member"), scopes=[scope]
        )
    assert (AccessToken.objects.count(), ServiceAccount.objects.count()) == before
