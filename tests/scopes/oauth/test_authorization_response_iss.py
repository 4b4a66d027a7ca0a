"""RFC 9207: every authorization response carries `iss`, errors included (issue 24, item 11a).

DOT adds `iss` to a successful response only; a strict client (oauth4webapi, see
tests/oidc/test_relying_parties.py) refuses an error response without it, and mix-up protection
must hold on the error path too. Each case below is one way `/o/authorize/` answers the client at
its redirect URI; none of the errors changes anything.
"""

from __future__ import annotations

import pytest
from django.test import Client

from tests.oauth import Flow, device_app, device_authorization

pytestmark = [pytest.mark.django_db, pytest.mark.attack]


def issuer() -> str:
    return Client().get("/.well-known/oauth-authorization-server").json()["issuer"]


def answer_of(flow: Flow, response) -> dict[str, str]:
    params = Flow.redirect_params(response)
    assert params.get("state") == flow.state
    assert params.get("iss") == issuer(), params
    return params


ERRORS = {
    # name: (signed in?, scope, extra parameters, expected error)
    "scope the app may not ask for": (True, "photos.read nonsense.scope", {}, "invalid_scope"),
    "prompt=none signed out": (False, "photos.read", {"prompt": "none"}, "login_required"),
    "prompt=none without consent": (True, "photos.read", {"prompt": "none"}, "consent_required"),
    "unknown prompt": (True, "photos.read", {"prompt": "bogus"}, "invalid_request"),
    "bad max_age": (True, "photos.read", {"max_age": "soon"}, "invalid_request"),
    "bad authorization_details": (
        True,
        "photos.read",
        {"authorization_details": "[1]"},
        "invalid_authorization_details",
    ),
    "PKCE plain": (True, "photos.read", {"code_challenge_method": "plain"}, "invalid_request"),
}


@pytest.mark.parametrize("case", sorted(ERRORS))
def test_error_responses_carry_iss(case, world, gallery, browser_of, unchanged):
    signed_in, scope, extra, expected = ERRORS[case]
    browser = browser_of(world.member_a) if signed_in else Client()
    flow = Flow(browser, gallery.client_id, scope, extra=extra)
    with unchanged():
        params = answer_of(flow, flow.start())
    assert params["error"] == expected and "code" not in params


def test_interaction_required_carries_iss(world, gallery, browser_of, unchanged):
    flow = Flow(browser_of(world.outsider), gallery.client_id, "photos.read", extra={"prompt": "none"})
    with unchanged():
        assert answer_of(flow, flow.start())["error"] == "interaction_required"


def test_denied_on_the_page_carries_iss(world, gallery, browser_of, unchanged):
    flow = Flow(browser_of(world.member_a), gallery.client_id, "photos.read")
    page = flow.start()
    with unchanged():
        assert answer_of(flow, flow.consent(page, decision="deny"))["error"] == "access_denied"


def test_success_and_remembered_consent_carry_iss_once(world, gallery, browser_of):
    browser = browser_of(world.member_a)
    first = Flow(browser, gallery.client_id, "photos.read")
    answer = first.consent(first.start())
    assert "code" in answer_of(first, answer)
    assert answer["Location"].count("iss=") == 1
    again = Flow(browser, gallery.client_id, "photos.read", extra={"prompt": "none"})
    remembered = again.start()
    assert "code" in answer_of(again, remembered)
    assert remembered["Location"].count("iss=") == 1


@pytest.mark.parametrize("document", ["oauth-authorization-server", "openid-configuration"])
def test_both_metadata_documents_advertise_iss_and_the_query_response_mode(db, document):
    """RFC 9207 section 3: a client that sees the flag must refuse a response without `iss`
    (oauth4webapi does: tests/oidc/test_relying_parties.py); every response is in the query."""
    data = Client().get(f"/.well-known/{document}").json()
    assert data["authorization_response_iss_parameter_supported"] is True
    assert data["response_modes_supported"] == ["query"]
    assert data["issuer"] == issuer()


@pytest.mark.parametrize("mode", ["fragment", "form_post", "web_message"])
def test_another_response_mode_still_answers_in_the_query_with_iss(mode, world, gallery, browser_of):
    """Other response modes (fragment, form_post, a popup's web_message) are not offered: whatever
    the request asks, the page's answer, remembered consent and an error are query responses with `iss`."""
    browser = browser_of(world.member_a)
    first = Flow(browser, gallery.client_id, "photos.read", extra={"response_mode": mode})
    answer = first.consent(first.start())
    again = Flow(browser, gallery.client_id, "photos.read", extra={"response_mode": mode, "prompt": "none"})
    remembered = again.start()
    wrong = Flow(browser, gallery.client_id, "photos.read nonsense.scope", extra={"response_mode": mode})
    error = wrong.start()
    for flow, response in ((first, answer), (again, remembered), (wrong, error)):
        location = response["Location"]
        assert "#" not in location, location
        assert location.count("iss=") == 1
        answer_of(flow, response)


def test_the_device_flow_has_no_authorization_response(world, gallery, browser_of):
    """The device grant (RFC 8628) answers its client at the token endpoint, never by redirect:
    there is no authorization response to carry `iss`, and its answers are unchanged JSON."""
    device_app()
    started = device_authorization("photos.read", "photo-frame")
    assert started.status_code == 200 and "iss" not in started.json()
