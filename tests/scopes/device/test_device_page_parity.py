"""Issue 24, item 8: the device approval page refuses and explains exactly what the consent page would.

Both pages render one template from one plan and one page context (`scopes.consent.page`); each
situation below is put to both, for the same member and tenant, and the answers compared.
"""

from __future__ import annotations

import html
import re

import pytest

from scopes.access.policy import AppPolicyMode, AppStatus
from scopes.models import Consent
from scopes.tenant_policy import services as policy
from tests.albums import details
from tests.factories import AlbumFactory, PhotoFactory
from tests.oauth import Flow, consent_form, device_app, device_page, device_poll, device_start

pytestmark = pytest.mark.django_db


@pytest.fixture
def tv(world):
    return device_app()


def consent_page(browser, gallery, scope: str):
    page = Flow(browser, gallery.client_id, scope).start()
    assert page.status_code == 200, page.content[:300]
    return page.content.decode()


def device_request(browser, scope: str) -> tuple[dict, str]:
    body = device_start(scope)
    return body, device_page(browser, body["user_code"])


def allow(browser, page: str, *, tenant: str = "", scopes: list[str] | None = None):
    """Press Allow on a device page (with the page's own tenant and ticks unless told otherwise)."""
    return browser.post("/o/device/approve/", consent_form(page, tenant=tenant, scopes=scopes))


def refusal(page: str) -> str:
    found = re.search(r"<p [^>]*data-policy-refusal>(.*?)</p>", page)
    return html.unescape(found.group(1)) if found else ""


def ask_links(page: str) -> dict[str, str]:
    """The "Ask for this" links by scope, and the "Ask the administrators" link under "app"."""
    links = {
        name: html.unescape(href)
        for href, name in re.findall(r'<a href="([^"]+)" data-ask="([^"]+)">Ask for this</a>', page)
    }
    app = re.search(r'<a href="([^"]*)" class="button primary" id="ask-app">', page)
    if app:
        links["app"] = html.unescape(app.group(1))
    return links


def has_allow_button(page: str) -> bool:
    return 'name="decision" value="allow"' in page


def situation(world, gallery, tv, case: str) -> None:
    for app in (gallery, tv):
        if case == "blocked":
            policy.tenant_app_set(
                actor=world.owner_a, tenant=world.acme, application=app, status=AppStatus.BLOCKED
            )
        elif case == "pending":
            policy.app_policy_set(actor=world.owner_a, tenant=world.acme, mode=AppPolicyMode.APPROVED_ONLY)
            policy.tenant_app_set(
                actor=world.owner_a, tenant=world.acme, application=app, status=AppStatus.PENDING
            )


@pytest.mark.parametrize("case", ["blocked", "pending"])
def test_the_tenant_policy_refuses_on_both_pages_with_the_same_reason(world, gallery, tv, browser_of, case):
    situation(world, gallery, tv, case)
    browser = browser_of(world.member_a)
    on_consent = consent_page(browser, gallery, "photos.read")
    _body, on_device = device_request(browser, "photos.read")

    assert refusal(on_device) and refusal(on_device) == refusal(on_consent)
    assert "app" in ask_links(on_device) and "kind=app" in ask_links(on_device)["app"]
    assert (
        ask_links(on_device)["app"].replace("photo-frame", gallery.client_id).split("&next=")[0]
        == (ask_links(on_consent)["app"].split("&next=")[0])
    )
    assert not has_allow_button(on_device) and not has_allow_button(on_consent)


def test_a_role_forbidden_scope_is_greyed_with_an_ask_link_on_both_pages(world, gallery, tv, browser_of):
    browser = browser_of(world.guest_a)
    on_consent = consent_page(browser, gallery, "photos.read photos.delete")
    _body, on_device = device_request(browser, "photos.read photos.delete")
    assert set(ask_links(on_device)) == set(ask_links(on_consent)) == {"photos.delete"}
    assert "does not allow this: delete photos" in on_device
    assert "scope=photos.delete" in ask_links(on_device)["photos.delete"]


def test_an_album_limited_consent_stays_limited_through_the_device_page(world, gallery, tv, browser_of):
    album = AlbumFactory(tenant=world.acme, owner=world.member_a, name="Holiday")
    other = AlbumFactory(tenant=world.acme, owner=world.member_a, name="Work")
    in_album = PhotoFactory(tenant=world.acme, owner=world.member_a, album=album)
    PhotoFactory(tenant=world.acme, owner=world.member_a, album=other)
    browser = browser_of(world.member_a)
    # The member allowed the device app one album before (its consent is album-limited): as the
    # consent page would have left it, through the same service.
    _first, first_page = device_request(browser, "photos.read")
    assert "is connected" in allow(browser, first_page).content.decode()
    from scopes.consent.album_services import consent_albums_grant

    consent = Consent.objects.get(user=world.member_a, application=tv)
    consent_albums_grant(actor=world.member_a, consent=consent, albums=[album.pk])

    # The consent page, for a plain request from an album-limited app, says it would widen...
    flow = Flow(
        browser,
        gallery.client_id,
        "photos.read",
        extra={"authorization_details": details(["photos.read"], [album.pk])},
    )
    flow.exchange(flow.consent(flow.start(), albums=[album.pk]))
    assert "lets it reach every album your role reaches" in consent_page(browser, gallery, "photos.read")
    # ...the device page cannot carry albums, so it says the device stays limited, and it does.
    body, on_device = device_request(browser, "photos.read")
    assert "data-album-limit-kept" in on_device and "every album" not in on_device
    assert "is connected" in allow(browser, on_device).content.decode()
    tokens = device_poll(body["device_code"]).json()
    assert tokens["authorization_details"][0]["identifiers"] == [str(album.pk)]
    listed = browser_of(world.member_a)  # any client: the Bearer token decides
    photos = listed.get("/api/t/acme/photos/", HTTP_AUTHORIZATION=f"Bearer {tokens['access_token']}").json()
    assert [row["id"] for row in photos["results"]] == [in_album.pk]
    assert Consent.objects.get(pk=consent.pk).albums_limited  # the device approval did not widen it
