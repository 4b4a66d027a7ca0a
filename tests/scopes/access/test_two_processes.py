"""Other processes: once a change commits, no worker of a server serves the old rights, whoever wrote it.

Two gunicorn workers, each with its own per-process cache and no shared cache at all (REDIS_URL is
removed from their environment), answer from the committed test database. The test process, and a
separate `manage.py shell` process, write: through the services, with `QuerySet.update()`, with raw
SQL. Each change must show on the very next request to either worker. On PostgreSQL this uses the
test database; on SQLite, a database file of its own that the workers and writers share.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator

import pytest
from django.db import connection

from accounts.models import Membership
from scopes.consent.services import consent_narrow, tokens_revoke
from scopes.constants import ScopeName as S
from scopes.models import Consent, Scope
from scopes.roles.services import membership_set
from tests.factories import RoleFactory, RoleGrantFactory
from tests.servers import ROOT, TwoServers, database_url, process_environment, sqlite_file

pytestmark = pytest.mark.django_db(transaction=True)

PHOTOS = "/api/t/acme/photos/"


def shell(database_url: str, code: str) -> None:
    """Run Python in a separate `manage.py shell` process on the same database (another writer)."""
    subprocess.run(
        [sys.executable, "manage.py", "shell", "-c", code],
        cwd=ROOT,
        env=process_environment(database_url),
        check=True,
        timeout=120,
    )


def _only(answers: dict[str, list[int]], status: int) -> bool:
    return all(code == status for statuses in answers.values() for code in statuses)


@pytest.fixture
def postgres_workers() -> Iterator[tuple[TwoServers, str]]:
    if connection.vendor != "postgresql":
        pytest.skip("the PostgreSQL leg; on SQLite, test_sqlite_file_shared_by_processes covers it")
    running = TwoServers(database_url())
    try:
        yield running, database_url()
    finally:
        running.stop()


def test_every_writer_reaches_both_workers_at_once(world, gallery, mint_token, postgres_workers):
    workers, database_url = postgres_workers
    consent = Consent.objects.create(user=world.member_a, tenant=world.acme, application=gallery)
    consent.scopes.set(Scope.objects.filter(name__in=[S.PROFILE_READ, S.PHOTOS_READ]))
    revoked = mint_token(world.member2_a, world.acme, [S.PHOTOS_READ])
    narrowed = mint_token(world.member_a, world.acme, [S.PROFILE_READ, S.PHOTOS_READ], application=gallery)
    demoted = mint_token(world.admin_a, world.acme, [S.PHOTOS_READ])
    by_sql = mint_token(world.guest_a, world.acme, [S.PHOTOS_READ])
    by_update = mint_token(world.owner_a, world.acme, [S.PHOTOS_READ])
    by_shell = mint_token(world.member_b, world.globex, [S.PHOTOS_READ])
    badge_only = RoleFactory(name="Badge only", tenant=world.acme)
    RoleGrantFactory(role=badge_only, scope=Scope.objects.get(name=S.PROFILE_READ), reach="own")

    workers.wait_until_up(revoked.token)
    for token, path in [
        (revoked, PHOTOS),
        (narrowed, PHOTOS),
        (demoted, PHOTOS),
        (by_sql, PHOTOS),
        (by_update, PHOTOS),
        (by_shell, "/api/t/globex/photos/"),
    ]:
        answers = workers.answers_from_both(path, token.token)
        assert _only(answers, 200), answers

    tokens_revoke(actor=world.owner_a, access_tokens=[revoked])  # a service
    assert _only(workers.answers_from_both(PHOTOS, revoked.token), 401)

    consent_narrow(actor=world.member_a, consent=consent, remove=[S.PHOTOS_READ])
    assert _only(workers.answers_from_both(PHOTOS, narrowed.token), 403)
    assert _only(workers.answers_from_both("/api/t/acme/me/", narrowed.token, each=1), 200)

    membership_set(actor=world.owner_a, user=world.admin_a, tenant=world.acme, role=badge_only)
    assert _only(workers.answers_from_both(PHOTOS, demoted.token), 403)

    with connection.cursor() as cursor:  # raw SQL, as psql or a data fix would
        cursor.execute("UPDATE accounts_user SET is_active = false WHERE id = %s", [world.guest_a.pk])
    assert _only(workers.answers_from_both(PHOTOS, by_sql.token), 401)

    Membership.objects.filter(user=world.owner_a, tenant=world.acme).update(role=badge_only)
    assert _only(workers.answers_from_both(PHOTOS, by_update.token), 403)

    # Another process (a management shell) removes a membership with update(): no signal reaches here.
    shell(
        database_url,
        "from accounts.models import Tenant; Tenant.objects.filter(slug='globex').update(is_active=False)",
    )
    assert _only(workers.answers_from_both("/api/t/globex/photos/", by_shell.token), 404)


SQLITE_SEED = """
from datetime import timedelta
from django.utils import timezone
from accounts.models import Membership, Role, Tenant, User
from scopes.models import AccessToken, Application, ApplicationScope, Consent, Scope
tenant = Tenant.objects.create(slug="acme", name="Acme")
user = User.objects.create(username="member")
Membership.objects.create(user=user, tenant=tenant, role=Role.objects.get(name="Member", tenant=None))
app = Application.objects.create(name="App", client_id="app", client_type="public",
    authorization_grant_type="authorization-code", redirect_uris="http://127.0.0.1/cb")
read = Scope.objects.get(name="photos.read")
ApplicationScope.objects.create(application=app, scope=read)
Consent.objects.create(user=user, tenant=tenant, application=app).scopes.add(read)
for raw in ("tok-sql", "tok-update", "tok-role"):
    AccessToken.objects.create(user=user, tenant=tenant, application=app, token=raw, scope="photos.read",
        expires=timezone.now() + timedelta(hours=1))
"""


def test_sqlite_file_shared_by_processes(tmp_path):
    """SQLite: two workers and two writer processes on one database file; the triggers keep it fresh."""
    if connection.vendor != "sqlite":
        pytest.skip("the SQLite leg; on PostgreSQL, test_every_writer_reaches_both_workers_at_once covers it")
    database_url = sqlite_file(tmp_path / "shared.sqlite3")
    shell(database_url, SQLITE_SEED)
    workers = TwoServers(database_url)
    try:
        workers.wait_until_up("tok-sql")
        for raw in ("tok-sql", "tok-update", "tok-role"):
            assert _only(workers.answers_from_both(PHOTOS, raw), 200)
        shell(
            database_url,
            "import hashlib\nfrom django.db import connection\n"
            "connection.cursor().execute('DELETE FROM scopes_accesstoken WHERE token_checksum = %s',"
            " [hashlib.sha256(b'tok-sql').hexdigest()])",
        )
        assert _only(workers.answers_from_both(PHOTOS, "tok-sql"), 401)
        shell(
            database_url,
            "from scopes.models import ApplicationScope; ApplicationScope.objects.all().update(required=True)",
        )
        assert _only(workers.answers_from_both(PHOTOS, "tok-update"), 200)  # changes nothing it allows
        shell(
            database_url,
            "from accounts.models import Membership, Role\n"
            "Membership.objects.update(role=Role.objects.get(name='Guest', tenant=None))\n"
            "from scopes.models import RoleGrant\n"
            "RoleGrant.objects.filter(role__name='Guest', scope__name='photos.read').delete()",
        )
        answers = workers.answers_from_both(PHOTOS, "tok-role")
        assert _only(answers, 403), answers
    finally:
        workers.stop()
