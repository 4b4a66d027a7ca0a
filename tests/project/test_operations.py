"""What operators watch: /healthz, /readyz (against a Redis and an S3 server this test starts and
stops), request ids in headers, error bodies and JSON logs, and Prometheus metrics."""

from __future__ import annotations

import io
import json
import logging
import shutil

import pytest
from django.conf import settings as django_settings
from django.test import Client
from prometheus_client import REGISTRY
from prometheus_client.parser import text_string_to_metric_families
from pythonjsonlogger.json import JsonFormatter

from project.observability import RequestIdFilter
from scopes.constants import ScopeName as S
from tests.servers import RedisServer, S3Server, redis_caches

pytestmark = pytest.mark.django_db


def test_healthz_answers_without_authentication_session_or_known_host():
    response = Client(HTTP_HOST="10.1.2.3").get("/healthz")  # a load balancer probes by address
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}
    assert "Set-Cookie" not in response and response["Cache-Control"] == "no-store"
    assert Client().post("/healthz").status_code == 405


def test_readyz_with_only_the_database(settings):
    response = Client().get("/readyz")
    assert response.status_code == 200
    # The cache is checked only where one is configured (CI's PostgreSQL leg runs with Redis).
    cache = {"cache": "ok"} if settings.REDIS_URL else {}
    assert response.json() == {"status": "ok", "checks": {"database": "ok", **cache}}


@pytest.fixture
def parts(settings, s3_server):
    """A Redis and an S3 server of this test's own, to stop and start again."""
    if shutil.which("redis-server") is None:
        pytest.skip("redis-server is not installed (CI installs it)")
    redis_server = RedisServer()
    redis_server.start()
    store = S3Server().start()
    bucket = store.new_bucket()
    settings.REDIS_URL = f"redis://127.0.0.1:{redis_server.port}/0"
    settings.CACHES = redis_caches(redis_server.port)
    settings.AWS_STORAGE_BUCKET_NAME = bucket
    settings.STORAGES = store.storages_setting(bucket, django_settings.STORAGES["staticfiles"])
    try:
        yield redis_server, store, bucket
    finally:
        redis_server.kill()
        store.stop()


def _ready() -> tuple[int, dict]:
    response = Client().get("/readyz")
    body = response.json()
    assert body.pop("request_id", response["X-Request-ID"]) == response["X-Request-ID"]
    return response.status_code, body


def test_readyz_names_the_part_that_is_down_and_recovers(parts, settings):
    redis_server, store, bucket = parts
    everything = {"database": "ok", "cache": "ok", "storage": "ok"}
    assert _ready() == (200, {"status": "ok", "checks": everything})

    redis_server.kill()
    assert _ready() == (503, {"status": "unavailable", "checks": {**everything, "cache": "down"}})
    settings.READYZ_OPTIONAL = ["cache"]  # the product works without Redis: report, stay in service
    assert _ready() == (200, {"status": "ok", "checks": {**everything, "cache": "down"}})
    settings.READYZ_OPTIONAL = []
    redis_server.start()
    assert _ready() == (200, {"status": "ok", "checks": everything})

    store.stop()
    status, body = _ready()
    assert (status, body) == (503, {"status": "unavailable", "checks": {**everything, "storage": "down"}})
    store.start()  # an in-memory server: back empty, so the bucket comes back too
    store.client().create_bucket(Bucket=bucket)
    assert _ready() == (200, {"status": "ok", "checks": everything})


def test_readyz_says_what_is_down_never_why(parts):
    redis_server, store, _ = parts
    redis_server.kill()
    store.stop()
    response = Client().get("/readyz")
    assert response.status_code == 503
    text = response.content.decode()
    for leak in ("127.0.0.1", str(redis_server.port), str(store.port), "Error", "refused", "Traceback"):
        assert leak not in text


def test_every_response_carries_a_request_id_and_error_bodies_repeat_it(world, api_client):
    ok = Client().get("/healthz")
    assert len(ok["X-Request-ID"]) == 32
    refused = Client(HTTP_AUTHORIZATION="Bearer made-up").get("/api/t/acme/photos/")
    assert refused.status_code == 401
    assert refused.json()["request_id"] == refused["X-Request-ID"]
    assert refused.json()["reason"] == "invalid_token"
    forbidden = api_client(world.guest_a, world.acme, [S.PHOTOS_READ]).delete("/api/t/acme/albums/1/")
    assert forbidden.status_code == 403 and forbidden.json()["request_id"] == forbidden["X-Request-ID"]
    oauth = Client().post("/o/token/", {"grant_type": "authorization_code", "code": "x", "client_id": "nope"})
    assert oauth.status_code >= 400 and oauth.json()["request_id"] == oauth["X-Request-ID"]


