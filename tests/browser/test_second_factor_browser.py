"""Second factors in a real browser (Chromium): enrol an authenticator app, sign in with it, and
step up for a scope that needs it, through to the API's RFC 9470 challenge on DELETE and back.

Codes are computed here from the secret, as the person's authenticator app does: the step is the one
the server accepts now (`acceptable_code`), so no test waits for a new code."""

from __future__ import annotations

import re
import time
from base64 import b32encode

import pytest
import requests
from playwright.sync_api import expect

from accounts import authn, factors
from photos.models import Photo
from scopes.constants import ScopeName
from scopes.models import Scope
from tests.accounts.factor_helpers import acceptable_code, code_for_secret
from tests.browser.conftest import screenshot, sign_in
from tests.factories import PhotoFactory
from tests.oauth import REDIRECT_URI, authorize_url, exchange_code, pkce_pair

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def app(gallery):
    """The world's app, allowed every scope, sending its users back to the test's callback."""
    gallery.redirect_uris = REDIRECT_URI
    gallery.save()
    return gallery


def enrol(browser, base: str) -> tuple[str, list[str]]:
    browser.goto(f"{base}/account/security/")
    browser.get_by_role("button", name="Set up an authenticator app").click()
    secret = browser.locator("#totp-secret").inner_text()
    assert re.fullmatch(r"[A-Z2-7]+=*", secret)
    screenshot(browser, "security-enrol")
    browser.get_by_label("Code").fill(code_for_secret(secret))
    browser.get_by_role("button", name="Confirm").click()
    expect(browser.get_by_text("Your authenticator app is set up.")).to_be_visible()
    codes = browser.locator("#recovery-codes code").all_inner_texts()
    assert len(codes) == 10
    return secret, codes


def test_enrol_totp_then_sign_in_with_it(live_server, world, page):
    browser, _ = page
    base = live_server.url
    browser.goto(f"{base}/account/login/")
    sign_in(browser, "member_a")
    _secret, _codes = enrol(browser, base)
    browser.get_by_role("button", name="Sign out").click()

    browser.goto(f"{base}/account/login/?next=/account/security/")
    sign_in(browser, "member_a")
    expect(browser.get_by_role("heading", name="Second factor")).to_be_visible()
    browser.get_by_label("Code").fill("000000")
    browser.get_by_role("button", name="Verify").click()
    expect(browser.get_by_text("That code is not right.")).to_be_visible()
    time.sleep(
        1.2
    )  # django-otp's back-off after a wrong code: 1 s after the first (OTP_TOTP_THROTTLE_FACTOR)
    browser.get_by_label("Code").fill(acceptable_code(world.member_a))
    browser.get_by_role("button", name="Verify").click()
    expect(browser.get_by_role("heading", name="Sign-in and security")).to_be_visible()
    expect(browser.get_by_text("This session signed in with a second factor, just now.")).to_be_visible()


def test_step_up_round_trip_on_delete(live_server, world, app, page):
    """A token from a password sign-in gets RFC 9470's challenge on DELETE; the client authorizes
    again with the acr_values and max_age it was given; the user gives the second factor; the new
    token deletes."""
    browser, callback = page
    base = live_server.url
    photo = PhotoFactory(tenant=world.acme, owner=world.member_a)
    delete_url = f"{base}/api/t/acme/photos/{photo.pk}/"

    # 1. Signed in with a password (no factor yet), the user grants photos.delete.
    verifier, challenge = pkce_pair()
    browser.goto(authorize_url(base, app.client_id, "photos.delete", challenge))
    sign_in(browser, "member_a")
    browser.get_by_role("button", name="Allow").click()
    browser.wait_for_url(REDIRECT_URI + "**")
    weak = exchange_code(base, app.client_id, callback.url, verifier)

    # 2. The registry now says photos.delete needs a second factor within ten minutes, and the
    #    user sets up an authenticator app on another device.
    Scope.objects.filter(name=ScopeName.PHOTOS_DELETE).update(required_acr=authn.MFA, max_age=600)
    device = factors.totp_start(user=world.member_a, sign_in=authn.NO_SIGN_IN)
    secret = b32encode(device.bin_key).decode()
    factors.totp_confirm(user=world.member_a, device_id=device.pk, code=code_for_secret(secret))

    answer = requests.delete(
        delete_url, headers={"Authorization": f"Bearer {weak['access_token']}"}, timeout=10
    )
    assert answer.status_code == 401
    challenge_header = answer.headers["WWW-Authenticate"]
    assert 'error="insufficient_user_authentication"' in challenge_header
    acr_values = re.search(r'acr_values="([^"]+)"', challenge_header).group(1)
    max_age = re.search(r'max_age="([^"]+)"', challenge_header).group(1)
    assert (acr_values, max_age) == ("mfa", "600")
    assert answer.json()["acr_values"] == "mfa" and answer.json()["max_age"] == 600

    # 3. The client sends the user back with what the challenge said: the browser's sign-in is
    #    recent enough, but a password only, so the second factor is asked before any code.
    verifier, challenge = pkce_pair()
    browser.goto(
        authorize_url(base, app.client_id, "photos.delete", challenge, acr_values=acr_values, max_age=max_age)
    )
    expect(browser.get_by_role("heading", name="Confirm it's you")).to_be_visible()
    screenshot(browser, "step-up-consent")
    browser.get_by_label("Code").fill(acceptable_code(world.member_a))
    browser.get_by_role("button", name="Verify").click()
    browser.wait_for_url(REDIRECT_URI + "**")  # consent is remembered: the code comes at once
    strong = exchange_code(base, app.client_id, callback.url, verifier)
    answer = requests.delete(
        delete_url, headers={"Authorization": f"Bearer {strong['access_token']}"}, timeout=10
    )
    assert answer.status_code == 204
    assert not Photo.objects.for_tenant(world.acme).filter(pk=photo.pk).exists()
