"""Passkeys' server side (accounts.passkeys): what the pages refuse, and a passkey counting as a
second factor everywhere a factor counts. The ceremonies themselves run in Chromium's virtual
authenticator (tests/browser/test_passkey_browser.py)."""

from __future__ import annotations

import json

import pytest
from django.test import Client
from webauthn.helpers import bytes_to_base64url

from accounts import factors
from accounts.models import Passkey
from scopes.access.policy import SecondFactorRule
from scopes.constants import ScopeName
from scopes.tenant_policy import services
from tests.accounts.factor_helpers import enrolled, next_code, password_step

pytestmark = pytest.mark.django_db


def passkey_of(user) -> Passkey:
    """A stored passkey row (its public key is never used here: no ceremony runs)."""
    return Passkey.objects.create(
        user=user,
        name="Laptop",
        credential_id=bytes_to_base64url(f"cred-{user.pk}".encode()),
        public_key=b"\x01",
    )


def post_json(client: Client, url: str, body: dict | None = None):
    return client.post(url, json.dumps(body or {}), content_type="application/json")


def test_a_passkey_is_a_second_factor_for_sign_in_and_the_tenant_rule(world, api_client):
    client = api_client(world.member_a, world.acme, [ScopeName.PHOTOS_READ])
    services.second_factor_rule_set(actor=world.owner_a, tenant=world.acme, rule=SecondFactorRule.MEMBERS)
    assert client.get("/api/t/acme/photos/").status_code == 401
    passkey = passkey_of(world.member_a)
    assert factors.has_second_factor(world.member_a)
    assert client.get("/api/t/acme/photos/").status_code == 200
    passkey.delete()  # fresh at once: the passkey table touches its user's row version
    assert client.get("/api/t/acme/photos/").status_code == 401


def test_a_person_with_a_passkey_is_asked_for_it_at_sign_in(world):
    passkey_of(world.member_a)
    browser = password_step(world.member_a)
    assert "_auth_user_id" not in browser.session
    options = post_json(browser, "/account/passkey/options/").json()
    assert options["allowCredentials"][0]["id"] == bytes_to_base64url(f"cred-{world.member_a.pk}".encode())
    assert options["userVerification"] == "required"


def test_the_options_need_a_sign_in_or_a_proven_password(world):
    answer = post_json(Client(), "/account/passkey/options/")
    assert answer.status_code == 403 and answer.json()["location"] == "/account/login/"


def test_adding_a_passkey_when_one_has_a_factor_needs_a_recent_one(world, browser_of):
    enrolled(world.member_a)
    answer = post_json(browser_of(world.member_a), "/account/security/passkeys/options/")
    assert answer.status_code == 403 and answer.json()["location"].startswith("/account/verify/?next=")


def test_registration_options_for_a_first_factor(world, browser_of):
    options = post_json(browser_of(world.member_a), "/account/security/passkeys/options/").json()
    assert options["rp"]["id"] == "testserver" and options["user"]["name"] == "member_a"
    assert options["authenticatorSelection"]["userVerification"] == "required"


def test_removing_a_passkey_after_a_recent_second_factor(world):
    device, _ = enrolled(world.member_a)
    passkey = passkey_of(world.member_a)
    browser = password_step(world.member_a)
    browser.post("/account/login/second-factor/", {"code": next_code(device)})
    answer = browser.post("/account/security/", {"action": "remove-passkey", "passkey": passkey.pk})
    assert answer.status_code == 200 and b"The passkey was removed." in answer.content
    assert not Passkey.objects.exists()
