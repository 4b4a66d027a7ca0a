"""Tenant administrators see their members' second factors (never a secret) and reset them for a
member who lost their device, under the escalation rule and after their own second factor."""

from __future__ import annotations

import pytest
from django.core.exceptions import ValidationError
from django.utils import timezone
from django_otp.plugins.otp_totp.models import TOTPDevice

from accounts import authn, factors
from accounts.constants import AuditAction
from accounts.models import AuditEvent
from scopes.tenant_policy import services
from tests.accounts.factor_helpers import enrolled, next_code
from tests.factories import MembershipFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def stepped_up_admin(world, browser_of):
    """admin_a's browser, with a second factor given just now."""
    device, _ = enrolled(world.admin_a)
    browser = browser_of(world.admin_a)
    browser.post("/account/verify/", {"code": next_code(device)})
    return browser


def test_the_page_shows_factors_but_no_secret(world, browser_of):
    device, codes = enrolled(world.member_a)
    page = browser_of(world.admin_a).get("/account/org/acme/").content.decode()
    row = page.split('data-member="member_a"')[1].split("</tr>")[0]
    assert "<td>1</td>" in row and "<td>10</td>" in row
    assert device.key not in page and codes[0] not in page


def test_an_administrator_resets_a_members_factors(world, stepped_up_admin):
    enrolled(world.member_a)
    answer = stepped_up_admin.post(f"/account/org/acme/members/{world.member_a.pk}/factors/reset/")
    assert answer.status_code == 302 and answer["Location"] == "/account/org/acme/"
    assert not factors.has_second_factor(world.member_a) and factors.recovery_codes_left(world.member_a) == 0
    event = AuditEvent.objects.get(action=AuditAction.FACTORS_RESET)
    assert event.actor_id == world.admin_a.pk and event.tenant_id == world.acme.pk
    assert event.target_id == str(world.member_a.pk)


def test_without_a_recent_second_factor_the_administrator_is_asked_for_it(world, browser_of):
    enrolled(world.member_a)
    answer = browser_of(world.admin_a).post(f"/account/org/acme/members/{world.member_a.pk}/factors/reset/")
    assert answer.status_code == 302 and answer["Location"].startswith("/account/verify/?next=")
    assert factors.has_second_factor(world.member_a)


def test_the_escalation_rule_and_other_tenants_apply(world):
    enrolled(world.owner_a)
    enrolled(world.member_b)
    MembershipFactory(user=world.member_b, tenant=world.acme, role=world.role("Member"))
    coordinator_cases = [
        (world.member_a, world.owner_a, "not_tenant_admin"),  # a member administers nothing
        (world.admin_a, world.admin_a, "self"),  # their own: the security page
        (world.admin_a, world.member_b, "elsewhere"),  # also a member of globex
    ]
    fresh = authn.SignIn(acr=authn.MFA, amr=("pwd", "otp", "mfa"), auth_time=timezone.now())
    for actor, target, code in coordinator_cases:
        with pytest.raises(ValidationError) as refused:
            services.member_factors_reset(actor=actor, tenant=world.acme, user=target, sign_in=fresh)
        assert refused.value.code == code
    assert TOTPDevice.objects.filter(user=world.owner_a).exists()
    assert TOTPDevice.objects.filter(user=world.member_b).exists()
