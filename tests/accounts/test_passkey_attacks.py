"""Attacks on passkeys: a forged assertion, guessing past the limit, removal from a borrowed session,
a registration without its ceremony."""

from __future__ import annotations

import json

import pytest

from accounts.models import Passkey
from tests.accounts.factor_helpers import password_step

pytestmark = [pytest.mark.django_db, pytest.mark.attack]

FORGED = {
    "id": "cred",
    "rawId": "cred",
    "type": "public-key",
    "response": {"clientDataJSON": "e30", "authenticatorData": "AAAA", "signature": "AAAA"},
}


def post_json(client, url: str, body: dict | None = None):
    return client.post(url, json.dumps(body or {}), content_type="application/json")


@pytest.fixture
def passkey(world) -> Passkey:
    return Passkey.objects.create(
        user=world.member_a, name="Laptop", credential_id="cred", public_key=b"\x01"
    )


def test_a_forged_assertion_signs_nobody_in(world, passkey, unchanged):
    browser = password_step(world.member_a)
    post_json(browser, "/account/passkey/options/")
    with unchanged():
        answer = post_json(browser, "/account/passkey/verify/", {"credential": FORGED})
    assert answer.status_code == 400 and "_auth_user_id" not in browser.session


def test_an_assertion_without_its_challenge_is_refused(world, passkey, unchanged):
    browser = password_step(world.member_a)  # no options asked: no challenge in the session
    with unchanged():
        assert post_json(browser, "/account/passkey/verify/", {"credential": FORGED}).status_code == 400


def test_wrong_assertions_count_in_the_accounts_limit(world, passkey, settings, unchanged):
    settings.RATE_LIMITS = {**settings.RATE_LIMITS, "second-factor-user": (2, 900)}
    browser = password_step(world.member_a)
    for _ in range(2):
        post_json(browser, "/account/passkey/options/")
        assert post_json(browser, "/account/passkey/verify/", {"credential": FORGED}).status_code == 400
    with unchanged():
        answer = post_json(browser, "/account/passkey/verify/", {"credential": FORGED})
    assert answer.status_code == 429
    # and the TOTP page shares it
    assert browser.post("/account/login/second-factor/", {"code": "123456"}).status_code == 429


def test_a_borrowed_session_cannot_remove_a_passkey(world, passkey, browser_of, unchanged):
    browser = browser_of(world.member_a)
    with unchanged():
        answer = browser.post("/account/security/", {"action": "remove-passkey", "passkey": passkey.pk})
    assert answer.status_code == 302 and answer["Location"].startswith("/account/verify/")


def test_a_registration_without_its_ceremony_stores_nothing(world, browser_of, unchanged):
    browser = browser_of(world.member_a)
    with unchanged():
        answer = post_json(browser, "/account/security/passkeys/", {"credential": FORGED, "name": "x"})
    assert answer.status_code == 400 and "expired" in answer.json()["error"]
