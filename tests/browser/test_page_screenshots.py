"""Every page people use, in Chromium at 1280 and at 390 pixels wide: it renders what it must, nothing
runs off the side of a phone, and a screenshot is kept per page and width (artifacts/screenshots/).

The pages are seen by the person they are for: account pages by a member, the tenant page and the
admin screens a tenant administrator has by acme's administrator (staff with the tenant
administrator's permissions, as `make run` seeds them), the platform's screens by a superuser.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import pytest
from django.contrib.auth.models import Permission
from playwright.sync_api import Browser, BrowserContext, Page, expect

from photos.demo import TENANT_ADMINISTRATOR_PERMISSIONS
from scopes.constants import ScopeName
from scopes.models import ApplicationScope, Scope
from scopes.tenant_policy import services as policy
from tests.browser.conftest import screenshot, sign_in
from tests.factories import UserFactory
from tests.oauth import REDIRECT_URI as CALLBACK
from tests.oauth import authorize_url, pkce_pair

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

WIDTHS = {"desktop": 1280, "phone": 390}
GRID_TITLE = "Roles \u00d7 scopes"


@dataclass(frozen=True)
class Screen:
    """A page: who looks at it, where, and what must be on it."""

    name: str
    who: str  # a username of the world, "root" (superuser) or "tenant-admin" (admin_a as staff)
    path: str
    must_show: str
    admin: bool = False
    wide_table: str = ""  # a table that may scroll inside its own box on a phone


SCREENS = [
    Screen("sign-in", "", "/account/login/", "Sign in"),
    Screen("password-reset", "", "/account/password/reset/", "Reset your password"),
    Screen("consent", "member_a", "{consent}", "wants to access your account"),
    Screen("consent-guest", "guest_a", "{consent}", "Not available to you"),
    Screen("connected-apps", "member_a", "/account/apps/", "Connected apps"),
    Screen("personal-tokens", "guest_a", "/account/tokens/", "Personal access tokens"),
    Screen("my-requests", "member_a", "/account/requests/", "requests"),
    Screen("security", "member_a", "/account/security/", "Sign-in and security"),
    Screen("step-up", "member_a", "/account/verify/", "Confirm it"),
    Screen(
        "ask-for-access",
        "guest_a",
        "/account/requests/new/?tenant=acme&kind=scope&scope=photos.delete",
        "Delete photos.",
    ),
    Screen("tenant-page", "admin_a", "/account/org/acme/", "Requests waiting"),
    Screen("device-code", "member_a", "/o/device/", "code"),
    Screen("admin-index-superuser", "root", "/admin/", "Granular Photos administration", admin=True),
    Screen("admin-index-tenant-admin", "tenant-admin", "/admin/", "Service accounts", admin=True),
    Screen("admin-role-grid", "root", "/admin/roles/grid/", GRID_TITLE, admin=True, wide_table="#role-grid"),
    Screen(
        "admin-role-grid-tenant-admin",
        "tenant-admin",
        "/admin/roles/grid/",
        GRID_TITLE,
        admin=True,
        wide_table="#role-grid",
    ),
    Screen("admin-scope", "root", "/admin/scopes/scope/{scope}/change/", "on the consent page", admin=True),
    Screen(
        "admin-application-add",
        "root",
        "/admin/scopes/application/add/",
        "Authorization grant type",
        admin=True,
    ),
    Screen(
        "admin-service-account-add",
        "tenant-admin",
        "/admin/scopes/serviceaccount/add/",
        "Add service account",
        admin=True,
    ),
    Screen("admin-explain", "tenant-admin", "/admin/explain/", "Explain access", admin=True),
    Screen("admin-usage", "root", "/admin/usage/", "Scope usage", admin=True),
    Screen(
        "admin-audit",
        "tenant-admin",
        "/admin/accounts/auditevent/",
        "audit event",
        admin=True,
        wide_table="#result_list",
    ),
    Screen(
        "admin-memberships",
        "tenant-admin",
        "/admin/accounts/membership/",
        "membership",
        admin=True,
        wide_table="#result_list",
    ),
    Screen(
        "admin-token-policy", "tenant-admin", "/admin/scopes/tokenpolicy/add/", "token policy", admin=True
    ),
]


@pytest.fixture
def pages(chromium: Browser, live_server) -> Iterator[Callable[[Screen, int], Page]]:
    """A new page for a screen, in a browser context signed in as the screen's viewer.

    One context per viewer (and sign-in door) and width, signed in once and reused by that viewer's
    screens: each screen still gets a page of its own, as a person opening it would.
    """
    contexts: dict[tuple[str, bool, int], BrowserContext] = {}

    def open_page(screen: Screen, width: int) -> Page:
        key = (screen.who, screen.admin, width)
        if key not in contexts:
            contexts[key] = chromium.new_context(viewport={"width": width, "height": 900})
            if screen.who:
                door = contexts[key].new_page()
                _sign_in(door, live_server.url, screen)
                door.wait_for_url(lambda url: "/login/" not in url)  # signed in: the session cookie is set
                door.close()
        return contexts[key].new_page()

    yield open_page
    for context in contexts.values():
        with contextlib.suppress(Exception):
            context.close()


@pytest.fixture
def scene(world):
    """A consent to list, a request waiting for a decision, an app with scopes: the pages have something to show."""
    for scope in Scope.objects.filter(
        name__in=[ScopeName.PHOTOS_READ, ScopeName.PHOTOS_DELETE, ScopeName.ALBUMS_READ]
    ):
        ApplicationScope.objects.create(application=world.app, scope=scope, reason=f"to use {scope.name}")
    world.app.redirect_uris = CALLBACK
    world.app.save()
    UserFactory(username="root", is_staff=True, is_superuser=True)
    world.admin_a.is_staff = True
    world.admin_a.save()
    world.admin_a.user_permissions.set(
        Permission.objects.filter(codename__in=TENANT_ADMINISTRATOR_PERMISSIONS)
    )
    policy.access_request_file(
        requester=world.guest_a,
        tenant=world.acme,
        kind="scope",
        application=None,
        scopes=["photos.delete"],
        message="I tidy up duplicates.",
    )
    return world


def _sign_in(page: Page, base: str, screen: Screen) -> None:
    if not screen.who:
        return
    username = "admin_a" if screen.who == "tenant-admin" else screen.who
    if screen.admin:
        page.goto(f"{base}/admin/login/")
        page.get_by_label("Username").fill(username)
        page.get_by_label("Password").fill("pw")
        page.get_by_role("button", name="Log in").click()
    else:
        page.goto(f"{base}/account/login/")
        sign_in(page, username)


def _consent_given(page: Page, live_server, client_id: str) -> None:
    _verifier, challenge = pkce_pair()
    page.goto(authorize_url(live_server.url, client_id, "photos.read albums.read", challenge))
    page.get_by_role("button", name="Allow").click()
    page.wait_for_url(CALLBACK + "**")


def overflow(page: Page, wide_table: str) -> int:
    """How many pixels the page runs past the viewport's right edge (a wide table scrolling in its own box is fine)."""
    return page.evaluate(
        """(wide) => {
            const skip = wide ? document.querySelector(wide) : null;
            let worst = document.documentElement.scrollWidth - window.innerWidth;
            if (skip) {  // measure without the table that scrolls inside its own box
                const box = skip.closest('.role-grid-wrap, .results') || skip;
                if (getComputedStyle(box).overflowX === 'auto') { return Math.max(0, worst - (box.scrollWidth - box.clientWidth)); }
            }
            return Math.max(0, worst);
        }""",
        wide_table,
    )


