"""Passkeys in a real browser (Chromium) with its virtual authenticator (the DevTools WebAuthn
domain): add one on the security page, then sign in with it as the second factor."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from accounts.models import Passkey
from tests.browser.conftest import screenshot, sign_in

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def virtual_authenticator(browser) -> None:
    session = browser.context.new_cdp_session(browser)
    session.send("WebAuthn.enable")
    session.send(
        "WebAuthn.addVirtualAuthenticator",
        {
            "options": {
                "protocol": "ctap2",
                "transport": "internal",
                "hasResidentKey": True,
                "hasUserVerification": True,
                "isUserVerified": True,
                "automaticPresenceSimulation": True,
            }
        },
    )


def test_add_a_passkey_then_sign_in_with_it(live_server, world, page):
    browser, _ = page
    virtual_authenticator(browser)
    base = live_server.url
    browser.goto(f"{base}/account/login/?next=/account/security/")
    sign_in(browser, "member_a")
    browser.get_by_label("Name of the new passkey").fill("Laptop")
    browser.get_by_role("button", name="Add a passkey").click()
    expect(browser.get_by_text("Your passkey is added.")).to_be_visible()
    expect(browser.locator("#passkey-recovery-codes code")).to_have_count(10)
    passkey = Passkey.objects.get(user=world.member_a)
    assert passkey.name == "Laptop" and passkey.public_key
    browser.goto(f"{base}/account/security/")
    expect(browser.locator('[data-passkey-row="Laptop"]')).to_be_visible()
    screenshot(browser, "security-passkey")
    browser.get_by_role("button", name="Sign out").click()

    browser.goto(f"{base}/account/login/?next=/account/security/")
    sign_in(browser, "member_a")
    expect(browser.get_by_role("heading", name="Second factor")).to_be_visible()
    browser.get_by_role("button", name="Use a passkey").click()
    expect(browser.get_by_role("heading", name="Sign-in and security")).to_be_visible()
    expect(browser.get_by_text("This session signed in with a second factor, just now.")).to_be_visible()
    passkey.refresh_from_db()
    assert passkey.last_used_at is not None
