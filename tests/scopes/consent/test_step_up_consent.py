"""Step-up at consent (scopes.consent): a scope that needs a recent second factor is granted only
after the user gives it, and the code and its tokens remember how and when they signed in."""

from __future__ import annotations

import json
from urllib.parse import parse_qs, urlparse

import pytest
from django.test import Client
from django.utils import timezone
from jwcrypto import jwk, jwt

from accounts import authn
from scopes.constants import ScopeName as S
from scopes.models import AccessToken, Scope
from tests.accounts.factor_helpers import enrolled, next_code
from tests.oauth import Flow

pytestmark = pytest.mark.django_db


@pytest.fixture
def delete_needs_mfa(world):
    Scope.objects.filter(name=S.PHOTOS_DELETE).update(required_acr=authn.MFA, max_age=600)


def step_up_target(response) -> str:
    assert response.status_code == 302, response.content[:300]
    location = urlparse(response["Location"])
    assert location.path == "/account/verify/"
    return parse_qs(location.query)["next"][0]


def test_a_scope_needing_a_second_factor_sends_the_user_to_give_it(
    world, gallery, browser_of, delete_needs_mfa
):
    device, _ = enrolled(world.member_a)
    browser = browser_of(world.member_a)  # signed in with the password only
    flow = Flow(browser, gallery.client_id, "photos.delete offline_access")
    back = step_up_target(flow.start())
    assert back.startswith("/o/authorize/?")
    assert not AccessToken.objects.exists()
    stepped = browser.post("/account/verify/", {"code": next_code(device), "next": back})
    assert stepped["Location"] == back
    page = browser.get(back)
    assert flow.exchange(flow.consent(page)).status_code == 200
    token = AccessToken.objects.get()
    assert (token.acr, token.amr) == (authn.MFA, "pwd otp mfa")
    assert abs((timezone.now() - token.auth_time).total_seconds()) < 60


def test_an_implying_scope_needs_the_same(world, gallery, browser_of, delete_needs_mfa):
    flow = Flow(browser_of(world.member_a), gallery.client_id, "photos.write")
    step_up_target(flow.start())


def test_other_scopes_are_granted_at_the_password_level(world, gallery, browser_of, delete_needs_mfa):
    flow = Flow(browser_of(world.member_a), gallery.client_id, "photos.read")
    assert flow.exchange(flow.authorize()).status_code == 200
    assert AccessToken.objects.get().acr == authn.PASSWORD


def test_the_clients_acr_values_ask_for_a_second_factor_too(world, gallery, browser_of):
    flow = Flow(browser_of(world.member_a), gallery.client_id, "photos.read", extra={"acr_values": "mfa"})
    step_up_target(flow.start())


def test_prompt_none_cannot_step_up(world, gallery, browser_of, delete_needs_mfa):
    flow = Flow(browser_of(world.member_a), gallery.client_id, "photos.delete", extra={"prompt": "none"})
    params = Flow.redirect_params(flow.start())
    assert params["error"] == "interaction_required"


def test_a_person_without_a_factor_is_offered_to_set_one_up(world, gallery, browser_of, delete_needs_mfa):
    browser = browser_of(world.member_a)
    back = step_up_target(Flow(browser, gallery.client_id, "photos.delete").start())
    page = browser.get("/account/verify/", {"next": back}).content.decode()
    assert "Set up an authenticator app" in page


def test_id_tokens_say_how_the_user_signed_in(world, gallery, browser_of):
    flow = Flow(browser_of(world.member_a), gallery.client_id, "openid", extra={"nonce": "n-1"})
    id_token = flow.exchange(flow.authorize()).json()["id_token"]
    key_set = jwk.JWKSet.from_json(Client().get("/o/.well-known/jwks.json").content)
    claims = json.loads(jwt.JWT(jwt=id_token, key=key_set, algs=["RS256"]).claims)
    assert claims["acr"] == "password" and claims["amr"] == ["pwd"]
    assert abs(claims["auth_time"] - timezone.now().timestamp()) < 60
