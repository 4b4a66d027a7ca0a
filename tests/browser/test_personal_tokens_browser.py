"""A person makes a personal access token in a real browser and uses it with a real HTTP client."""

from __future__ import annotations

import pytest
import requests
from playwright.sync_api import expect

from accounts import background
from tests.browser.conftest import screenshot, sign_in

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_create_use_see_last_used_move_and_revoke(live_server, world, page, settings):
    settings.PERSONAL_TOKEN_LAST_USED_MINUTES = 0  # record every use, so the page shows it move
    browser, _callback = page
    browser.goto(f"{live_server.url}/account/tokens/")
    sign_in(browser, "guest_a")
    expect(browser.get_by_role("heading", level=1)).to_have_text("Personal access tokens")
    # A Guest is offered reading only; the rest is greyed with the reason.
    expect(browser.get_by_text("your role Guest in Acme does not allow it").first).to_be_visible()
    assert browser.locator('input[name="scope"][value="photos.delete"]').count() == 0

    browser.get_by_label("Name", exact=True).fill("backup script")
    browser.get_by_label("Expires in (days)").fill("30")
    browser.get_by_label("See the photos in this organisation.").check()
    browser.get_by_role("button", name="Create token").click()
    value = browser.locator("#new-token").inner_text()
    assert value.startswith("gpat_")
    screenshot(browser, "personal-token-created")

    row = browser.locator('tr[data-token="backup script"]')
    expect(row.locator(".last-used")).to_have_text("never")

    api = f"{live_server.url}/api/t/acme/photos/"
    answer = requests.get(api, headers={"Authorization": f"Bearer {value}"}, timeout=10)
    assert answer.status_code == 200, answer.text
    assert answer.headers["X-OAuth-Scopes"] == "photos.read"
    background.flush()  # what the server's bookkeeping thread writes every few seconds

    browser.goto(f"{live_server.url}/account/tokens/")  # a GET: a reload would post again
    expect(row.locator(".last-used")).not_to_have_text("never")
    first = row.locator(".last-used").inner_text()
    browser.wait_for_timeout(1100)
    assert requests.get(api, headers={"Authorization": f"Bearer {value}"}, timeout=10).status_code == 200
    background.flush()
    browser.goto(f"{live_server.url}/account/tokens/")  # a GET: a reload would post again
    expect(row.locator(".last-used")).not_to_have_text(first)

    browser.get_by_role("button", name="Revoke backup script").click()
    expect(browser.get_by_text("You have no personal access tokens.")).to_be_visible()
    refused = requests.get(api, headers={"Authorization": f"Bearer {value}"}, timeout=10)
    assert refused.status_code == 401
    assert refused.json()["reason"] == "invalid_token"
