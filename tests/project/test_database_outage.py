"""A database restart is not an HTML 500 (issue 24, item 12): JSON 503s for clients, a page for browsers.

The test runs PostgreSQL of its own (initdb + pg_ctl on a spare loopback port), fills it with a copy
of the test database (the shared world and a real token), and starts the project under gunicorn as
deployed (gunicorn.conf.py, DEBUG off, DB_CONN_MAX_AGE=600 so workers keep their connections). It
stops the database under a stream of requests (`pg_ctl stop -m fast`, as the soak's restart did),
then checks every answer: API and OAuth clients only ever get their normal answer or a JSON 503
`database_unavailable` with `Retry-After` and a request id; a browser gets its page or the 503
page; `/readyz` names the database; nobody gets a 500. Then it restarts the database with no
request in between, so every worker holds a dead kept connection, and checks that every answer
is right again at once (CONN_HEALTH_CHECKS re-opens the connection instead of failing on it).

PostgreSQL leg only: the outage is PostgreSQL's (the SQLite leg has no server to stop).
"""

from __future__ import annotations

import os
import subprocess
import threading
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
import requests
from django.db import connection

from scopes.constants import ScopeName as S
from tests.servers import GunicornServer, PostgresServer, postgres_bin

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(
        not PostgresServer.available(), reason="PostgreSQL's server programs are not installed"
    ),
]

BROWSER = {"Accept": "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"}


@dataclass(frozen=True)
class Probe:
    """One request, and what it answers when the database is up."""

    name: str
    method: str
    path: str
    headers: dict[str, str]
    data: dict[str, str] | None
    up_status: int
    browser: bool = False


def _probes(token: str) -> list[Probe]:
    bearer = {"Authorization": f"Bearer {token}"}
    return [
        Probe("api", "GET", "/api/t/acme/photos/", bearer, None, 200),
        Probe("api-bad-token", "GET", "/api/t/acme/photos/", {"Authorization": "Bearer nope"}, None, 401),
        Probe("token", "POST", "/o/token/", {}, {"grant_type": "client_credentials", "client_id": "x"}, 401),
        Probe("userinfo", "GET", "/o/userinfo/", bearer, None, 200),
        Probe("introspect", "POST", "/o/introspect/", {}, {"token": token}, 401),
        Probe("sign-in page", "GET", "/account/login/", BROWSER, None, 200, browser=True),
        Probe("connected apps", "GET", "/account/apps/", BROWSER, None, 302, browser=True),
        Probe(
            "authorize", "GET", "/o/authorize/?client_id=nope&response_type=code", BROWSER, None, 302, True
        ),
    ]


def _ask(base: str, probe: Probe) -> requests.Response:
    return requests.request(
        probe.method,
        base + probe.path,
        headers=probe.headers,
        data=probe.data,
        allow_redirects=False,
        timeout=30,
    )


def _problem(probe: Probe, answer: requests.Response, *, down: bool) -> str | None:
    """Why `answer` is not an acceptable answer to `probe` (None when it is)."""
    kind = answer.headers.get("Content-Type", "")
    if answer.status_code == 503:
        if answer.headers.get("Retry-After") != "5" or not answer.headers.get("X-Request-ID"):
            return f"503 without Retry-After or request id: {dict(answer.headers)}"
        if probe.browser:
            return (
                None if kind.startswith("text/html") and "Temporarily unavailable" in answer.text else "page"
            )
        if not kind.startswith("application/json"):
            return f"503 that is not JSON: {kind} {answer.text[:200]}"
        body = answer.json()
        expected = {"error": "temporarily_unavailable", "reason": "database_unavailable"}
        if {k: body.get(k) for k in expected} != expected or body.get("request_id") != answer.headers[
            "X-Request-ID"
        ]:
            return f"503 body {body}"
        return None
    if down:
        return f"{answer.status_code} while the database is down: {answer.text[:200]}"
    if answer.status_code != probe.up_status:
        return f"{answer.status_code} (expected {probe.up_status}): {answer.text[:300]}"
    if not probe.browser and answer.status_code >= 400 and not kind.startswith("application/json"):
        return f"an HTML error to a client: {kind}"
    return None


