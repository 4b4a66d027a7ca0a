"""Attacks on resetting members' factors: a member, an administrator of another tenant, a weaker
administrator resetting a stronger member, and no recent second factor: nothing changes."""

from __future__ import annotations

import pytest

from accounts.models import Membership
from tests.accounts.factor_helpers import enrolled, next_code
from tests.scopes.tenant_policy.invitation_helpers import coordinator

pytestmark = [pytest.mark.django_db, pytest.mark.attack]


def reset(browser, slug: str, user_id: int):
    return browser.post(f"/account/org/{slug}/members/{user_id}/factors/reset/")


def stepped_up(browser_of, user):
    device, _ = enrolled(user)
    browser = browser_of(user)
    browser.post("/account/verify/", {"code": next_code(device)})
    return browser


def test_a_member_cannot_reset_anyones_factors(world, browser_of, unchanged):
    enrolled(world.member2_a)
    browser = stepped_up(browser_of, world.member_a)
    with unchanged():
        assert reset(browser, "acme", world.member2_a.pk).status_code == 404


def test_another_tenants_administrator_cannot(world, browser_of, unchanged):
    enrolled(world.member_a)
    Membership.objects.filter(user=world.member_b).update(role=world.role("Admin"))
    browser = stepped_up(browser_of, world.member_b)
    with unchanged():
        assert reset(browser, "globex", world.member_a.pk).status_code == 404
        assert reset(browser, "acme", world.member_a.pk).status_code == 404


def test_a_weaker_administrator_cannot_reset_a_stronger_member(world, browser_of, unchanged):
    enrolled(world.member_a)
    browser = stepped_up(browser_of, coordinator(world))
    with unchanged():
        answer = reset(browser, "acme", world.member_a.pk)
    assert answer.status_code == 302 and answer["Location"] == "/account/org/acme/"


def test_no_recent_second_factor_no_reset(world, browser_of, unchanged):
    enrolled(world.member_a)
    browser = browser_of(world.admin_a)
    with unchanged():
        assert reset(browser, "acme", world.member_a.pk)["Location"].startswith("/account/verify/")
