"""An administrator in Chromium: the usage report, a previewed shrink, and a previewed role change."""

from __future__ import annotations

import pytest
from rest_framework.test import APIClient

from accounts import background
from accounts.constants import RoleName
from scopes.constants import ScopeName as S
from scopes.models import ApplicationScope, RoleGrant
from tests.browser.conftest import screenshot
from tests.factories import UserFactory

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def _admin_signed_in(browser, live_server) -> None:
    UserFactory(username="root", is_staff=True, is_superuser=True)
    browser.goto(f"{live_server.url}/admin/login/?next=/admin/")
    browser.get_by_label("Username").fill("root")
    browser.get_by_label("Password").fill("pw")
    browser.get_by_role("button", name="Log in").click()


def test_report_then_shrink_refuses_the_live_token(live_server, world, gallery, mint_token, page):
    browser, _ = page
    token = mint_token(world.member_a, world.acme, [S.PHOTOS_READ, S.PHOTOS_DELETE], application=gallery)
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Bearer {token.token}")
    assert api.get("/api/t/acme/photos/").status_code == 200  # photos.read used today
    background.flush()  # what the server's bookkeeping thread writes every few seconds

    _admin_signed_in(browser, live_server)
    browser.get_by_role("link", name="Scope usage").click()
    browser.get_by_label("Application").select_option(label=gallery.name)
    browser.get_by_label("Tenant").select_option(label=str(world.acme))
    browser.get_by_label("Unused for (days)").fill("30")
    browser.get_by_role("button", name="Show").click()
    delete_row = browser.locator('tr[data-scope="photos.delete"]')
    assert "never used" in delete_row.locator(".status").inner_text()
    assert "used 0 days ago" in browser.locator('tr[data-scope="photos.read"] .status').inner_text()
    screenshot(browser, "usage-report")

    for box in browser.locator('#narrow-form input[name="scope"]').all():
        box.uncheck()
    browser.locator("#narrow-photos\\.delete").check()
    browser.locator("#narrow-photos\\.write").check()
    browser.get_by_role("button", name="Preview narrowing").click()
    lost = browser.locator('#preview-table tr[data-scope="photos.delete"] .lost').inner_text()
    assert lost.startswith("1 user, 1 token") and "member_a" in lost
    assert ApplicationScope.objects.filter(application=gallery, scope__name=S.PHOTOS_DELETE).exists()
    screenshot(browser, "usage-preview")

    browser.get_by_role("button", name="Confirm: narrow the app").click()
    assert "may no longer ask for photos.delete, photos.write" in browser.locator(".messagelist").inner_text()
    refused = api.delete("/api/t/acme/photos/1/")
    assert refused.status_code == 403 and refused.json()["reason"] == "scope_missing"


def test_role_change_is_previewed_then_saved(live_server, world, gallery, mint_token, page):
    browser, _ = page
    token = mint_token(world.member_a, world.acme, [S.PHOTOS_DELETE], application=gallery)
    member = world.role(RoleName.MEMBER)
    grants = list(
        RoleGrant.objects.filter(role=member).order_by("scope__name").values_list("scope__name", flat=True)
    )
    index = grants.index(S.PHOTOS_DELETE)

    _admin_signed_in(browser, live_server)
    browser.goto(f"{live_server.url}/admin/accounts/role/{member.pk}/change/")
    browser.locator(f'input[name="grants-{index}-DELETE"]').check()
    browser.get_by_role("button", name="Save", exact=True).click()
    assert "Nothing is saved yet" in browser.locator("#preview-notice").inner_text()
    lost = browser.locator('#preview-table tr[data-scope="photos.delete"] .lost').inner_text()
    assert lost.startswith("3 users, 1 token")  # member_a, member2_a and member_b hold the role
    assert RoleGrant.objects.filter(role=member, scope__name=S.PHOTOS_DELETE).exists()
    screenshot(browser, "role-preview")

    browser.get_by_role("button", name="Confirm and save").click()
    assert "was changed successfully" in browser.locator(".messagelist").inner_text()
    assert not RoleGrant.objects.filter(role=member, scope__name=S.PHOTOS_DELETE).exists()
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Bearer {token.token}")
    assert api.delete("/api/t/acme/photos/1/").json()["reason"] == "role_forbids"
