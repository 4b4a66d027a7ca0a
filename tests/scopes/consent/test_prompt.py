"""The `prompt` parameter at `/o/authorize/` (OpenID Connect Core 3.1.2.1 and 3.1.2.6).

`prompt=none` never shows a page: the client hears `login_required`, `consent_required` or
`interaction_required` at its redirect URI with its state, or gets a code when remembered consent
answers. `prompt=none` with another value, or a value we do not know, is `invalid_request`.
`prompt=login` ends the session so the user really signs in again. None of these errors changes
anything.
"""

from __future__ import annotations

from urllib.parse import parse_qs, urlencode, urlparse

import pytest
from django.test import Client

from accounts.constants import RoleName
from scopes.roles.services import membership_set
from tests.oauth import Flow

pytestmark = [pytest.mark.django_db, pytest.mark.attack]


def silent(browser, gallery, scope: str = "photos.read", **extra: str):
    return Flow(browser, gallery.client_id, scope, extra={"prompt": "none", **extra})


def error_of(flow: Flow, response) -> str:
    params = Flow.redirect_params(response)
    assert params.get("state") == flow.state and "code" not in params
    return params["error"]


def test_prompt_none_signed_out_is_login_required(gallery, unchanged):
    flow = silent(Client(), gallery)
    with unchanged():
        assert error_of(flow, flow.start()) == "login_required"


def test_prompt_none_without_consent_is_consent_required(world, gallery, browser_of, unchanged):
    flow = silent(browser_of(world.member_a), gallery)
    with unchanged():
        assert error_of(flow, flow.start()) == "consent_required"


def test_prompt_none_asking_for_more_than_was_consented_is_consent_required(
    world, gallery, browser_of, unchanged
):
    browser = browser_of(world.member_a)
    first = Flow(browser, gallery.client_id, "photos.read")
    first.exchange(first.consent(first.start()))
    flow = silent(browser, gallery, "photos.read photos.upload")
    with unchanged():
        assert error_of(flow, flow.start()) == "consent_required"


def test_prompt_none_with_a_tenant_to_choose_is_interaction_required(world, gallery, browser_of, unchanged):
    membership_set(actor=None, user=world.member_a, tenant=world.globex, role=world.role(RoleName.MEMBER))
    flow = silent(browser_of(world.member_a), gallery)
    with unchanged():
        assert error_of(flow, flow.start()) == "interaction_required"


def test_prompt_none_for_a_user_with_no_organisation_is_interaction_required(
    world, gallery, browser_of, unchanged
):
    flow = silent(browser_of(world.outsider), gallery)
    with unchanged():
        assert error_of(flow, flow.start()) == "interaction_required"


def test_prompt_none_with_remembered_consent_answers_with_a_code(world, gallery, browser_of):
    browser = browser_of(world.member_a)
    first = Flow(browser, gallery.client_id, "photos.read")
    first.exchange(first.consent(first.start()))
    flow = silent(browser, gallery)
    assert flow.exchange(flow.start()).json()["scope"] == "photos.read"


@pytest.mark.parametrize("prompt", ["none consent", "none login", "bogus", "consent bogus"])
def test_prompt_none_with_another_value_or_an_unknown_value_is_invalid_request(
    world, gallery, browser_of, unchanged, prompt
):
    flow = Flow(browser_of(world.member_a), gallery.client_id, "photos.read", extra={"prompt": prompt})
    with unchanged():
        assert error_of(flow, flow.start()) == "invalid_request"


def test_prompt_none_never_redirects_to_an_unregistered_uri(world, gallery, browser_of, unchanged):
    flow = silent(browser_of(world.member_a), gallery)
    for browser in (flow.client, Client()):
        params = {**flow.params, "redirect_uri": "https://evil.example/cb"}
        with unchanged():
            response = browser.get("/o/authorize/?" + urlencode(params))
        assert response.status_code == 400 and not response.has_header("Location")


def test_prompt_login_makes_a_signed_in_user_sign_in_again(world, gallery, browser_of, unchanged):
    """Our sign-in page forwards a signed-in user at once, so the session must end first."""
    browser = browser_of(world.member_a)
    flow = Flow(browser, gallery.client_id, "photos.read", extra={"prompt": "login"})
    with unchanged():
        response = flow.start()
    assert response.status_code == 302 and response["Location"].startswith("/account/login/")
    following = parse_qs(urlparse(response["Location"]).query)["next"][0]
    assert "prompt" not in parse_qs(urlparse(following).query)  # after signing in, the flow goes on
    assert "_auth_user_id" not in browser.session
    assert browser.get(following).status_code == 302  # to the sign-in page, not the consent page
    assert browser.get(following)["Location"].startswith("/account/login/")


def test_prompt_select_account_shows_the_page_even_with_remembered_consent(world, gallery, browser_of):
    browser = browser_of(world.member_a)
    first = Flow(browser, gallery.client_id, "photos.read")
    first.exchange(first.consent(first.start()))
    again = Flow(browser, gallery.client_id, "photos.read", extra={"prompt": "select_account"})
    page = again.start()
    assert page.status_code == 200 and "Already allowed" in page.content.decode()
    assert again.exchange(again.consent(page)).json()["scope"] == "photos.read"


# --- prompt: a repeated parameter (RFC 6749 3.1: sent at most once).


def test_prompt_none_repeated_with_another_value_never_renders_a_page(world, gallery, browser_of):
    """`prompt=none&prompt=consent`: Django reads the last value, so the page is shown."""
    flow = Flow(browser_of(world.member_a), gallery.client_id, "photos.read", extra={"tenant": "acme"})
    url = "/o/authorize/?" + urlencode(flow.params) + "&prompt=none&prompt=consent"
    response = flow.client.get(url)
    assert response.status_code == 302, response.status_code
    assert "error=" in response["Location"]
