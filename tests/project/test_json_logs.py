"""Every line the deployed server writes is one JSON object (issue 24, item 15).

gunicorn runs with the project's production configuration (gunicorn.conf.py, DEBUG off, info level
so that its start-up and shutdown lines are written too) and an application that raises Python
warnings before and after Django is set up. The test sends request lines a client controls, with
quotes, braces, backslashes, control characters and non-ASCII bytes, which gunicorn logs with the
client's text in them, and one ordinary request. Then every line of stdout and stderr must parse
as a JSON object, and the client's text and the warnings must be found inside those objects.
Runs on both legs: it needs no database.
"""

from __future__ import annotations

import json
import socket
import time

import pytest

from tests.servers import GunicornServer

# What the application warns with (tests/project/warning_wsgi.py): text that would break a line.
ODD = 'quote " backslash \\ brace {"level": "CRITICAL"} newline \n tab \t bell \x07 accent é'

# Request lines gunicorn refuses and logs: a bad method, a bad version, a bad target.
BAD_REQUESTS = [
    b'G\x01T\x7f"} {"level": "CRITICAL" / HTTP/1.1\r\nHost: x\r\n\r\n',
    b'GET / "}{"level":"CRITICAL","logger":"forged"}\\\x01\x7f\xc3\xa9\r\nHost: x\r\n\r\n',
    b"GET /healthz HTTP/1.1\r\nHost: x\r\nBad\x01Header: \xff\r\n\r\n",
]


def _send(port: int, raw: bytes) -> bytes:
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(raw)
        return sock.recv(4096)


@pytest.fixture
def server(tmp_path):
    env = {
        "DATABASE_URL": f"sqlite:///{tmp_path / 'db.sqlite3'}",
        "DATABASE_RUNTIME_ROLE": "",
        "MIGRATION_DATABASE_URL": "",
        "GUNICORN_LOG_LEVEL": "info",
        "LOG_FORMAT": "json",
        "ACCESS_LOG": "1",
        "GP_TEST_WARNING_TEXT": ODD,
    }
    running = GunicornServer(env, app="tests.project.warning_wsgi:application")
    try:
        yield running.start()
    finally:
        running.remove()


def test_every_line_the_server_writes_is_a_json_object(server):
    for raw in BAD_REQUESTS:
        assert _send(server.port, raw).startswith(b"HTTP/1.1 400")
    assert _send(server.port, b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n").startswith(b"HTTP/1.1 200")
    time.sleep(0.5)
    server.stop()  # shutdown lines too

    lines = [line for line in server.output().splitlines() if line.strip()]
    records = []
    for line in lines:
        try:
            record = json.loads(line)
        except ValueError:
            pytest.fail(f"a log line that is not JSON: {line!r}\n--- all output:\n{server.output()}")
        assert isinstance(record, dict) and {"time", "level", "logger", "message"} <= set(record), line
        records.append(record)

    by_logger: dict[str, list[str]] = {}
    for record in records:
        by_logger.setdefault(record["logger"], []).append(record["message"])
    # gunicorn's own lines, the refused requests with the client's text inside a JSON string.
    assert any("Booting worker" in message for message in by_logger["gunicorn.error"])
    refused = [message for message in by_logger["gunicorn.error"] if message.startswith("Invalid request")]
    assert len(refused) == len(BAD_REQUESTS)
    assert any('{"level":"CRITICAL","logger":"forged"}' in message for message in refused), refused
    assert "forged" not in by_logger and not any(record["level"] == "CRITICAL" for record in records)
    # Python's warnings, from before and after Django's set-up, with their text intact.
    warned = by_logger.get("py.warnings", [])
    assert any(f"before setup: {ODD}" in message for message in warned), warned
    assert any(f"after setup: {ODD}" in message for message in warned), warned
    # The application's own access line is there as well.
    assert any(r.get("route") == "healthz" for r in records if r["logger"] == "project.request")
