"""Attacks on the rate limits: a second bucket for the same account or client, a second endpoint.

A limit protects one secret (a password, a client secret). Each attack here reaches the secret by a
name or a door the limit did not count: a look-alike spelling of the account, a decoy HTTP Basic
header in front of the real client's body credentials, or the introspection and revocation
endpoints, which check the same client secret as the token endpoint. Once the limit holds, the
right secret must get the same 429 as a wrong one, and nothing may change.
"""

from __future__ import annotations

import base64

import pytest
from django.test import Client

from scopes.models import Application
from tests.factories import ApplicationFactory

pytestmark = [pytest.mark.django_db, pytest.mark.attack]

ATTACKER_IP = "203.0.113.66"
RS_SECRET = "resource-server-secret"
WRONG = "wrong-secret"


@pytest.fixture
def limits(settings):
    """Generous limits everywhere but the one under attack (per address ones never interfere)."""

    def set_limits(**overrides: tuple[int, int]) -> None:
        settings.RATE_LIMITS = {
            **settings.RATE_LIMITS,
            "login-account": (100, 900),
            "login-ip": (1000, 900),
            "token-client": (100, 60),
            "token-ip": (1000, 60),
            **{name.replace("_", "-"): rate for name, rate in overrides.items()},
        }

    return set_limits


def sign_in(username: str, password: str, url: str = "/account/login/"):
    return Client(REMOTE_ADDR=ATTACKER_IP).post(url, {"username": username, "password": password})


# --- 7. One account, one bucket, however its name is spelled


LOOK_ALIKES = [
    "\uff4dember_a",  # fullwidth m: NFKC makes it "member_a", and so does the sign-in form
    "\uff4d\uff45\uff4d\uff42\uff45\uff52\uff3f\uff41",  # every letter fullwidth
    "MEMBER_A",  # another case: never signs in, but must not open a fresh bucket either
]


@pytest.mark.parametrize("url", ["/account/login/", "/admin/login/"])
@pytest.mark.parametrize("spelling", LOOK_ALIKES)
def test_a_look_alike_spelling_of_a_locked_account_is_still_locked(world, limits, unchanged, url, spelling):
    limits(login_account=(5, 900))
    for _ in range(5):
        assert sign_in("member_a", "guess", url=url).status_code == 200
    with unchanged():  # last_login would change on a successful sign-in
        answer = sign_in(spelling, "pw", url=url)
    assert answer.status_code == 429
    assert "sessionid" not in answer.cookies


def test_failures_under_a_look_alike_lock_the_real_name(world, limits, unchanged):
    limits(login_account=(5, 900))
    for _ in range(5):
        assert sign_in("\uff4dember_a", "guess").status_code == 200
    with unchanged():
        assert sign_in("member_a", "pw").status_code == 429


# --- 8 and 9. One client, one limit, whatever header and whichever endpoint


@pytest.fixture
def resource_server(seeded) -> Application:
    """A confidential client: the secret an attacker wants to confirm."""
    return ApplicationFactory(
        name="Photo API",
        client_id="photo-api",
        client_type=Application.CLIENT_CONFIDENTIAL,
        authorization_grant_type=Application.GRANT_CLIENT_CREDENTIALS,
        client_secret=RS_SECRET,
        hash_client_secret=True,
    )


def basic(user: str, password: str, scheme: str = "Basic") -> dict[str, str]:
    return {"HTTP_AUTHORIZATION": f"{scheme} " + base64.b64encode(f"{user}:{password}".encode()).decode()}


def post(path: str, data: dict[str, str], **headers: str):
    return Client(REMOTE_ADDR=ATTACKER_IP).post(path, data, **headers)


def token_guess(secret: str, **headers: str):
    """A secret check at the token endpoint: a bogus code, so a right secret answers 400, a wrong 401."""
    data = {
        "grant_type": "authorization_code",
        "code": "bogus",
        "client_id": "photo-api",
        "client_secret": secret,
    }
    return post("/o/token/", data, **headers)


def introspect_guess(secret: str):
    return post("/o/introspect/", {"token": "anything"}, **basic("photo-api", secret))


def revoke_guess(secret: str):
    return post("/o/revoke_token/", {"token": "anything"}, **basic("photo-api", secret))


def exhaust_at_the_token_endpoint(count: int) -> None:
    for _ in range(count):
        assert token_guess(WRONG).status_code == 401


def same_refusal(right, wrong) -> None:
    """The limit answered both: a right secret cannot be told from a wrong one."""
    assert right.status_code == wrong.status_code == 429
    assert right.json()["error"] == wrong.json()["error"] == "temporarily_unavailable"
    assert abs(int(right["Retry-After"]) - int(wrong["Retry-After"])) <= 1  # a second may pass between


# A header that sends DOT to the body credentials (its HTTP Basic check fails or is skipped).
DECOYS = {
    "another client": basic("decoy", "x"),
    "lower-case scheme": basic("decoy", "x", scheme="basic"),  # DOT reads only "Basic"
    "base64 with junk": {  # DOT's decoder drops what is not base64; a strict one reads nothing
        "HTTP_AUTHORIZATION": "Basic " + "*".join(base64.b64encode(b"decoy:x").decode())
    },
}


@pytest.mark.parametrize("decoy", DECOYS.values(), ids=DECOYS.keys())
def test_a_decoy_basic_header_does_not_reopen_a_limited_client(resource_server, limits, unchanged, decoy):
    limits(token_client=(3, 3600))
    exhaust_at_the_token_endpoint(3)
    with unchanged():
        same_refusal(token_guess(RS_SECRET, **decoy), token_guess(WRONG, **decoy))


def test_a_client_id_in_the_query_string_is_counted_too(resource_server, limits, unchanged):
    limits(token_client=(3, 3600))
    exhaust_at_the_token_endpoint(3)
    with unchanged():
        right = post("/o/introspect/?client_id=photo-api&client_secret=" + RS_SECRET, {"token": "x"})
        wrong = post("/o/introspect/?client_id=photo-api&client_secret=" + WRONG, {"token": "x"})
    same_refusal(right, wrong)


def test_failures_behind_a_decoy_are_charged_to_the_real_client(resource_server, limits, unchanged):
    limits(token_client=(3, 3600))
    for _ in range(3):
        assert token_guess(WRONG, **basic("decoy", "x")).status_code == 401
    with unchanged():
        same_refusal(token_guess(RS_SECRET), token_guess(WRONG))


@pytest.mark.parametrize("guess", [introspect_guess, revoke_guess], ids=["introspection", "revocation"])
def test_introspection_and_revocation_share_the_token_endpoints_limit(
    resource_server, limits, unchanged, guess
):
    limits(token_client=(3, 3600))
    exhaust_at_the_token_endpoint(3)
    with unchanged():
        same_refusal(guess(RS_SECRET), guess(WRONG))


@pytest.mark.parametrize("guess", [introspect_guess, revoke_guess], ids=["introspection", "revocation"])
def test_guesses_at_introspection_or_revocation_lock_the_token_endpoint(
    resource_server, limits, unchanged, guess
):
    limits(token_client=(3, 3600))
    for _ in range(3):
        assert guess(WRONG).status_code == 401
    with unchanged():
        same_refusal(token_guess(RS_SECRET), token_guess(WRONG))
