"""Password reset in a real browser (Chromium): ask, follow the e-mailed link, set, sign in."""

from __future__ import annotations

import re

import pytest
from django.core import mail
from playwright.sync_api import expect

from tests.browser.conftest import sign_in

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_a_forgotten_password_is_reset_by_e_mail(live_server, world, page):
    world.member_a.email = "member@example.com"
    world.member_a.save()
    browser, _ = page
    base = live_server.url
    browser.goto(f"{base}/account/login/")
    browser.get_by_role("link", name="Forgot your password?").click()
    browser.get_by_label("E-mail").fill("member@example.com")
    browser.get_by_role("button", name="Send the link").click()
    expect(browser.get_by_role("heading", name="Check your e-mail")).to_be_visible()
    link = re.search(r"(http://\S+/account/password/reset/\S+/)", mail.outbox[-1].body).group(1)
    browser.goto(link)
    browser.get_by_label("New password", exact=True).fill("a brand new passphrase")
    browser.get_by_label("New password again").fill("a brand new passphrase")
    browser.get_by_role("button", name="Set the password").click()
    expect(browser.get_by_role("heading", name="Your password is set")).to_be_visible()
    browser.get_by_role("link", name="Sign in").click()
    sign_in(browser, "member_a", "a brand new passphrase")
    expect(browser.get_by_text("Signed in as")).to_contain_text("member_a")
    browser.goto(link)
    expect(browser.get_by_role("heading", name="This link cannot be used")).to_be_visible()
