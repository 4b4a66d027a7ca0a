"""A tenant's second-factor rule: administrators or every member must have a second factor; a member
it covers who has none loses their grants' standing at once and is sent to set one up."""

from __future__ import annotations

from urllib.parse import urlparse

import pytest
from django.core.exceptions import ValidationError
from django_otp.plugins.otp_totp.models import TOTPDevice

from accounts.constants import AuditAction
from accounts.models import AuditEvent
from scopes.access.policy import SecondFactorRule
from scopes.constants import ScopeName
from scopes.models import AccessToken
from scopes.tenant_policy import services
from scopes.tenant_policy.models import TenantAppPolicy
from tests.accounts.factor_helpers import enrolled
from tests.oauth import Flow, refresh

pytestmark = pytest.mark.django_db

URL = "/api/t/acme/photos/"


def require(world, rule: SecondFactorRule) -> None:
    services.second_factor_rule_set(actor=world.owner_a, tenant=world.acme, rule=rule)


def test_every_member_rule_stops_a_live_token_at_once_and_enrolling_brings_it_back(world, api_client):
    client = api_client(world.member_a, world.acme, [ScopeName.PHOTOS_READ])
    assert client.get(URL).status_code == 200  # cached now
    require(world, SecondFactorRule.MEMBERS)
    refused = client.get(URL)
    assert refused.status_code == 401
    assert refused.json()["detail"] == (
        "The access token is not valid: Acme requires a second factor, and the user has not set one up."
    )
    device, _ = enrolled(world.member_a)
    assert client.get(URL).status_code == 200
    TOTPDevice.objects.filter(pk=device.pk).delete()  # a removal, whoever makes it, counts at once
    assert client.get(URL).status_code == 401


def test_the_administrators_rule_covers_only_roles_holding_tenant_admin(world, api_client):
    require(world, SecondFactorRule.ADMINS)
    member = api_client(world.member_a, world.acme, [ScopeName.PHOTOS_READ])
    admin = api_client(world.admin_a, world.acme, [ScopeName.PHOTOS_READ])
    assert member.get(URL).status_code == 200
    assert admin.get(URL).status_code == 401
    # Another tenant's members are untouched.
    assert (
        api_client(world.member_b, world.globex, [ScopeName.PHOTOS_READ])
        .get("/api/t/globex/photos/")
        .status_code
        == 200
    )


def test_the_rule_is_audited_and_only_tenant_administrators_set_it(world):
    require(world, SecondFactorRule.ADMINS)
    event = AuditEvent.objects.get(action=AuditAction.SECOND_FACTOR_POLICY_CHANGED)
    assert event.before == {"second_factor": ""} and event.after == {"second_factor": "admins"}
    assert event.tenant_id == world.acme.pk
    with pytest.raises(ValidationError):
        services.second_factor_rule_set(actor=world.member_a, tenant=world.acme, rule=SecondFactorRule.NOBODY)
    with pytest.raises(ValidationError):
        services.second_factor_rule_set(actor=world.owner_a, tenant=world.acme, rule="sometimes")
    assert TenantAppPolicy.objects.for_tenant(world.acme).get().second_factor == "admins"


def test_the_tenant_page_sets_the_rule(world, browser_of):
    answer = browser_of(world.admin_a).post("/account/org/acme/policy/", {"second_factor": "members"})
    assert answer.status_code == 302
    assert TenantAppPolicy.objects.for_tenant(world.acme).get().second_factor == "members"
    page = browser_of(world.admin_a).get("/account/org/acme/").content.decode()
    assert 'name="second_factor" value="members" checked' in page


def test_a_member_without_a_factor_is_sent_to_set_one_up_before_consent(world, gallery, browser_of):
    require(world, SecondFactorRule.MEMBERS)
    browser = browser_of(world.member_a)
    response = Flow(browser, gallery.client_id, "photos.read").start()
    assert response.status_code == 302 and urlparse(response["Location"]).path == "/account/verify/"
    assert "Set up an authenticator app" in browser.get(response["Location"]).content.decode()
    silent = Flow(browser, gallery.client_id, "photos.read", extra={"prompt": "none"})
    assert Flow.redirect_params(silent.start())["error"] == "interaction_required"


def test_a_member_with_a_factor_consents_as_before(world, gallery, browser_of):
    require(world, SecondFactorRule.MEMBERS)
    enrolled(world.member_a)
    flow = Flow(browser_of(world.member_a), gallery.client_id, "photos.read")
    assert flow.exchange(flow.authorize()).status_code == 200


def test_a_refresh_is_refused_while_the_member_has_no_factor(world, gallery, browser_of):
    flow = Flow(browser_of(world.member_a), gallery.client_id, "photos.read offline_access")
    tokens = flow.exchange(flow.authorize()).json()
    require(world, SecondFactorRule.MEMBERS)
    assert refresh(gallery.client_id, tokens["refresh_token"]).json()["error"] == "invalid_grant"
    assert AccessToken.objects.count() == 1
