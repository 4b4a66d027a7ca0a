"""Attacks on second factors: skipping the second step, removing a factor from a borrowed session,
reusing a recovery code, guessing TOTP codes, and the admin's sign-in as a side door."""

from __future__ import annotations

import pytest
from django.test import Client

from accounts import authn
from tests.accounts.factor_helpers import enrolled, next_code, password_step

pytestmark = [pytest.mark.django_db, pytest.mark.attack]


def test_the_password_alone_signs_nobody_in(world, unchanged):
    enrolled(world.member_a)
    with unchanged():  # last_login would change on a sign-in
        browser = password_step(world.member_a)
    assert "_auth_user_id" not in browser.session
    assert browser.get("/account/security/").status_code == 302


def test_the_admin_sign_in_asks_for_the_factor_too(world, unchanged):
    world.member_a.is_staff = True
    world.member_a.save()
    enrolled(world.member_a)
    browser = Client()
    with unchanged():
        answer = browser.post("/admin/login/", {"username": "member_a", "password": "pw"})
    assert answer.status_code == 302 and answer["Location"] == "/account/login/second-factor/"
    assert "_auth_user_id" not in browser.session


def test_the_second_step_without_the_first_is_sent_back(world, unchanged):
    device, _ = enrolled(world.member_a)
    browser = Client()
    with unchanged():
        answer = browser.post("/account/login/second-factor/", {"code": next_code(device)})
    assert answer.status_code == 302 and answer["Location"] == "/account/login/"
    assert "_auth_user_id" not in browser.session


def test_removing_a_factor_needs_a_recent_second_factor(world, browser_of, unchanged):
    """A borrowed session (signed in long ago, or at the password level) cannot remove the factor."""
    device, _ = enrolled(world.member_a)
    browser = browser_of(world.member_a)
    with unchanged():
        answer = browser.post("/account/security/", {"action": "remove", "device": device.pk})
        recovery = browser.post("/account/security/", {"action": "recovery"})
        adding = browser.post("/account/security/", {"action": "start"})
    for refused in (answer, recovery, adding):
        assert refused.status_code == 302 and refused["Location"].startswith("/account/verify/?next=")


def test_a_second_factor_given_too_long_ago_does_not_remove_a_factor(world, unchanged):
    device, _ = enrolled(world.member_a)
    browser = password_step(world.member_a)
    browser.post("/account/login/second-factor/", {"code": next_code(device)})
    session = browser.session
    session[authn.SESSION_KEY]["auth_time"] -= 601
    session.save()
    with unchanged():
        answer = browser.post("/account/security/", {"action": "remove", "device": device.pk})
    assert answer.status_code == 302


def test_another_persons_factor_cannot_be_removed(world, unchanged):
    theirs, _ = enrolled(world.member2_a)
    mine, _ = enrolled(world.member_a)
    browser = password_step(world.member_a)
    browser.post("/account/login/second-factor/", {"code": next_code(mine)})
    with unchanged():
        answer = browser.post("/account/security/", {"action": "remove", "device": theirs.pk})
    assert answer.status_code == 400


def test_a_recovery_code_works_once(world, unchanged):
    _device, codes = enrolled(world.member_a)
    first = password_step(world.member_a)
    assert first.post("/account/login/second-factor/", {"code": codes[0]}).status_code == 302
    second = password_step(world.member_a)
    answer = second.post("/account/login/second-factor/", {"code": codes[0]})
    assert answer.status_code == 400 and "_auth_user_id" not in second.session


def test_a_totp_code_works_once(world):
    device, _ = enrolled(world.member_a)
    code = next_code(device)
    assert (
        password_step(world.member_a).post("/account/login/second-factor/", {"code": code}).status_code == 302
    )
    replay = password_step(world.member_a)
    assert replay.post("/account/login/second-factor/", {"code": code}).status_code == 400


def test_guessing_codes_is_limited_per_account(world, settings, unchanged):
    settings.RATE_LIMITS = {**settings.RATE_LIMITS, "second-factor-user": (5, 900)}
    device, _ = enrolled(world.member_a)
    browser = password_step(world.member_a)
    for guess in range(5):
        assert browser.post("/account/login/second-factor/", {"code": f"{guess:06d}"}).status_code == 400
    right = next_code(device)
    with unchanged():  # refused before any device is asked: nothing is used up, nobody signed in
        answer = browser.post("/account/login/second-factor/", {"code": right})
    assert answer.status_code == 429 and int(answer["Retry-After"]) > 0
    assert "_auth_user_id" not in browser.session
    # A new password step does not open a new bucket: the limit is the account's.
    again = password_step(world.member_a)
    assert again.post("/account/login/second-factor/", {"code": right}).status_code == 429


def test_the_step_up_page_is_limited_the_same_way(world, settings, browser_of, unchanged):
    settings.RATE_LIMITS = {**settings.RATE_LIMITS, "second-factor-user": (3, 900)}
    device, _ = enrolled(world.member_a)
    browser = browser_of(world.member_a)
    for guess in range(3):
        assert browser.post("/account/verify/", {"code": f"{guess:06d}"}).status_code == 400
    with unchanged():
        assert browser.post("/account/verify/", {"code": next_code(device)}).status_code == 429
    assert authn.of_session(browser.session).acr == authn.PASSWORD


def test_a_forged_session_level_is_not_read_as_a_second_factor(world, browser_of):
    browser = browser_of(world.member_a)
    session = browser.session
    session[authn.SESSION_KEY] = {"acr": "root", "amr": ["pwd"], "auth_time": "soon"}
    session.save()
    assert authn.rank(authn.of_session(browser.session).acr) == 0
