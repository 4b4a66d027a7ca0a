"""Our pages, the admin and Swagger UI work in a real browser under the Content-Security-Policy."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from tests.browser.conftest import sign_in

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

WATCH = """
window.__cspViolations = [];
document.addEventListener('securitypolicyviolation', e => window.__cspViolations.push(e.violatedDirective + ' ' + e.blockedURI));
"""


def violations(page) -> list[str]:
    return page.evaluate("window.__cspViolations")


def test_swagger_ui_and_the_admin_run_without_a_policy_violation(live_server, world, page):
    browser, _ = page
    browser.add_init_script(WATCH)
    browser.goto(f"{live_server.url}/api/docs/")
    expect(browser.get_by_role("heading", name="Granular Photos API")).to_be_visible()
    expect(browser.get_by_role("button", name="Authorize")).to_be_visible()
    assert violations(browser) == []

    world.owner_a.is_staff = world.owner_a.is_superuser = True
    world.owner_a.save()
    browser.goto(f"{live_server.url}/admin/login/?next=/admin/accounts/membership/")
    browser.get_by_label("Username").fill("owner_a")
    browser.get_by_label("Password").fill("pw")
    browser.get_by_role("button", name="Log in").click()
    expect(browser.get_by_role("heading", level=1)).to_contain_text("membership")
    expect(browser.get_by_role("link", name="member_b")).to_be_visible()  # every tenant, for a superuser
    assert violations(browser) == []


def test_sign_in_and_connected_apps_run_without_a_policy_violation(live_server, world, page):
    browser, _ = page
    browser.add_init_script(WATCH)
    browser.goto(f"{live_server.url}/account/login/")
    sign_in(browser, "member_a")
    expect(browser.get_by_role("heading", level=1)).to_be_visible()
    assert violations(browser) == []
