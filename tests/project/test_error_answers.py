"""An API client never gets an HTML page (issue 24, item 12 and its class).

Django answers some requests before or outside any view that knows the API: no URL matched (404),
a host not in ALLOWED_HOSTS (400), an uncaught error (500), an unreachable database (503). Each
goes through one handler (project/errors.py) that answers API clients in JSON with a stable
reason, and browsers with a page. Which errors count as "the database is unreachable" is checked
with real errors from the drivers. The outage itself is tests/project/test_database_outage.py.
"""

from __future__ import annotations

import json
import sys

import psycopg
import pytest
from django.db import OperationalError, connection
from django.test import Client, RequestFactory

from api.exceptions import NOT_FOUND_BODY
from project.errors import database_unavailable, server_error
from scopes.constants import ScopeName as S
from tests.servers import free_port

pytestmark = pytest.mark.django_db

BROWSER = "text/html,application/xhtml+xml,*/*;q=0.8"


def _without_id(body: dict) -> dict:
    return {k: v for k, v in body.items() if k != "request_id"}


def test_an_unknown_api_path_is_the_apis_one_404(world, api_client):
    client = api_client(world.member_a, world.acme, [S.PHOTOS_READ])
    missing_object = client.get("/api/t/acme/photos/999999/")
    for path in ("/api/t/acme/no-such-thing/", "/api/nothing", "/api/t/acme/photos/1/2/3/"):
        for asker in (Client(), Client(HTTP_ACCEPT=BROWSER)):  # /api/ is JSON whoever asks
            answer = asker.get(path)
            assert answer.status_code == 404 and answer["Content-Type"] == "application/json", path
            assert _without_id(answer.json()) == _without_id(missing_object.json()) == NOT_FOUND_BODY
            assert answer.json()["request_id"] == answer["X-Request-ID"]


def test_oauth_clients_get_json_and_browsers_a_page():
    assert Client().get("/o/no-such-endpoint/").json()["reason"] == "not_found"
    page = Client(HTTP_ACCEPT=BROWSER).get("/o/no-such-endpoint/")
    assert page.status_code == 404 and page["Content-Type"].startswith("text/html")


def test_a_host_not_allowed_is_a_json_400_for_the_api(settings):
    settings.ALLOWED_HOSTS = ["good.example"]
    answer = Client(HTTP_HOST="evil.example").get("/api/t/acme/photos/")
    assert (answer.status_code, answer["Content-Type"]) == (400, "application/json")
    assert _without_id(answer.json())["reason"] == "bad_request"
    page = Client(HTTP_HOST="evil.example", HTTP_ACCEPT=BROWSER).get("/account/login/")
    assert page.status_code == 400 and page["Content-Type"].startswith("text/html")


def _answer_while_handling(error: BaseException, path: str, accept: str = "") -> object:
    request = RequestFactory().get(path, HTTP_ACCEPT=accept) if accept else RequestFactory().get(path)
    try:
        raise error
    except BaseException:
        assert sys.exc_info()[1] is error
        return server_error(request)


def test_an_uncaught_error_is_a_json_500_for_clients_and_a_page_for_browsers():
    api = _answer_while_handling(RuntimeError("bug"), "/api/t/acme/photos/")
    assert (api.status_code, api["Content-Type"]) == (500, "application/json")
    assert api.content.decode().count("server_error") == 2
    page = _answer_while_handling(RuntimeError("bug"), "/account/apps/", BROWSER)
    assert page.status_code == 500 and page["Content-Type"].startswith("text/html")


def _real_sql_error(sql: str) -> BaseException:
    try:
        with connection.cursor() as cursor:
            cursor.execute(sql)
    except Exception as error:  # the driver's real error, as Django wraps it
        return error
    raise AssertionError("the statement did not fail")


def test_only_connection_errors_count_as_the_database_being_unavailable():
    # psycopg's own errors for a refused or lost connection, a server shutting down or starting up.
    refused = _connect_error()
    assert database_unavailable(refused)
    assert database_unavailable(psycopg.errors.AdminShutdown("terminating connection"))
    assert database_unavailable(psycopg.errors.CannotConnectNow("the database system is starting up"))
    assert database_unavailable(psycopg.InterfaceError("the connection is closed"))
    wrapped = OperationalError("as Django raises it")
    wrapped.__cause__ = refused
    assert database_unavailable(wrapped)
    # Not an outage: a statement that fails, a timeout, a deadlock, and no error at all.
    assert not database_unavailable(_real_sql_error("SELECT * FROM no_such_table_here"))
    assert not database_unavailable(
        psycopg.errors.QueryCanceled("canceling statement due to statement timeout")
    )
    assert not database_unavailable(psycopg.errors.DeadlockDetected("deadlock detected"))
    assert not database_unavailable(RuntimeError("bug"))
    assert not database_unavailable(None)


def _connect_error() -> BaseException:
    """What psycopg raises when nothing listens on the port (a stopped server)."""
    try:
        psycopg.connect(host="127.0.0.1", port=free_port(), connect_timeout=2).close()
    except psycopg.OperationalError as error:
        return error
    raise AssertionError("something answered on a free port")


def test_an_unreachable_database_answers_503_with_retry_after():
    api = _answer_while_handling(_connect_error(), "/api/t/acme/photos/")
    assert (api.status_code, api["Retry-After"], api["Content-Type"]) == (503, "5", "application/json")
    assert json.loads(api.content)["reason"] == "database_unavailable"
    token = _answer_while_handling(_connect_error(), "/o/token/", "application/json")
    assert json.loads(token.content)["error"] == "temporarily_unavailable"
    page = _answer_while_handling(_connect_error(), "/account/login/", BROWSER)
    assert page.status_code == 503 and b"Temporarily unavailable" in page.content
