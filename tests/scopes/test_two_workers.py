"""Two gunicorn worker processes sharing Redis: once a revocation returns, neither serves the old rights.

The workers read the committed test database, and the test process writes through the services as
the admin or the connected-apps page would, then asks both workers again. It needs PostgreSQL (a
database both processes see) and REDIS_URL (a cache they share), which CI's PostgreSQL leg has.
"""

from __future__ import annotations

import http.client
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote

import pytest
from django.conf import settings
from django.core.cache import cache
from django.db import connection

from accounts.services import membership_set
from scopes import context_cache
from scopes.constants import ScopeName as S
from scopes.models import Consent, Scope
from scopes.selectors import token_checksum
from scopes.services import consent_narrow, tokens_revoke
from tests.factories import RoleFactory, RoleGrantFactory

pytestmark = pytest.mark.django_db(transaction=True)

ROOT = Path(__file__).resolve().parents[2]
PHOTOS = "/api/t/acme/photos/"


def _database_url() -> str:
    db = connection.settings_dict
    auth = quote(db["USER"] or "", safe="")
    if db["PASSWORD"]:
        auth += ":" + quote(db["PASSWORD"], safe="")
    return f"postgres://{auth}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Workers:
    """A gunicorn with two sync workers on the test database and this test run's Redis keys."""

    def __init__(self) -> None:
        self.port = _free_port()
        cache_settings = settings.CACHES["default"]
        env = {
            **os.environ,
            "DATABASE_URL": _database_url(),
            "REDIS_URL": os.environ["REDIS_URL"],
            "CACHE_KEY_PREFIX": cache_settings["KEY_PREFIX"],
            "SECRET_KEY": "two-workers-test",
            "DEBUG": "0",
            "ALLOWED_HOSTS": "127.0.0.1",
            "ENV_FILE": "",
            "DJANGO_SETTINGS_MODULE": "project.settings",
        }
        command = [sys.executable, "-m", "gunicorn", "tests.scopes.worker_wsgi:application"]
        command += ["--workers", "2", "--bind", f"127.0.0.1:{self.port}", "--log-level", "warning"]
        self.process = subprocess.Popen(
            command,
            cwd=ROOT,
            env=env,
        )

    def get(self, path: str, token: str) -> tuple[int, str]:
        """One request on a new connection (sync workers close it anyway): status and worker pid."""
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
        try:
            conn.request("GET", path, headers={"Authorization": f"Bearer {token}"})
            response = conn.getresponse()
            response.read()
            return response.status, response.getheader("X-Worker-Pid", "")
        finally:
            conn.close()

    def wait_until_up(self, token: str, deadline: float = 30.0) -> None:
        start = time.monotonic()
        while time.monotonic() - start < deadline:
            if self.process.poll() is not None:
                pytest.fail("gunicorn exited at start")
            try:
                self.get("/api/t/acme/me/", token)
                return
            except OSError:
                time.sleep(0.1)
        pytest.fail("gunicorn did not answer in time")

    def answers_from_both(
        self, path: str, token: str, *, each: int = 3, limit: int = 200
    ) -> dict[str, list[int]]:
        """Ask until both workers answered `each` times; statuses by worker pid."""
        seen: dict[str, list[int]] = {}
        for _ in range(limit):
            status, pid = self.get(path, token)
            seen.setdefault(pid, []).append(status)
            if len(seen) == 2 and all(len(statuses) >= each for statuses in seen.values()):
                return seen
        pytest.fail(f"only one worker answered: {seen}")

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


@pytest.fixture
def workers() -> Iterator[Workers]:
    if connection.vendor != "postgresql":
        pytest.skip("needs PostgreSQL: the workers must see the test database (SQLite's is in memory)")
    if not os.environ.get("REDIS_URL"):
        pytest.skip("needs REDIS_URL: the workers and this test must share one cache")
    running = Workers()
    try:
        yield running
    finally:
        running.stop()


def _only(answers: dict[str, list[int]], status: int) -> bool:
    return all(code == status for statuses in answers.values() for code in statuses)


def test_revocations_reach_both_workers_at_once(world, gallery, mint_token, workers):
    consent = Consent.objects.create(user=world.member_a, tenant=world.acme, application=gallery)
    consent.scopes.set(Scope.objects.filter(name__in=[S.PROFILE_READ, S.PHOTOS_READ]))
    revoked = mint_token(world.member2_a, world.acme, [S.PHOTOS_READ])
    narrowed = mint_token(world.member_a, world.acme, [S.PROFILE_READ, S.PHOTOS_READ], application=gallery)
    demoted = mint_token(world.admin_a, world.acme, [S.PHOTOS_READ])
    badge_only = RoleFactory(name="Badge only", tenant=world.acme)
    RoleGrantFactory(role=badge_only, scope=Scope.objects.get(name=S.PROFILE_READ), reach="own")

    workers.wait_until_up(revoked.token)
    for token in (revoked, narrowed, demoted):
        answers = workers.answers_from_both(PHOTOS, token.token)
        assert _only(answers, 200), answers
        # Both workers answer from the one shared entry, not from the database.
        assert cache.get(context_cache.ENTRY_KEY.format(checksum=token_checksum(token.token))) is not None

    tokens_revoke(actor=world.owner_a, access_tokens=[revoked])
    answers = workers.answers_from_both(PHOTOS, revoked.token)
    assert _only(answers, 401), answers

    consent_narrow(actor=world.member_a, consent=consent, remove=[S.PHOTOS_READ])
    answers = workers.answers_from_both(PHOTOS, narrowed.token)
    assert _only(answers, 403), answers
    assert _only(workers.answers_from_both("/api/t/acme/me/", narrowed.token, each=1), 200)

    membership_set(actor=world.owner_a, user=world.admin_a, tenant=world.acme, role=badge_only)
    answers = workers.answers_from_both(PHOTOS, demoted.token)
    assert _only(answers, 403), answers
