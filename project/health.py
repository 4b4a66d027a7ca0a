"""`/healthz`, `/readyz` and `/metrics`: answered before any other middleware, without authentication.

Answered first so that a probe needs no session, no CSRF, no HTTPS redirect and no tenancy
transaction, and so that `/readyz` can still answer when the database is down. Nothing in them
names a host, a version or an error: `/readyz` says which part is down, never why.

- `/healthz`: the process answers (no I/O). A load balancer's liveness check.
- `/readyz`: the database answers a query; the cache (when `REDIS_URL` is set) answers a PING;
  the object store (when `AWS_STORAGE_BUCKET_NAME` is set) answers for the bucket. 200 when every
  part is up, else 503 with `{"status": "unavailable", "checks": {"database": "ok", "cache":
  "down", ...}}`. A part named in `READYZ_OPTIONAL` is reported but does not make the answer 503
  (the product works without Redis: docs/deployment.md).
- `/metrics`: Prometheus' text format; when `METRICS_TOKEN` is set it must come as a Bearer token.
"""

from __future__ import annotations

import hmac
import logging
import os
from collections.abc import Callable

from django.conf import settings
from django.core.cache import caches
from django.db import connections
from django.http import HttpRequest, HttpResponse, JsonResponse
from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, CollectorRegistry, generate_latest

logger = logging.getLogger(__name__)

OK, DOWN = "ok", "down"


def _database() -> None:
    connection = connections["default"]
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            cursor.fetchone()
    except Exception:
        connection.close()  # a broken connection is not kept for the next request
        raise


def _cache() -> None:
    # Straight to Redis: the project's cache backend answers "empty" during an outage by design.
    client = caches["default"].client.get_client(write=True)  # type: ignore[attr-defined]
    client.ping()


def checks() -> dict[str, Callable[[], None]]:
    """The parts this deployment depends on, each with its probe."""
    parts: dict[str, Callable[[], None]] = {"database": _database}
    if settings.REDIS_URL:
        parts["cache"] = _cache
    if settings.AWS_STORAGE_BUCKET_NAME:
        parts["storage"] = _storage_check
    return parts


def _storage_check() -> None:
    # The object store's probe lives with the storage code (photos.storage); project imports it
    # lazily so that the settings-level modules stay importable without the apps.
    from photos.storage import check_reachable

    check_reachable()


def readiness() -> tuple[int, dict[str, object]]:
    """Probe every part; 503 when a required one is down."""
    results: dict[str, str] = {}
    for name, probe in checks().items():
        try:
            probe()
            results[name] = OK
        except Exception:
            logger.warning("readiness: %s is down", name, exc_info=True)
            results[name] = DOWN
    optional = set(settings.READYZ_OPTIONAL)
    ready = all(state == OK for name, state in results.items() if name not in optional)
    return (200 if ready else 503), {"status": "ok" if ready else "unavailable", "checks": results}


def metrics_payload() -> bytes:
    """Every metric of this process, or of all gunicorn workers when they share a directory."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        from prometheus_client import multiprocess

        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
        return generate_latest(registry)
    return generate_latest(REGISTRY)


def _no_store(response: HttpResponse) -> HttpResponse:
    response["Cache-Control"] = "no-store"
    return response


class HealthMiddleware:
    """Answers the three operator paths before anything else runs."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        path = request.path_info
        if path not in ("/healthz", "/readyz", "/metrics"):
            return self.get_response(request)
        request.metrics_route = path.lstrip("/")  # type: ignore[attr-defined]
        if request.method not in ("GET", "HEAD"):
            response = JsonResponse({"error": "method_not_allowed"}, status=405)
            response["Allow"] = "GET, HEAD"
            return response
        if path == "/healthz":
            return _no_store(JsonResponse({"status": "ok"}))
        if path == "/readyz":
            status, body = readiness()
            return _no_store(JsonResponse(body, status=status))
        token = settings.METRICS_TOKEN
        if token:
            given = request.headers.get("Authorization", "")
            if not hmac.compare_digest(given.encode(), f"Bearer {token}".encode()):
                response = JsonResponse({"error": "unauthorized"}, status=401)
                response["WWW-Authenticate"] = 'Bearer realm="metrics"'
                return response
        return _no_store(HttpResponse(metrics_payload(), content_type=CONTENT_TYPE_LATEST))
