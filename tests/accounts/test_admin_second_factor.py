"""ADMIN_REQUIRES_SECOND_FACTOR: the admin opens only to a session that gave a second factor."""

from __future__ import annotations

import pytest

from tests.accounts.factor_helpers import enrolled, next_code, password_step

pytestmark = pytest.mark.django_db


@pytest.fixture
def staff(world, settings):
    settings.ADMIN_REQUIRES_SECOND_FACTOR = True
    world.admin_a.is_staff = True
    world.admin_a.save()
    return world.admin_a


def test_staff_without_a_factor_are_sent_to_set_one_up(staff, browser_of):
    answer = browser_of(staff).get("/admin/scopes/scope/")
    assert (
        answer.status_code == 302
        and answer["Location"] == "/account/security/?next=%2Fadmin%2Fscopes%2Fscope%2F"
    )


def test_staff_with_a_factor_but_a_password_session_give_it_first(staff, browser_of):
    device, _ = enrolled(staff)
    browser = browser_of(staff)
    assert browser.get("/admin/")["Location"] == "/account/verify/?next=%2Fadmin%2F"
    browser.post("/account/verify/", {"code": next_code(device), "next": "/admin/"})
    assert browser.get("/admin/").status_code == 200


def test_a_sign_in_with_the_factor_opens_the_admin(staff):
    device, _ = enrolled(staff)
    browser = password_step(staff)
    browser.post("/account/login/second-factor/", {"code": next_code(device)})
    assert browser.get("/admin/").status_code == 200


def test_the_admin_sign_in_page_stays_open_and_the_setting_is_off_by_default(world, browser_of, settings):
    settings.ADMIN_REQUIRES_SECOND_FACTOR = True
    assert browser_of(world.member_a).get("/admin/login/").status_code == 200
    settings.ADMIN_REQUIRES_SECOND_FACTOR = False
    world.admin_a.is_staff = True
    world.admin_a.save()
    assert browser_of(world.admin_a).get("/admin/").status_code == 200