@pytest.mark.parametrize("width", WIDTHS, ids=str)
def test_every_page_renders_fits_and_is_kept_as_a_screenshot(live_server, scene, pages, width):
    base = live_server.url
    scope_pk = Scope.objects.get(name=ScopeName.PHOTOS_DELETE).pk
    problems = []
    for screen in SCREENS:
        page = pages(screen, WIDTHS[width])
        if screen.name == "connected-apps":
            page.route(CALLBACK + "**", lambda route, request: route.fulfill(status=200, body="back"))
            _consent_given(page, live_server, scene.app.client_id)
        _verifier, challenge = pkce_pair()
        consent = authorize_url(
            live_server.url, scene.app.client_id, "photos.read photos.delete albums.read", challenge
        )
        response = page.goto(base + screen.path.format(scope=scope_pk, consent=consent[len(base) :]))
        assert response is not None
        if response.status != 200:
            problems.append(f"{screen.name}: HTTP {response.status}")
            continue
        expect(page.locator("body")).to_contain_text(screen.must_show)
        screenshot(page, f"page-{screen.name}-{WIDTHS[width]}")
        spill = overflow(page, screen.wide_table)
        if spill > 1:
            problems.append(f"{screen.name}: {spill}px wider than {WIDTHS[width]}")
        page.close()
    assert problems == []
