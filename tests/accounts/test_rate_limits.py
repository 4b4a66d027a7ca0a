"""Failed sign-ins and failed token requests are limited per account or client, and per address.

Past a limit the answer is 429 with Retry-After, and nothing is checked until the window ends.
Sign-in failures look the same whether or not the account exists.
"""

from __future__ import annotations

import base64

import pytest
from django.contrib.auth.forms import AuthenticationForm
from django.contrib.auth.hashers import MD5PasswordHasher
from django.test import Client, RequestFactory

from accounts import ratelimit
from accounts.views import account_key
from tests.answers import json_body

ACME_IP = "203.0.113.7"
OTHER_IP = "198.51.100.9"


class CountingHasher(MD5PasswordHasher):
    """Counts every hash computed, to show unknown accounts cost the same work as known ones."""

    computed = 0

    def encode(self, password: str, salt: str) -> str:
        CountingHasher.computed += 1
        return super().encode(password, salt)


@pytest.fixture
def limits(settings):
    def set_limits(**overrides: tuple[int, int]) -> None:
        settings.RATE_LIMITS = {
            **settings.RATE_LIMITS,
            "login-account": (100, 900),
            "login-ip": (100, 900),
            "token-client": (100, 60),
            "token-ip": (100, 60),
            **{name.replace("_", "-"): rate for name, rate in overrides.items()},
        }

    return set_limits


def sign_in(username: str, password: str = "wrong", ip: str = ACME_IP, url: str = "/account/login/"):
    return Client(REMOTE_ADDR=ip).post(url, {"username": username, "password": password})


def test_failed_sign_ins_are_limited_per_account_with_retry_after(world, limits):
    limits(login_account=(3, 900))
    for _ in range(3):
        assert sign_in("member_a").status_code == 200
    refused = sign_in("member_a", password="pw")  # even the right password, until the window ends
    assert refused.status_code == 429
    assert 1 <= int(refused["Retry-After"]) <= 900
    assert b"Too many failed sign-ins" in refused.content
    assert "sessionid" not in refused.cookies
    # Another account from the same address is not held back; nor is the case of the name a way round.
    assert sign_in("member2_a", password="pw").status_code == 302
    assert sign_in("MEMBER_A", password="pw", ip=OTHER_IP).status_code == 429


def test_failed_sign_ins_are_limited_per_address(world, limits):
    limits(login_ip=(3, 900))
    for username in ["member_a", "guest_a", "nobody"]:
        assert sign_in(username).status_code == 200
    assert sign_in("admin_a", password="pw").status_code == 429
    assert sign_in("admin_a", password="pw", ip=OTHER_IP).status_code == 302


def test_the_limit_lifts_when_the_window_ends(world, limits, monkeypatch):
    limits(login_account=(1, 60))
    now = 1_000_000.0
    monkeypatch.setattr(ratelimit.time, "time", lambda: now)
    assert sign_in("member_a").status_code == 200
    refused = sign_in("member_a", password="pw")
    assert refused.status_code == 429 and refused["Retry-After"] == "20"  # 1_000_020 starts the next window
    now += 20
    assert sign_in("member_a", password="pw").status_code == 302


def test_an_unknown_account_fails_exactly_like_a_known_one(world, limits, settings):
    settings.PASSWORD_HASHERS = ["tests.accounts.test_rate_limits.CountingHasher"]
    limits(login_account=(2, 900))
    answers = {}
    for username in ["member_a", "no-such-user"]:
        CountingHasher.computed = 0
        first = sign_in(username)
        answers[username] = (first.status_code, b"didn't match" in first.content, CountingHasher.computed)
        sign_in(username)
        answers[username] += (sign_in(username).status_code,)
    # Same status and message, the hasher runs once either way, and the limit applies to both.
    assert answers["member_a"] == answers["no-such-user"] == (200, True, 1, 429)


def test_the_admin_sign_in_is_limited_too(world, limits):
    limits(login_account=(2, 900))
    for _ in range(2):
        assert sign_in("admin_a", url="/admin/login/").status_code == 200
    refused = sign_in("admin_a", url="/admin/login/")
    assert refused.status_code == 429 and refused["Retry-After"]
    assert b"Too many failed sign-ins" in refused.content