def test_a_load_balancers_request_id_is_kept_and_junk_is_replaced():
    given = Client(HTTP_X_REQUEST_ID="lb-7f3a.1:2").get("/healthz")
    assert given["X-Request-ID"] == "lb-7f3a.1:2"
    for junk in ("has space", "x" * 65, "new\nline", "é"):
        answer = Client(HTTP_X_REQUEST_ID=junk).get("/healthz")
        assert answer["X-Request-ID"] != junk and len(answer["X-Request-ID"]) == 32


def test_logs_are_json_lines_with_the_request_id(world, api_client):
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    formatter = django_settings.LOGGING["formatters"]["json"]
    handler.setFormatter(JsonFormatter(formatter["fmt"], rename_fields=formatter["rename_fields"]))
    handler.addFilter(RequestIdFilter())
    logger = logging.getLogger("project.request")
    old_level = logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    try:
        response = api_client(world.guest_a, world.acme, [S.PHOTOS_READ]).get("/api/t/acme/photos/")
    finally:
        logger.removeHandler(handler)
        logger.setLevel(old_level)
    line = json.loads(stream.getvalue().strip().splitlines()[-1])
    assert line["request_id"] == response["X-Request-ID"]
    assert (line["level"], line["logger"], line["message"]) == ("INFO", "project.request", "request")
    assert (line["method"], line["route"], line["status"]) == ("GET", "photo-list", 200)
    assert isinstance(line["duration_ms"], float)


def _sample(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


def test_metrics_count_requests_by_route_and_status_and_decisions_by_reason(
    world, api_client, django_assert_num_queries, tenancy_statements
):
    guest = api_client(world.guest_a, world.acme, [S.PHOTOS_READ])
    no_scope = api_client(world.member_a, world.acme, [S.PROFILE_READ])
    before = {
        "list": _sample("http_requests_total", route="photo-list", method="GET", status="200"),
        "refused": _sample("http_requests_total", route="photo-list", method="GET", status="403"),
        "allowed": _sample("api_decisions_total", stage="collection", reason="allowed"),
        "scope": _sample("api_decisions_total", stage="collection", reason="scope_missing"),
        "role": _sample("api_decisions_total", stage="collection", reason="role_forbids"),
    }
    guest.get("/api/t/acme/photos/")  # warm the token's context
    # Counting adds no statement: the probe and the page query, as without metrics.
    with django_assert_num_queries(tenancy_statements + 1):
        assert guest.get("/api/t/acme/photos/").status_code == 200
    assert no_scope.get("/api/t/acme/photos/").status_code == 403
    assert guest.post("/api/t/acme/albums/", {"name": "x"}, format="json").json()["reason"] == "scope_missing"
    role_only = api_client(world.guest_a, world.acme, [S.PHOTOS_READ, S.ALBUMS_WRITE])
    assert (
        role_only.post("/api/t/acme/albums/", {"name": "x"}, format="json").json()["reason"] == "role_forbids"
    )

    after = {
        "list": _sample("http_requests_total", route="photo-list", method="GET", status="200"),
        "refused": _sample("http_requests_total", route="photo-list", method="GET", status="403"),
        "allowed": _sample("api_decisions_total", stage="collection", reason="allowed"),
        "scope": _sample("api_decisions_total", stage="collection", reason="scope_missing"),
        "role": _sample("api_decisions_total", stage="collection", reason="role_forbids"),
    }
    assert {k: after[k] - before[k] for k in before} == {
        "list": 2,
        "refused": 1,
        "allowed": 2,
        "scope": 2,
        "role": 1,
    }

    exposed = Client().get("/metrics")
    assert exposed.status_code == 200
    families = {family.name: family for family in text_string_to_metric_families(exposed.content.decode())}
    assert {"http_requests", "http_request_duration_seconds", "api_decisions"} <= set(families)
    routes = {s.labels.get("route") for s in families["http_requests"].samples}
    assert "photo-list" in routes and not any(r and r.startswith("/api/") for r in routes)


def test_metrics_can_require_a_token(settings):
    settings.METRICS_TOKEN = "scrape-secret"
    assert Client().get("/metrics").status_code == 401
    assert Client(HTTP_AUTHORIZATION="Bearer wrong").get("/metrics").status_code == 401
    assert Client(HTTP_AUTHORIZATION="Bearer scrape-secret").get("/metrics").status_code == 200
