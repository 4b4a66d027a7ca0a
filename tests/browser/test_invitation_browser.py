"""Joining by invitation in a real browser (Chromium): a tenant administrator invites from the
tenant page, the invited person opens the link from the e-mail, creates an account and is a member."""

from __future__ import annotations

import re

import pytest
from django.core import mail
from playwright.sync_api import expect

from accounts.models import Membership, User
from tests.browser.conftest import screenshot, sign_in

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_an_invited_person_creates_an_account_and_joins(live_server, world, page, browser_of):
    browser, _ = page
    base = live_server.url
    browser.goto(f"{base}/account/login/?next=/account/org/acme/")
    sign_in(browser, "admin_a")
    browser.get_by_label("E-mail").fill("newcomer@example.com")
    browser.get_by_label("Role", exact=True).select_option(label="Member")
    browser.get_by_role("button", name="Send the invitation").click()
    expect(browser.get_by_text("Invitation sent to newcomer@example.com.")).to_be_visible()
    expect(browser.locator('[data-invitation="newcomer@example.com"]')).to_be_visible()
    screenshot(browser, "tenant-invitations")
    link = re.search(r"(http://\S+/account/join/\S+/)", mail.outbox[-1].body).group(1)
    browser.get_by_role("button", name="Sign out").click()

    browser.goto(link)
    expect(browser.get_by_role("heading", name="Join Acme")).to_be_visible()
    screenshot(browser, "join")
    browser.get_by_label("Username").fill("newcomer")
    browser.get_by_label("Password").fill("a long enough passphrase")
    browser.get_by_role("button", name="Join Acme").click()
    browser.wait_for_url(f"{base}/account/apps/")
    expect(browser.get_by_text("Signed in as")).to_contain_text("newcomer")
    user = User.objects.get(username="newcomer")
    assert Membership.objects.get(user=user, tenant=world.acme).role.name == "Member"

    browser.goto(link)  # the link works once
    expect(browser.get_by_text("already used, revoked, or has expired")).to_be_visible()
