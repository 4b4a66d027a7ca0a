"""PKCE syntax (RFC 7636 4.1, 4.2) at the authorization and token endpoints (issue 24, item 14).

The audit: with a matching challenge, verifiers of 1, 42 and 129 characters, or with `+/= ` or
non-ASCII characters, all got tokens; `code_challenge=abc` was accepted for S256; a 200-character
challenge was a 500 (`varchar(128)`). Each is now `invalid_request`, and changes nothing.
"""

from __future__ import annotations

import pytest
from django.test import Client

from scopes.models import AccessToken
from tests.oauth import Flow, code_request, s256

pytestmark = [pytest.mark.django_db, pytest.mark.attack]


@pytest.mark.parametrize(
    "challenge",
    ["abc", "A" * 42, "A" * 44, "A" * 200, "A" * 42 + "+", "A" * 42 + "=", "A" * 42 + "é", "A" * 42 + "."],
    ids=["abc", "42", "44", "200", "plus", "equals", "non-ascii", "dot"],
)
def test_a_malformed_s256_challenge_is_invalid_request(world, gallery, browser_of, unchanged, challenge):
    flow = Flow(browser_of(world.member_a), gallery.client_id, "photos.read")
    flow.challenge = challenge
    with unchanged():
        params = Flow.redirect_params(flow.start())
    assert params["error"] == "invalid_request" and "code" not in params
    assert params["state"] == flow.state and params["iss"] == "http://testserver"


def test_a_well_formed_challenge_still_gets_the_page(world, gallery, browser_of):
    flow = Flow(browser_of(world.member_a), gallery.client_id, "photos.read")
    assert flow.start().status_code == 200


@pytest.mark.parametrize(
    "verifier",
    ["v", "v" * 42, "v" * 129, "v" * 42 + "+", "v" * 42 + "/", "v" * 42 + "=", "v" * 42 + " ", "é" * 43],
    ids=["1", "42", "129", "plus", "slash", "equals", "space", "non-ascii"],
)
def test_a_malformed_verifier_is_invalid_request_even_when_it_matches(
    world, gallery, browser_of, unchanged, verifier
):
    flow = Flow(browser_of(world.member_a), gallery.client_id, "photos.read")
    flow.verifier, flow.challenge = verifier, s256(verifier)
    answer = flow.consent(flow.start())
    code = Flow.redirect_params(answer)["code"]
    with unchanged():
        response = Client().post("/o/token/", code_request(code, gallery.client_id, verifier))
    assert response.status_code == 400, response.content
    assert response.json()["error"] == "invalid_request"
    assert not AccessToken.objects.exists()


def test_the_longest_and_shortest_verifiers_work(world, gallery, browser_of):
    for verifier in ("A-._~" * 8 + "abc", "z" * 128):
        flow = Flow(browser_of(world.member_a), gallery.client_id, "photos.read", extra={"prompt": "consent"})
        flow.verifier, flow.challenge = verifier, s256(verifier)
        assert flow.exchange(flow.consent(flow.start())).status_code == 200
