"""Swagger UI signs in through the demo client with PKCE, in a real browser, and tries a call."""

import pytest
from playwright.sync_api import expect

from scopes.oauth.demo import seed_demo_client
from tests.browser.conftest import screenshot, sign_in
from tests.factories import PhotoFactory

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_swagger_ui_authorizes_with_pkce_and_lists_photos(live_server, world, page):
    browser, _callback = page
    app = seed_demo_client()
    app.redirect_uris += f" {live_server.url}/api/docs/oauth2-redirect.html"
    app.save()
    photo = PhotoFactory(tenant=world.acme, owner=world.member_a, title="Harbour at dawn")

    browser.goto(f"{live_server.url}/account/login/")
    sign_in(browser, "member_a")
    browser.goto(f"{live_server.url}/api/docs/")
    browser.get_by_role("button", name="Authorize").first.click()
    dialog = browser.locator(".modal-ux")
    with browser.expect_popup() as popup_info:
        dialog.locator("button.modal-btn.authorize").first.click()
    popup = popup_info.value
    popup.on("console", lambda m: print("CONSOLE", m.type, m.text))
    popup.on("pageerror", lambda e: print("PAGEERROR", e))
    popup.on(
        "response",
        lambda r: print(
            "RESP",
            r.status,
            r.url[:100],
            r.headers.get("cross-origin-opener-policy"),
            r.headers.get("content-security-policy"),
        ),
    )
    popup.wait_for_load_state()
    assert popup.evaluate("window.opener !== null")  # the popup can hand the code back
    expect(popup.get_by_role("heading", level=1)).to_contain_text("Demo Photo Gallery")
    # Listen before the click: the redirect page hands the code back and closes the popup at once,
    # sometimes before a wait started after the click would be listening (a flaky CI run).
    with popup.expect_event("close", timeout=15_000):
        popup.get_by_role("button", name="Allow").click()
    expect(dialog).to_contain_text("Logout")
    dialog.locator("button.modal-btn.btn-done").first.click()

    operation = browser.locator("#operations-photos-photos_list")
    operation.locator(".opblock-summary").click()
    operation.get_by_role("button", name="Try it out").click()
    operation.get_by_placeholder("tenant_slug").fill("acme")
    operation.get_by_role("button", name="Execute").click()
    expect(operation.locator(".live-responses-table tbody .response-col_status").first).to_contain_text("200")
    expect(operation.locator(".live-responses-table")).to_contain_text("Harbour at dawn")
    screenshot(browser, "swagger-ui-try-it")
    assert photo.pk
