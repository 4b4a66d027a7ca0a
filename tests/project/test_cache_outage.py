"""A Redis outage is not an outage: sign-in, the token endpoint and the API keep answering correctly.

Each test starts its own `redis-server` on a spare loopback port and points the caches at it
(`settings.CACHES`; Django's `setting_changed` handler rebuilds `django.core.cache.caches`, and
restores them afterwards). The server is then killed and restarted under the running tests. The
documented behaviour (docs/security.md, "When the cache is down"): never a 500, answers read from
the database, rate limits counted per process while Redis is away, Redis used again once it is
back. Skipped only where `redis-server` is not installed (CI installs it).
"""

from __future__ import annotations

import logging
import shutil
import socket
import time
from collections.abc import Iterator

import pytest
from django.core.cache import caches
from django.test import Client

from project.cache import RedisCache
from tests.oauth import Flow, refresh
from tests.servers import RETRY_SECONDS, RedisServer, redis_caches

pytestmark = [
    pytest.mark.django_db,
    pytest.mark.skipif(shutil.which("redis-server") is None, reason="redis-server is not installed"),
]


@pytest.fixture
def redis_server() -> Iterator[RedisServer]:
    server = RedisServer()
    server.start()
    yield server
    server.kill()


@pytest.fixture
def on_redis(settings, redis_server: RedisServer) -> RedisServer:
    """The caches on the test's own Redis, with a short retry so recovery is seen within the test."""
    settings.CACHES = redis_caches(redis_server.port)
    assert isinstance(caches["default"], RedisCache) and isinstance(caches["ratelimit"], RedisCache)
    settings.RATE_LIMITS = {**settings.RATE_LIMITS, "login-account": (3, 3600), "login-ip": (1000, 3600)}
    return redis_server


def sign_in(username: str, password: str):
    return Client().post("/account/login/", {"username": username, "password": password})


def check_the_product_works(world, gallery, browser_of, api_client, locked_account: str) -> None:
    """Sign-in, a code exchange, a refresh and the API answer correctly; the sign-in limit refuses."""
    assert sign_in("member_a", "pw").status_code == 302
    assert sign_in("member_a", "wrong").status_code == 200

    flow = Flow(browser_of(world.member_a), gallery.client_id, "photos.read offline_access")
    exchanged = flow.exchange(flow.authorize())
    assert exchanged.status_code == 200, exchanged.content
    first = exchanged.json()
    refreshed = refresh(gallery.client_id, first["refresh_token"])
    assert refreshed.status_code == 200, refreshed.content

    def api(access_token: str) -> int:
        client = Client(HTTP_AUTHORIZATION=f"Bearer {access_token}")
        return client.get("/api/t/acme/photos/").status_code

    assert api(refreshed.json()["access_token"]) == 200
    assert api(first["access_token"]) == 401  # rotated away by the refresh: never served from a cache
    assert (
        api_client(world.guest_a, world.acme, scopes=["photos.read"]).get("/api/t/acme/photos/").status_code
        == 200
    )
    assert (
        api_client(world.guest_a, world.globex, scopes=["photos.read"])
        .get("/api/t/globex/photos/")
        .status_code
        == 404
    )

    for _ in range(3):
        assert sign_in(locked_account, "wrong").status_code == 200
    assert sign_in(locked_account, "pw").status_code == 429


def test_sign_in_tokens_and_the_api_survive_redis_going_away_and_coming_back(
    world, gallery, browser_of, api_client, on_redis, caplog
):
    caplog.set_level(logging.WARNING, logger="project.cache")

    check_the_product_works(world, gallery, browser_of, api_client, locked_account="owner_a")
    assert on_redis.client().keys("gp-outage:*ratelimit:*"), "the counters live in Redis while it is up"

    on_redis.kill()
    check_the_product_works(world, gallery, browser_of, api_client, locked_account="admin_a")
    assert caches["default"].get("anything", "missing") == "missing"  # an empty cache, not an error
    warnings = [r.getMessage() for r in caplog.records if "unreachable" in r.getMessage()]
    assert warnings and len(warnings) <= 2, warnings  # one per outage (per alias), not one per call
    assert "127.0.0.1" in warnings[0] and "gp-outage" not in warnings[0]

    on_redis.start()  # empty: the server keeps nothing across a restart
    time.sleep(RETRY_SECONDS + 0.1)  # the next call may probe Redis again
    check_the_product_works(world, gallery, browser_of, api_client, locked_account="member2_a")
    assert on_redis.client().keys("gp-outage:*ratelimit:*"), "the counters are back in Redis"
    assert any("answers again" in r.getMessage() for r in caplog.records)


def test_rate_limits_count_per_process_while_redis_is_down(world, on_redis):
    on_redis.kill()
    for _ in range(3):
        assert sign_in("member_a", "wrong").status_code == 200
    refused = sign_in("member_a", "pw")
    assert refused.status_code == 429 and int(refused["Retry-After"]) > 0
    assert sign_in("guest_a", "pw").status_code == 302  # another account is not held back


def test_the_default_cache_is_empty_and_the_counters_local_while_redis_is_down(on_redis):
    on_redis.kill()
    default, counters = caches["default"], caches["ratelimit"]
    assert default.add("k", 1) is False and default.get("k") is None and default.get_many(["k"]) == {}
    with pytest.raises(ValueError):  # what an empty cache answers
        default.incr("k")
    default.set("k", 1)
    default.delete("k")
    default.delete_many(["k"])
    assert counters.add("k", 0) is True and counters.incr("k") == 1 and counters.get("k") == 1


def test_a_redis_that_never_answers_costs_one_timeout_per_retry_period(settings):
    """A black-holed server (connections accepted, nothing answered) must not slow every request."""
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(16)
        settings.CACHES = redis_caches(silent.getsockname()[1], timeout=1.0, retry_seconds=60)
        cache = caches["default"]
        started = time.monotonic()
        assert cache.get("k") is None
        first = time.monotonic() - started
        started = time.monotonic()
        for _ in range(20):
            assert cache.get("k") is None
        rest = time.monotonic() - started
    assert 0.9 <= first < 5, first  # the socket timeout, once
    assert rest < 0.5, rest  # then no network at all: 20 calls would take 20 s without the breaker
