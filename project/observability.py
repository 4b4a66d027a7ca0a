"""What operators watch: a request id on every request, one JSON log line per request, Prometheus metrics.

- **Request id.** Taken from an incoming `X-Request-ID` when it is a short token (a load balancer's),
  otherwise made here; returned in the `X-Request-ID` header, added to every JSON error body
  (`request_id`), and to every log record written while the request runs (`RequestIdFilter`).
- **Metrics** (prometheus-client): `http_requests_total` and `http_request_duration_seconds` by
  route (the URL pattern's name, never the raw path: bounded label values), method and status;
  the API's decisions by reason are counted where the permission class decides
  (`api.metrics`). Under gunicorn each worker writes to `PROMETHEUS_MULTIPROC_DIR`
  (`gunicorn.conf.py` sets it) and `/metrics` adds the workers up.
- **Only the application's series.** prometheus-client registers three collectors by itself: the
  platform's (`python_info`, which names the Python version), the process's (`process_*`: memory,
  file descriptors, start time) and the garbage collector's. They are removed here, so `/metrics`
  says the same under runserver as under gunicorn (whose multi-process collector never had them)
  and never names a version (docs/deployment.md, "Operations endpoints"; docs/security.md).
"""

from __future__ import annotations

import contextlib
import json
import logging
import re
import time
import uuid
from collections.abc import Callable
from contextvars import ContextVar

from django.http import HttpRequest, HttpResponse
from prometheus_client import (
    GC_COLLECTOR,
    PLATFORM_COLLECTOR,
    PROCESS_COLLECTOR,
    REGISTRY,
    Counter,
    Histogram,
)

REQUEST_ID_HEADER = "X-Request-ID"
_VALID_REQUEST_ID = re.compile(r"[A-Za-z0-9._:-]{1,64}")

request_id: ContextVar[str] = ContextVar("request_id", default="")
access_log = logging.getLogger("project.request")

REQUESTS = Counter(
    "http_requests", "HTTP requests answered, by route, method and status.", ["route", "method", "status"]
)
LATENCY = Histogram(
    "http_request_duration_seconds",
    "Time to answer, by route, method and status.",
    ["route", "method", "status"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0),
)
_METHODS = {"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"}

# The interpreter's and the process's own series go (see the module's docstring); a second import
# of this module (or another library's) must not fail on collectors already removed.
for _collector in (PLATFORM_COLLECTOR, PROCESS_COLLECTOR, GC_COLLECTOR):
    with contextlib.suppress(KeyError):
        REGISTRY.unregister(_collector)


class RequestIdFilter(logging.Filter):
    """Adds the current request's id to every log record (empty outside a request)."""

    def filter(self, record: logging.LogRecord) -> bool:
        # Django logs 4xx/5xx answers (`django.request`) after the middleware returned: the id is
        # then found on the request the record carries.
        record.request_id = request_id.get() or getattr(getattr(record, "request", None), "request_id", "")
        return True


def route_of(request: HttpRequest) -> str:
    """A bounded label for the request: the URL pattern's name, or what answered before routing."""
    preset = getattr(request, "metrics_route", None)
    if preset:
        return str(preset)
    match = getattr(request, "resolver_match", None)
    if match is None:
        return "unmatched"
    return match.view_name or match.route or "unnamed"


def _incoming_id(request: HttpRequest) -> str:
    given = request.headers.get(REQUEST_ID_HEADER, "")
    return given if _VALID_REQUEST_ID.fullmatch(given) else uuid.uuid4().hex


def _with_request_id(response: HttpResponse, rid: str) -> None:
    """Add `request_id` to a JSON error body (the API's, OAuth's, readiness's)."""
    if response.status_code < 400 or getattr(response, "streaming", False):
        return
    if not response.get("Content-Type", "").startswith("application/json"):
        return
    try:
        body = json.loads(response.content)
    except ValueError:
        return
    if not isinstance(body, dict) or "request_id" in body:
        return
    body["request_id"] = rid
    response.content = json.dumps(body, separators=(",", ":")).encode()
    if response.has_header("Content-Length"):
        response["Content-Length"] = str(len(response.content))


class ObservabilityMiddleware:
    """Outermost: gives the request its id, times it, counts it, logs it."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        rid = _incoming_id(request)
        request.request_id = rid  # type: ignore[attr-defined]
        token = request_id.set(rid)
        started = time.perf_counter()
        try:
            response = self.get_response(request)
            _with_request_id(response, rid)
            response[REQUEST_ID_HEADER] = rid
            elapsed = time.perf_counter() - started
            route = route_of(request)
            method = request.method if request.method in _METHODS else "other"
            status = str(response.status_code)
            REQUESTS.labels(route, method, status).inc()
            LATENCY.labels(route, method, status).observe(elapsed)
            if access_log.isEnabledFor(logging.INFO):
                access_log.info(
                    "request",
                    extra={
                        "method": method,
                        "route": route,
                        "status": response.status_code,
                        "duration_ms": round(elapsed * 1000, 2),
                    },
                )
            return response
        finally:
            request_id.reset(token)