def _problems(answers: list[tuple[Probe, requests.Response]], *, down: bool) -> list[tuple[str, str]]:
    found = [(probe.name, _problem(probe, answer, down=down)) for probe, answer in answers]
    return [(name, problem) for name, problem in found if problem is not None]


def _copy_test_database(into: PostgresServer) -> None:
    """The committed test database (schema and rows) into the cluster, as its superuser.

    Row-level security is not forced on the table owner, so the owner's dump has every row; the
    copy is read by the superuser, which row-level security does not restrict.
    """
    db = connection.settings_dict
    env = {**os.environ, "PGPASSWORD": db["PASSWORD"] or ""}
    dump = subprocess.run(
        [
            postgres_bin("pg_dump") or "pg_dump",
            *("-h", db["HOST"] or "127.0.0.1", "-p", str(db["PORT"] or 5432), "-U", db["USER"]),
            *("--no-owner", "--no-privileges", "-d", db["NAME"]),
        ],
        env=env,
        check=True,
        capture_output=True,
        timeout=120,
    ).stdout
    subprocess.run(
        ["psql", "-h", "127.0.0.1", "-p", str(into.port), "-U", "postgres", "-d", "postgres", "-q"],
        input=dump,
        check=True,
        capture_output=True,
        timeout=120,
    )


@pytest.fixture
def database() -> Iterator[PostgresServer]:
    if connection.vendor != "postgresql":
        pytest.skip("the PostgreSQL leg: the outage stops a PostgreSQL server")
    server = PostgresServer().init().start()
    try:
        yield server
    finally:
        server.remove()


def test_a_database_restart_gives_json_503s_to_clients_and_a_page_to_browsers(world, mint_token, database):
    token = mint_token(world.member_a, world.acme, [S.PHOTOS_READ, S.OPENID, S.PROFILE_READ]).token
    _copy_test_database(database)
    server = GunicornServer({"DATABASE_URL": database.url, "DB_CONN_MAX_AGE": "600"}).start()
    try:
        base, probes = server.base, _probes(token)
        for probe in probes * 2:  # both workers answer normally, and keep their connections
            assert _problem(probe, _ask(base, probe), down=False) is None, probe.name
        assert requests.get(f"{base}/readyz", timeout=10).json()["checks"] == {"database": "ok"}

        # Requests keep coming while the database stops under them.
        answers: list[tuple[Probe, requests.Response]] = []
        stop = threading.Event()

        def load() -> None:
            while not stop.is_set():
                for probe in probes:
                    answers.append((probe, _ask(base, probe)))

        streams = [threading.Thread(target=load) for _ in range(2)]
        for stream in streams:
            stream.start()
        try:
            database.stop()
            down = []
            for probe in probes * 2:
                down.append((probe, _ask(base, probe)))
        finally:
            stop.set()
            for stream in streams:
                stream.join(timeout=60)

        assert _problems(answers, down=False) == []
        assert any(a.status_code == 503 for _, a in answers)  # the stream did meet the outage
        assert all(a.status_code == 503 for _, a in down), [(p.name, a.status_code) for p, a in down]
        assert _problems(down, down=True) == []
        ready = requests.get(f"{base}/readyz", timeout=10)
        assert (ready.status_code, ready.json()["checks"]) == (503, {"database": "down"})
        assert requests.get(f"{base}/healthz", timeout=10).status_code == 200

        # Back at once; then a restart with no request in between: every kept connection is dead.
        database.start()
        back = [(probe, _ask(base, probe)) for probe in probes * 2]
        assert _problems(back, down=False) == []
        assert not [a for _, a in back if a.status_code == 503]
        database.stop()
        database.start()
        after = [(probe, _ask(base, probe)) for probe in probes * 3]
        assert _problems(after, down=False) == []
        assert not [a for _, a in after if a.status_code == 503]
        assert requests.get(f"{base}/readyz", timeout=10).status_code == 200
        assert "Server Error (500)" not in server.output()
    finally:
        server.remove()
