"""What an uncaught error answers: a 503 while the database is unreachable, never an HTML page to an API client.

Django sends every exception that nothing handled, raised in a view *or in a middleware* (the
session, authentication and tenancy middleware all reach the database before any view runs), to
one place: the `handler500` view (`project/urls.py`), called while the exception is being handled.
So this is the one place that decides the answer, for every path:

- The database is unreachable (PostgreSQL stopped, restarting, refusing connections, or a pooled
  connection it closed): **503** with `Retry-After`. API clients and OAuth clients get JSON,
  `{"error": "temporarily_unavailable", "reason": "database_unavailable", "detail": ...}` (the
  `request_id` is added by `project.observability`, as on every JSON error), the shape the object
  store's `storage_unavailable` has; a browser gets a short 503 page. Nothing was written: each
  request is one transaction, rolled back on a 5xx (`accounts.middleware.TenancyMiddleware`).
- Anything else: **500**, as JSON for API clients, Django's plain page for browsers.

The 4xx answers Django gives by itself (no URL matched: 404; a host not in ALLOWED_HOSTS or another
suspicious request: 400; `PermissionDenied` outside DRF: 403) follow the same rule: JSON with a
stable `reason` for API clients (the 404 is the API's one 404 body, so an unknown API path and a
missing or not-yours object cannot be told apart), Django's page for browsers.

"Unreachable" is decided from the driver's error, not from the message: psycopg's connection
errors have no SQLSTATE (refused, closed, lost) or one of class 08 (connection exception) or
57P (the server shutting down, crashed, starting up). Other operational errors (a statement
timeout, a deadlock, SQLite's "no such table") are not an outage and stay 500s. With
`DEBUG=True` Django shows its debug page instead, for developers.
"""

from __future__ import annotations

import sys

import psycopg
from django.http import HttpRequest, HttpResponse, HttpResponseServerError, JsonResponse
from django.views import defaults

# Long enough for PostgreSQL's restart or a fail-over to finish, short enough for a client's retry.
RETRY_AFTER_SECONDS = 5
DATABASE_UNAVAILABLE = "database_unavailable"
_OUTAGE_SQLSTATE_CLASSES = ("08", "57P")
API_PREFIX = "/api/"

_OUTAGE_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Temporarily unavailable</title></head>
<body><h1>Temporarily unavailable</h1>
<p>The service cannot reach its database. Nothing was changed. Please try again in a few seconds.</p>
</body></html>
"""


def database_unavailable(exc: BaseException | None) -> bool:
    """Whether `exc` (or an error it was raised from) says the database cannot be reached."""
    seen: set[int] = set()
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        if isinstance(exc, psycopg.InterfaceError):
            return True  # the connection is closed or broken
        if isinstance(exc, psycopg.OperationalError):
            state = exc.sqlstate
            return state is None or state.startswith(_OUTAGE_SQLSTATE_CLASSES)
        # Django wraps the driver's error (django.db.OperationalError from psycopg.OperationalError).
        exc = exc.__cause__ or exc.__context__
    return False


def wants_json(request: HttpRequest) -> bool:
    """API paths always; elsewhere every client but a browser (one that does not ask for HTML).

    OAuth clients (token, introspection, revocation, userinfo, device authorization) never ask for
    HTML; a browser at /o/authorize/ or /account/ does, and gets a page.
    """
    if request.path.startswith(API_PREFIX):
        return True
    return "text/html" not in request.headers.get("Accept", "")


def unavailable_response(request: HttpRequest) -> HttpResponse:
    """503 for an unreachable database: JSON for clients, a short page for browsers."""
    response: HttpResponse
    if wants_json(request):
        response = JsonResponse(
            {
                "error": "temporarily_unavailable",
                "reason": DATABASE_UNAVAILABLE,
                "detail": "The database is unavailable; nothing was changed. Try again shortly.",
            },
            status=503,
        )
    else:
        response = HttpResponse(_OUTAGE_PAGE, status=503, content_type="text/html; charset=utf-8")
    response["Retry-After"] = str(RETRY_AFTER_SECONDS)
    response["Cache-Control"] = "no-store"
    return response


def server_error(request: HttpRequest) -> HttpResponse:
    """The `handler500` view: reads the exception being handled (it runs inside Django's `except`)."""
    if database_unavailable(sys.exc_info()[1]):
        return unavailable_response(request)
    if wants_json(request):
        return JsonResponse(
            {"error": "server_error", "reason": "server_error", "detail": "The server failed to answer."},
            status=500,
        )
    return HttpResponseServerError(
        "<!doctype html>\n<title>Server Error (500)</title><h1>Server Error (500)</h1>\n",
        content_type="text/html; charset=utf-8",
    )


def _client_error(
    request: HttpRequest, status: int, error: str, reason: str, detail: str
) -> HttpResponse | None:
    if not wants_json(request):
        return None
    return JsonResponse({"error": error, "reason": reason, "detail": detail}, status=status)


def page_not_found(request: HttpRequest, exception: Exception) -> HttpResponse:
    """The `handler404` view: the API's one 404 body for clients, Django's page for browsers."""
    if wants_json(request):
        # The API's body, so that no path tells "no such route" from "no such object".
        from api.exceptions import NOT_FOUND_BODY

        return JsonResponse(dict(NOT_FOUND_BODY), status=404)
    return defaults.page_not_found(request, exception)


def bad_request(request: HttpRequest, exception: Exception) -> HttpResponse:
    """The `handler400` view (a host not allowed, a suspicious request)."""
    answer = _client_error(request, 400, "invalid_request", "bad_request", "The request is not valid here.")
    return answer or defaults.bad_request(request, exception)


def permission_denied(request: HttpRequest, exception: Exception) -> HttpResponse:
    """The `handler403` view (`PermissionDenied` outside the API's own refusals)."""
    answer = _client_error(request, 403, "forbidden", "forbidden", "You may not do this.")
    return answer or defaults.permission_denied(request, exception)
