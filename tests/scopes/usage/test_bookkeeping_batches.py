"""Bookkeeping off the request path, in real workers: the writer thread's batch, and the worker's exit.

A request only notes scope usage and a personal token's last use in memory (accounts.background);
these tests run the project under gunicorn, as deployed (gunicorn.conf.py), on the committed test
database, and watch the rows appear: within seconds from the worker's bookkeeping thread, and,
with the thread's interval set far away, when the worker stops (gunicorn's `worker_exit`).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator

import pytest
from django.db import connection

from scopes.constants import ScopeName as S
from scopes.machines.models import PersonalAccessToken
from scopes.machines.services import personal_token_create
from scopes.usage.models import ScopeUsage
from tests.servers import Workers, database_url

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.postgresql_leg]

PHOTOS = "/api/t/acme/photos/"


@pytest.fixture
def workers() -> Iterator[Callable[[int], Workers]]:
    if connection.vendor != "postgresql":
        pytest.skip("workers share the test database on PostgreSQL")
    started: list[Workers] = []

    def start(flush_seconds: int) -> Workers:
        server = Workers(
            database_url(),
            workers=1,
            extra_env={
                "BOOKKEEPING_FLUSH_SECONDS": str(flush_seconds),
                "PERSONAL_TOKEN_LAST_USED_MINUTES": "0",
            },
        )
        started.append(server)
        return server

    yield start
    for server in started:
        server.stop()


def _usage(user) -> set[str]:
    return set(ScopeUsage.objects.filter(user=user).values_list("scope", flat=True))


def _last_used(personal: PersonalAccessToken):
    return PersonalAccessToken.objects.filter(pk=personal.pk).values_list("last_used_at", flat=True).get()


def _eventually(check: Callable[[], bool], seconds: float = 15.0) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(0.2)
    return check()


def test_the_workers_thread_writes_what_requests_noted_within_seconds(world, gallery, mint_token, workers):
    token = mint_token(world.member_a, world.acme, [S.PHOTOS_READ], application=gallery)
    personal, value = personal_token_create(
        actor=world.member2_a, tenant=world.acme, name="script", scopes=[S.PHOTOS_READ], days=30
    )
    server = workers(1)
    server.wait_until_up(token.token)
    assert server.get(PHOTOS, token.token)[0] == 200
    assert server.get(PHOTOS, value)[0] == 200
    assert _eventually(lambda: _usage(world.member_a) == {S.PHOTOS_READ})
    assert _eventually(lambda: _last_used(personal) is not None)


def test_a_worker_that_exits_writes_what_it_noted(world, gallery, mint_token, workers):
    token = mint_token(world.member_a, world.acme, [S.PHOTOS_READ, S.ALBUMS_READ], application=gallery)
    personal, value = personal_token_create(
        actor=world.member2_a, tenant=world.acme, name="script", scopes=[S.PHOTOS_READ], days=30
    )
    server = workers(3600)  # the thread would wait an hour: only the exit can write
    server.wait_until_up(token.token)
    assert server.get(PHOTOS, token.token)[0] == 200
    assert server.get("/api/t/acme/albums/", token.token)[0] == 200
    assert server.get(PHOTOS, value)[0] == 200
    time.sleep(0.5)
    assert _usage(world.member_a) == set() and _last_used(personal) is None  # answered, nothing written
    server.stop()
    assert server.process.returncode is not None
    assert _usage(world.member_a) == {S.PHOTOS_READ, S.ALBUMS_READ}
    assert _usage(world.member2_a) == {S.PHOTOS_READ}
    assert _last_used(personal) is not None
