"""Second factors (accounts.factors): enrol on the security page, sign in with them, step up, remove."""

from __future__ import annotations

import re
import time

import pytest
from django_otp.plugins.otp_static.models import StaticToken
from django_otp.plugins.otp_totp.models import TOTPDevice

from accounts import authn
from accounts.constants import AuditAction
from accounts.models import AuditEvent
from tests.accounts.factor_helpers import acceptable_code, code_for_secret, enrolled, next_code, password_step

pytestmark = pytest.mark.django_db


def test_enrolling_shows_the_secret_and_counts_after_one_good_code(world, browser_of):
    browser = browser_of(world.member_a)
    page = browser.post("/account/security/", {"action": "start"}).content.decode()
    secret = re.search(r'<code id="totp-secret">([A-Z2-7=]+)</code>', page).group(1)
    assert "otpauth://totp/Granular%20Photos%3Amember_a?secret=" + secret in page
    device = TOTPDevice.objects.get(user=world.member_a)
    assert not device.confirmed
    wrong = browser.post("/account/security/", {"action": "confirm", "device": device.pk, "code": "000000"})
    assert wrong.status_code == 400 and "That code is not right" in wrong.content.decode()
    done = browser.post(
        "/account/security/", {"action": "confirm", "device": device.pk, "code": code_for_secret(secret)}
    )
    assert done.status_code == 200
    codes = re.findall(r"<li><code>([a-z0-9]{10})</code></li>", done.content.decode())
    assert len(codes) == 10 and StaticToken.objects.filter(device__user=world.member_a).count() == 10
    device.refresh_from_db()
    assert device.confirmed
    # In the audit log (and webhook stream) of each tenant the person belongs to.
    enrolled_events = AuditEvent.objects.filter(action=AuditAction.FACTOR_ENROLLED, actor=world.member_a)
    assert [e.tenant_id for e in enrolled_events] == [world.acme.pk]
    # Proving the new factor is a second factor given now.
    assert authn.of_session(browser.session).acr == authn.MFA


def test_a_person_with_a_factor_signs_in_with_it(world):
    device, _codes = enrolled(world.member_a)
    browser = password_step(world.member_a)
    assert "_auth_user_id" not in browser.session  # not signed in on the password alone
    assert browser.get("/account/apps/").status_code == 302
    answer = browser.post("/account/login/second-factor/", {"code": next_code(device)})
    assert answer.status_code == 302 and answer["Location"] == "/account/apps/"
    assert browser.session["_auth_user_id"] == str(world.member_a.pk)
    sign_in = authn.of_session(browser.session)
    assert sign_in.acr == authn.MFA and sign_in.amr == ("pwd", "otp", "mfa")


def test_a_recovery_code_signs_in_once(world):
    _device, codes = enrolled(world.member_a)
    browser = password_step(world.member_a)
    assert browser.post("/account/login/second-factor/", {"code": codes[0].upper()}).status_code == 302
    assert StaticToken.objects.filter(device__user=world.member_a).count() == 9
    assert AuditEvent.objects.filter(action=AuditAction.RECOVERY_CODE_USED).count() == 1


def test_a_person_without_a_factor_signs_in_at_the_password_level(world):
    browser = password_step(world.member_a)
    assert browser.session["_auth_user_id"] == str(world.member_a.pk)
    assert authn.of_session(browser.session).acr == authn.PASSWORD


def test_the_next_page_survives_the_second_step(world):
    device, _ = enrolled(world.member_a)
    browser = password_step(world.member_a)
    browser.post("/account/login/", {"username": "member_a", "password": "pw", "next": "/account/tokens/"})
    answer = browser.post("/account/login/second-factor/", {"code": next_code(device)})
    assert answer["Location"] == "/account/tokens/"


def test_removing_a_factor_after_a_recent_second_factor(world):
    device, _ = enrolled(world.member_a)
    browser = password_step(world.member_a)
    browser.post("/account/login/second-factor/", {"code": next_code(device)})
    answer = browser.post("/account/security/", {"action": "remove", "device": device.pk})
    assert answer.status_code == 200 and "was removed" in answer.content.decode()
    assert not TOTPDevice.objects.filter(user=world.member_a).exists()
    assert not StaticToken.objects.filter(device__user=world.member_a).exists()  # the codes go with it
    assert AuditEvent.objects.filter(action=AuditAction.FACTOR_REMOVED, actor=world.member_a).count() == 1


def test_step_up_raises_the_session_and_returns(world, browser_of):
    device, _ = enrolled(world.member_a)
    browser = browser_of(world.member_a)  # signed in at the password level
    page = browser.get("/account/verify/?next=/account/tokens/")
    assert "Confirm it" in page.content.decode()
    answer = browser.post("/account/verify/", {"code": next_code(device), "next": "/account/tokens/"})
    assert answer.status_code == 302 and answer["Location"] == "/account/tokens/"
    assert authn.of_session(browser.session).acr == authn.MFA
    assert AuditEvent.objects.filter(action=AuditAction.SIGN_IN_STEPPED_UP).count() == 1


def test_step_up_never_sends_anyone_off_site(world, browser_of):
    device, _ = enrolled(world.member_a)
    browser = browser_of(world.member_a)
    answer = browser.post("/account/verify/", {"code": next_code(device), "next": "https://evil.example/"})
    assert answer["Location"] == "/account/security/"


def test_step_up_without_a_factor_offers_to_set_one_up(world, browser_of):
    page = browser_of(world.member_a).get("/account/verify/?next=/o/authorize/%3Fx%3D1").content.decode()
    assert "Set up an authenticator app" in page and "/account/security/?next=/o/authorize/%3Fx%3D1" in page


@pytest.mark.parametrize("drift", [-1, 0, 1])
@pytest.mark.parametrize("after", [-2, -1, 0])
def test_the_tests_code_is_accepted_whatever_the_device_learned(world, drift, after):
    """`acceptable_code` (the browser tests' codes) against the states django-otp leaves a device in:
    the drift it learned from the last code (its clock a step behind or ahead) and the last step it
    accepted (just before now, or this very step)."""
    device, _secret = enrolled(world.member_a)
    now = int(time.time()) // device.step
    TOTPDevice.objects.filter(pk=device.pk).update(drift=drift, last_t=now + drift + after)
    device.refresh_from_db()
    assert device.verify_token(acceptable_code(world.member_a))