def token_request(client_id: str, ip: str = ACME_IP, **extra):
    data = {"grant_type": "authorization_code", "code": "guessed", "client_id": client_id, **extra}
    return Client(REMOTE_ADDR=ip).post("/o/token/", data)


def test_failed_secret_guesses_are_limited_per_client_id(world, limits):
    limits(token_client=(3, 60))
    for _ in range(3):
        assert token_request(world.app.client_id, client_secret="guess").status_code in (400, 401)
    refused = token_request(world.app.client_id, ip=OTHER_IP, client_secret="guess")
    assert refused.status_code == 429
    assert 1 <= int(refused["Retry-After"]) <= 60
    assert refused.json()["error"] == "temporarily_unavailable"
    assert token_request("another-client", client_secret="guess").status_code in (400, 401)


def test_a_public_client_cannot_be_locked_out_for_everyone(world, limits):
    # Its id is public and it has no secret: failures count per address only.
    limits(token_client=(3, 60), token_ip=(100, 60))
    for _ in range(5):
        assert token_request(world.app.client_id).status_code in (400, 401)
    assert token_request(world.app.client_id, ip=OTHER_IP).status_code in (400, 401)


def test_failed_token_requests_are_limited_per_address(world, limits):
    limits(token_ip=(3, 60))
    for client_id in ["a", "b", "c"]:
        assert token_request(client_id).status_code in (400, 401)
    assert token_request("d").status_code == 429
    assert token_request("d", ip=OTHER_IP).status_code in (400, 401)


def test_a_client_authenticating_with_http_basic_is_counted_under_its_id(world, limits):
    limits(token_client=(1, 60))
    basic = base64.b64encode(f"{world.app.client_id}:secret".encode()).decode()
    Client(REMOTE_ADDR=ACME_IP).post(
        "/o/token/", {"grant_type": "authorization_code", "code": "x"}, HTTP_AUTHORIZATION=f"Basic {basic}"
    )
    assert token_request(world.app.client_id, ip=OTHER_IP, client_secret="guess").status_code == 429


def test_a_device_code_grant_without_a_client_is_a_401_not_a_500(world):
    response = Client().post("/o/token/", {"grant_type": "urn:ietf:params:oauth:grant-type:device_code"})
    assert response.status_code == 401 and json_body(response) == {"error": "invalid_client"}


@pytest.mark.parametrize(
    ("hops", "forwarded", "expected"),
    [
        (0, "198.51.100.1", "10.0.0.1"),  # no proxy trusted: the header is the client's to invent
        (1, "198.51.100.1", "198.51.100.1"),
        (1, "6.6.6.6, 198.51.100.1", "198.51.100.1"),  # what the client wrote itself is ignored
        (2, "6.6.6.6, 198.51.100.1, 10.0.0.2", "198.51.100.1"),
        (1, "", "10.0.0.1"),
        (1, "2001:db8:1:2:3:4:5:6", "2001:db8:1:2::/64"),  # IPv6 subscribers hold a /64
    ],
)
def test_client_address_believes_only_trusted_proxies(settings, hops, forwarded, expected):
    settings.TRUSTED_PROXY_COUNT = hops
    request = RequestFactory().get("/", REMOTE_ADDR="10.0.0.1", HTTP_X_FORWARDED_FOR=forwarded)
    assert ratelimit.client_address(request) == expected


@pytest.mark.parametrize(
    "typed", ["member_a", " member_a ", "\uff4dember_a", "\uff2d\uff25\uff2d\uff22\uff25\uff32_A"]
)
def test_every_spelling_of_an_account_shares_its_bucket(world, typed):
    # Whatever the sign-in form would authenticate as member_a is counted as member_a.
    form = AuthenticationForm(data={"username": typed, "password": "pw"})
    if form.is_valid():
        assert form.get_user() == world.member_a
    assert account_key(AuthenticationForm, typed) == account_key(AuthenticationForm, "member_a")
