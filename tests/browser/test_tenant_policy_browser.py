"""Issue 13 in a real browser: a tenant's app policy, asking for access, and deciding."""

from __future__ import annotations

from collections.abc import Iterator
from urllib.parse import parse_qs, urlparse

import pytest
import requests
from playwright.sync_api import Browser, Page, expect

from scopes.access.policy import AppPolicyMode
from scopes.constants import ScopeName
from scopes.models import ApplicationScope, Scope
from scopes.tenant_policy import services
from tests.answers import bearer_challenge
from tests.browser.conftest import screenshot, sign_in
from tests.oauth import REDIRECT_URI, authorize_url, exchange_code, pkce_pair

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def gallery(world):
    for scope in Scope.objects.filter(name__in=[str(n) for n in ScopeName if n != ScopeName.TENANT_ADMIN]):
        ApplicationScope.objects.create(application=world.app, scope=scope, reason=f"to use {scope.name}")
    world.app.redirect_uris = REDIRECT_URI
    world.app.save()
    return world.app


@pytest.fixture
def administrator(chromium: Browser) -> Iterator[Page]:
    """A second browser (its own cookies) for the tenant's administrator."""
    context = chromium.new_context(viewport={"width": 900, "height": 1400})
    yield context.new_page()
    context.close()


def ask(browser: Page, link_name: str, message: str) -> None:
    browser.get_by_role("link", name=link_name).first.click()
    browser.get_by_label("Message to the administrators (optional)").fill(message)
    browser.get_by_role("button", name="Send the request").click()


def open_queue(admin: Page, live_server, username: str) -> None:
    admin.goto(f"{live_server.url}/account/org/acme/")
    sign_in(admin, username)
    expect(admin.get_by_role("heading", level=1)).to_contain_text("Acme")


def test_a_member_asks_for_an_app_an_administrator_approves_it_with_a_cap(
    live_server, world, gallery, page, administrator
):
    services.app_policy_set(actor=world.owner_a, tenant=world.acme, mode=AppPolicyMode.APPROVED_ONLY)
    browser, callback = page
    _verifier, challenge = pkce_pair()
    url = authorize_url(
        live_server.url, gallery.client_id, "photos.read photos.upload albums.read", challenge
    )
    browser.goto(url)
    sign_in(browser, "member_a")
    expect(browser.get_by_role("alert")).to_contain_text("blocked by Acme's app policy")
    expect(browser.get_by_role("button", name="Allow")).to_have_count(0)
    ask(browser, "Ask the administrators", "We use it for the team gallery.")
    expect(browser.get_by_role("status").first).to_contain_text("is pending")
    screenshot(browser, "policy-member-asked")
    browser.get_by_role("button", name="Back to the app").click()
    browser.wait_for_url(REDIRECT_URI + "**")
    assert parse_qs(urlparse(callback.url).query)["error"] == ["access_denied"]

    open_queue(administrator, live_server, "owner_a")
    item = administrator.locator("li[data-request]").first
    expect(item).to_contain_text("We use it for the team gallery.")
    item.get_by_label("Limit it to the scopes ticked below").check()
    item.get_by_label("photos.read").check()
    item.get_by_label("Note").fill("read only for now")
    screenshot(administrator, "policy-admin-approves-with-cap")
    item.get_by_role("button", name="Approve").click()
    expect(administrator.locator("li[data-request]").first).to_have_attribute("data-status", "approved")

    verifier, challenge = pkce_pair()
    browser.goto(
        authorize_url(live_server.url, gallery.client_id, "photos.read photos.upload albums.read", challenge)
    )
    expect(browser.get_by_role("checkbox")).to_have_count(1)
    expect(
        browser.get_by_text("Acme's administrators have not approved this for this app").first
    ).to_be_visible()
    browser.get_by_role("button", name="Allow").click()
    browser.wait_for_url(REDIRECT_URI + "**")
    assert exchange_code(live_server.url, gallery.client_id, callback.url, verifier)["scope"] == "photos.read"


def test_blocking_the_app_fails_its_live_token_and_its_refresh(
    live_server, world, gallery, page, administrator
):
    browser, callback = page
    verifier, challenge = pkce_pair()
    browser.goto(authorize_url(live_server.url, gallery.client_id, "photos.read offline_access", challenge))
    sign_in(browser, "member_a")
    browser.get_by_role("button", name="Allow").click()
    browser.wait_for_url(REDIRECT_URI + "**")
    tokens = exchange_code(live_server.url, gallery.client_id, callback.url, verifier)
    api = f"{live_server.url}/api/t/acme/photos/"
    bearer = {"Authorization": f"Bearer {tokens['access_token']}"}
    assert requests.get(api, headers=bearer, timeout=10).status_code == 200

    open_queue(administrator, live_server, "admin_a")
    row = administrator.locator(f'li[data-app="{gallery.client_id}"]')
    row.get_by_text("Change Test Gallery").click()
    row.get_by_label("Blocked").check()
    row.get_by_role("button", name="Save Test Gallery").click()
    expect(administrator.locator(f'li[data-app="{gallery.client_id}"] .state')).to_have_text("Blocked")

    refused = requests.get(api, headers=bearer, timeout=10)
    assert refused.status_code == 401
    assert bearer_challenge(refused) == 'Bearer realm="api", error="invalid_token"'
    assert "blocked by Acme's app policy" in refused.json()["detail"]
    refreshed = requests.post(
        f"{live_server.url}/o/token/",
        data={
            "grant_type": "refresh_token",
            "refresh_token": tokens["refresh_token"],
            "client_id": gallery.client_id,
        },
        timeout=10,
    )
    assert refreshed.status_code == 400 and refreshed.json()["error"] == "invalid_grant"


def test_a_guest_asks_for_delete_an_administrator_changes_the_role_and_it_is_offered(
    live_server, world, gallery, page, administrator
):
    browser, _callback = page
    _verifier, challenge = pkce_pair()
    browser.goto(authorize_url(live_server.url, gallery.client_id, "photos.read photos.delete", challenge))
    sign_in(browser, "guest_a")
    expect(browser.get_by_text("Your role Guest in Acme does not allow this: delete photos.")).to_be_visible()
    ask(browser, "Ask for this", "I tidy up the duplicates.")
    expect(browser.get_by_role("status").first).to_contain_text("is pending")

    open_queue(administrator, live_server, "admin_a")
    item = administrator.locator("li[data-request]").first
    expect(item).to_contain_text("guest_a")
    item.get_by_label("Give them the role Member").check()
    item.get_by_label("Note").fill("welcome aboard")
    item.get_by_role("button", name="Approve").click()
    expect(administrator.locator("li[data-request]").first).to_have_attribute("data-status", "approved")

    browser.goto(f"{live_server.url}/account/requests/")
    expect(browser.locator("li[data-request]").first).to_have_attribute("data-status", "approved")
    expect(browser.get_by_text("welcome aboard")).to_be_visible()
    _verifier, challenge = pkce_pair()
    browser.goto(authorize_url(live_server.url, gallery.client_id, "photos.read photos.delete", challenge))
    expect(browser.get_by_label("Delete photos.")).to_be_checked()
    screenshot(browser, "policy-guest-now-offered-delete")
