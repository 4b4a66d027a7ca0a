"""PostgreSQL enforces tenancy itself: the runtime role sees and writes only the entered tenant.

These run on PostgreSQL only (CI's PostgreSQL leg); SQLite has no row-level security and keeps
the ORM's fail-closed querysets. Raw SQL runs `SET LOCAL ROLE <runtime>` inside the test's
transaction, which is what the application's own connection is.
"""

from __future__ import annotations

import uuid
from contextlib import contextmanager
from datetime import timedelta

import pytest
from django.db import IntegrityError, connection, transaction
from django.test import RequestFactory
from django.utils import timezone
from psycopg import sql

from accounts import tenancy
from accounts.audit_stream.models import AuditDelivery, AuditWebhook
from accounts.constants import AuditAction
from accounts.management.commands.setup_rls import runtime_role_problems
from accounts.middleware import TenancyMiddleware
from accounts.models import AuditEvent, Membership, Role
from photos.models import Album, Photo
from scopes.access import freshness
from scopes.constants import ScopeName as S
from scopes.models import AccessToken, Grant, RefreshToken
from tests import rls
from tests.answers import json_body
from tests.factories import AccessTokenFactory, AlbumFactory, ConsentFactory

pytestmark = pytest.mark.skipif(
    connection.vendor != "postgresql", reason="row-level security is PostgreSQL's; SQLite relies on the ORM"
)

# The tables the issue names; the registry test below also finds any tenant model added later.
EXPECTED_TENANT_TABLES = {
    "accounts_auditdelivery",
    "accounts_auditwebhook",
    "accounts_membership",
    "accounts_role",
    "photos_album",
    "photos_photo",
    "scopes_accesstoken",
    "scopes_consent",
    "scopes_grant",
    "scopes_refreshtoken",
}
ALLOWED_POLICIES = {"tenant_isolation", "own_rows_read"}


def _photo(tenant, owner, album=None) -> Photo:
    return Photo.objects.create(
        tenant=tenant,
        owner=owner,
        album=album,
        image="p.png",
        content_type="image/png",
        byte_size=1,
        width=1,
        height=1,
    )


def _rows_in(world, tenant, user) -> dict[str, int]:
    """One row of every tenant-owned table in `tenant`: table -> id."""
    album = AlbumFactory(tenant=tenant, owner=user)
    access = AccessTokenFactory(user=user, tenant=tenant, application=world.app)
    refresh = RefreshToken.objects.create(
        user=user, tenant=tenant, application=world.app, token=uuid.uuid4().hex, access_token=access
    )
    grant = Grant.objects.create(
        user=user,
        tenant=tenant,
        application=world.app,
        code=uuid.uuid4().hex,
        expires=timezone.now() + timedelta(minutes=1),
        redirect_uri="http://127.0.0.1:8765/callback",
        scope="photos.read",
    )
    webhook = AuditWebhook.objects.create(tenant=tenant, url="https://hooks.example.com/", secret="s" * 32)
    event = AuditEvent.objects.create(tenant=tenant, action=AuditAction.ROLE_CHANGED, target_type="t")
    delivery = AuditDelivery.objects.create(webhook=webhook, event=event, tenant=tenant, sequence=1)
    return {
        "accounts_auditdelivery": delivery.pk,
        "accounts_auditwebhook": webhook.pk,
        "accounts_membership": Membership.objects.get(user=user, tenant=tenant).pk,
        "accounts_role": Role.objects.create(name=f"Curator {tenant.slug}", tenant=tenant).pk,
        "photos_album": album.pk,
        "photos_photo": _photo(tenant, user, album).pk,
        "scopes_accesstoken": access.pk,
        "scopes_consent": ConsentFactory(user=user, tenant=tenant, application=world.app).pk,
        "scopes_grant": grant.pk,
        "scopes_refreshtoken": refresh.pk,
    }


@pytest.fixture
def rows(world):
    """A row of every tenant-owned table in acme and in globex."""
    return {
        "acme": _rows_in(world, world.acme, world.member_a),
        "globex": _rows_in(world, world.globex, world.member_b),
    }


@contextmanager
def as_runtime(*, tenant_ids: str | None = None, user_id: str | None = None):
    """A cursor acting as the runtime role with these tenancy settings; the owner again afterwards."""
    with connection.cursor() as cursor:
        cursor.execute(sql.SQL("SET ROLE {}").format(sql.Identifier(rls.runtime_role())))
        cursor.execute(
            "SELECT set_config('app.tenant_ids', %s, false), set_config('app.user_id', %s, false)",
            [tenant_ids or "", user_id or ""],
        )
        try:
            yield cursor
        finally:
            cursor.execute("RESET ROLE")
            cursor.execute(
                "SELECT set_config('app.tenant_ids', '', false), set_config('app.user_id', '', false)"
            )


def count(cursor, table: str, where: str = "TRUE", params=()) -> int:
    cursor.execute(
        sql.SQL("SELECT count(*) FROM {} WHERE ").format(sql.Identifier(table)) + sql.SQL(where), params
    )
    return cursor.fetchone()[0]


def test_every_tenant_owned_table_has_row_level_security_with_a_tenant_policy(db):
    tables = {m._meta.db_table for m in tenancy.tenant_owned_models()}
    assert tables >= EXPECTED_TENANT_TABLES  # the registry finds them all (and any added later)
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT c.relname, c.relrowsecurity FROM pg_class c"
            " WHERE c.relnamespace = current_schema()::regnamespace AND c.relname = ANY(%s)",
            [sorted(tables)],
        )
        enabled = dict(cursor.fetchall())
        cursor.execute(
            "SELECT tablename, policyname, cmd, permissive, roles::text[], qual, with_check FROM pg_policies"
            " WHERE schemaname = current_schema() AND tablename = ANY(%s)",
            [sorted(tables)],
        )
        policies = cursor.fetchall()
    assert enabled == dict.fromkeys(tables, True)
    for table in tables:
        mine = {p[1]: p for p in policies if p[0] == table}
        assert set(mine) <= ALLOWED_POLICIES, f"{table} has unexpected policies {set(mine)}"
        _, _, cmd, permissive, roles, qual, with_check = mine["tenant_isolation"]
        assert (cmd, permissive, roles) == ("ALL", "PERMISSIVE", ["public"])
        assert "app_tenant_ids()" in qual and "app_tenant_ids()" in with_check
        assert "current_user" not in qual and "true" not in qual.lower().replace("is null", "")
        if "own_rows_read" in mine:
            assert mine["own_rows_read"][2] == "SELECT"  # a person's own rows are read, never written
            assert "app_user_id()" in mine["own_rows_read"][5]


def test_the_runtime_role_is_not_owner_superuser_or_bypassrls(db):
    role = rls.runtime_role()
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT rolsuper, rolbypassrls, rolcreaterole, rolcreatedb FROM pg_roles WHERE rolname = %s",
            [role],
        )
        assert cursor.fetchone() == (False, False, False, False)
        cursor.execute(
            "SELECT count(*) FROM pg_class c WHERE c.relnamespace = current_schema()::regnamespace"
            " AND pg_has_role(%s, c.relowner, 'USAGE')",
            [role],
        )
        assert cursor.fetchone()[0] == 0  # owns nothing, directly or through a role it is in
        cursor.execute("SELECT has_table_privilege(%s, 'photos_photo', 'TRUNCATE')", [role])
        assert cursor.fetchone()[0] is False  # TRUNCATE ignores row-level security
        assert runtime_role_problems(cursor, role) == []


def test_the_deploy_check_refuses_an_application_role_that_could_bypass_tenancy(db):
    from accounts.checks import runtime_role_is_confined

    assert [m.id for m in runtime_role_is_confined(databases=["default"])]  # the tests' owner role
    with as_runtime():
        assert runtime_role_is_confined(databases=["default"]) == []


def test_with_no_tenant_entered_the_runtime_role_sees_no_tenant_row(rows):
    with as_runtime() as cursor:
        for table in EXPECTED_TENANT_TABLES:
            if table == "accounts_role":
                assert count(cursor, table, "tenant_id IS NOT NULL") == 0
                assert count(cursor, table, "tenant_id IS NULL") == 4  # the global roles stay visible
            else:
                assert count(cursor, table) == 0, table


def test_with_a_tenant_entered_the_runtime_role_sees_exactly_that_tenant(world, rows):
    with as_runtime(tenant_ids=str(world.acme.pk)) as cursor:
        for table, row_id in rows["acme"].items():
            assert count(cursor, table, "id = %s", [row_id]) == 1, table
            assert count(cursor, table, "id = %s", [rows["globex"][table]]) == 0, table
        assert count(cursor, "photos_photo", "tenant_id <> %s", [world.acme.pk]) == 0


def test_a_person_reads_their_own_rows_in_every_tenant_and_writes_none(world, rows):
    with as_runtime(user_id=str(world.member_b.pk)) as cursor:
        assert count(cursor, "accounts_membership") == 1
        assert count(cursor, "scopes_consent", "id = %s", [rows["globex"]["scopes_consent"]]) == 1
        assert count(cursor, "photos_photo") == 0  # photos have no per-person branch
        cursor.execute(
            "UPDATE scopes_consent SET last_used_at = now() WHERE id = %s", [rows["globex"]["scopes_consent"]]
        )
        assert cursor.rowcount == 0  # readable is not writable: writes need the tenant entered


@pytest.mark.parametrize("table", sorted(EXPECTED_TENANT_TABLES))
def test_an_update_moving_a_row_to_another_tenant_is_refused(world, rows, table):
    with (
        as_runtime(tenant_ids=str(world.acme.pk)) as cursor,
        pytest.raises(Exception, match="row-level security"),
        transaction.atomic(),
    ):
        cursor.execute(
            sql.SQL("UPDATE {} SET tenant_id = %s WHERE id = %s").format(sql.Identifier(table)),
            [world.globex.pk, rows["acme"][table]],
        )


def test_an_insert_into_another_tenant_is_refused(world):
    with (
        as_runtime(tenant_ids=str(world.acme.pk)) as cursor,
        pytest.raises(Exception, match="row-level security"),
        transaction.atomic(),
    ):
        cursor.execute(
            "INSERT INTO photos_album (tenant_id, owner_id, name, description, created) VALUES (%s, %s, 'x', '', now())",
            [world.globex.pk, world.member_b.pk],
        )


def test_with_no_tenant_entered_updates_and_deletes_touch_nothing(rows):
    with as_runtime() as cursor:
        cursor.execute("UPDATE photos_photo SET title = 'pwned'")
        assert cursor.rowcount == 0
        cursor.execute("DELETE FROM scopes_accesstoken")
        assert cursor.rowcount == 0
    assert AccessToken.objects.count() == 2


def test_credential_resolvers_are_the_runtime_roles_alone(world, rows):
    access = AccessToken.objects.get(pk=rows["acme"]["scopes_accesstoken"])
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT p.proname, p.prosecdef, has_function_privilege('public', p.oid, 'EXECUTE'),"
            " has_function_privilege(%s, p.oid, 'EXECUTE') FROM pg_proc p"
            " WHERE p.pronamespace = current_schema()::regnamespace AND p.proname LIKE 'scopes\\_%%\\_tenant'",
            [rls.runtime_role()],
        )
        resolvers = {name: tuple(flags) for name, *flags in cursor.fetchall()}
    assert resolvers == dict.fromkeys(
        [
            "scopes_access_token_tenant",
            "scopes_refresh_token_tenant",
            "scopes_grant_tenant",
            "scopes_token_tenant",
        ],
        (True, False, True),  # SECURITY DEFINER, not PUBLIC's to call, the runtime role's
    )
    # So are the API's probes (scopes.access.freshness), which return versions and a token's own columns.
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT p.proname, p.prosecdef, has_function_privilege('public', p.oid, 'EXECUTE'),"
            " has_function_privilege(%s, p.oid, 'EXECUTE') FROM pg_proc p"
            " WHERE p.pronamespace = current_schema()::regnamespace AND p.proname = ANY(%s)",
            [rls.runtime_role(), [freshness.PROBE_FUNCTION, freshness.FIRST_USE_FUNCTION]],
        )
        probes = {name: tuple(flags) for name, *flags in cursor.fetchall()}
    assert probes == dict.fromkeys(
        [freshness.PROBE_FUNCTION, freshness.FIRST_USE_FUNCTION], (True, False, True)
    )
    with as_runtime() as cursor:
        cursor.execute(
            "SELECT scopes_access_token_tenant(%s), scopes_access_token_tenant('nope')",
            [access.token_checksum],
        )
        assert cursor.fetchone() == (world.acme.pk, None)


def test_a_photo_cannot_point_at_another_tenants_album(world):
    foreign = AlbumFactory(tenant=world.globex, owner=world.member_b)
    photo = _photo(world.acme, world.member_a)
    with pytest.raises(IntegrityError, match="photo_album_same_tenant"), transaction.atomic():
        Photo.all_tenants.filter(pk=photo.pk).update(album=foreign)
    with pytest.raises(IntegrityError), transaction.atomic():
        _photo(world.acme, world.member_a, album=foreign)


def test_a_token_pair_cannot_span_tenants(world):
    access = AccessTokenFactory(user=world.member_b, tenant=world.globex, application=world.app)
    with pytest.raises(IntegrityError, match="refreshtoken_access_token_same_tenant"), transaction.atomic():
        RefreshToken.objects.create(
            user=world.member_a, tenant=world.acme, application=world.app, token="t", access_token=access
        )


def test_a_membership_cannot_hold_another_tenants_role(world):
    foreign_role = Role.objects.create(name="Globex curator", tenant=world.globex)
    with pytest.raises(IntegrityError, match="cannot be used in tenant"), transaction.atomic():
        Membership.objects.filter(user=world.member_a, tenant=world.acme).update(role=foreign_role)
    with pytest.raises(IntegrityError, match="held in other tenants"), transaction.atomic():
        Role.objects.filter(pk=world.role("Member").pk).update(tenant=world.globex)


def test_requests_run_as_the_runtime_role_with_their_tokens_tenant(world, api_client):
    seen = []

    def spy(execute, sql_text, params, many, context):
        result = execute(sql_text, params, many, context)
        if "photos_photo" in sql_text:
            seen.append(
                connection.connection.execute(
                    "SELECT current_user, current_setting('app.tenant_ids')"
                ).fetchone()
            )
        return result

    client = api_client(world.member_a, world.acme, [S.PHOTOS_READ])
    with connection.execute_wrapper(spy):
        assert client.get("/api/t/acme/photos/").status_code == 200
    assert seen == [(rls.runtime_role(), str(world.acme.pk))]


def test_a_forgotten_tenant_filter_still_shows_only_the_tokens_tenant(world, api_client, monkeypatch):
    """The third wall: with the API's tenant-and-reach filter removed, and the tenant manager's guard
    fooled too (tests/project/test_guards.py shows it refusing), PostgreSQL still filters."""
    mine = _photo(world.acme, world.member_a)
    _photo(world.globex, world.member_b)

    def forgotten_filter(queryset, **kwargs):
        unfiltered = queryset.all()
        unfiltered._tenant_scoped = True  # a bug that got past the manager's guard as well
        return unfiltered

    monkeypatch.setattr("api.viewsets.restrict", forgotten_filter)
    client = api_client(world.member_a, world.acme, [S.PHOTOS_READ])
    response = client.get("/api/t/acme/photos/")
    assert response.status_code == 200
    assert [p["id"] for p in response.json()["results"]] == [mine.pk]


@pytest.mark.django_db(transaction=True)
def test_tenancy_settings_end_with_the_requests_transaction(world):
    """Nothing a request entered survives it on the (reused) connection."""

    def view(request):
        tenancy.enter(tenant_ids=[world.acme.pk], user_id=world.member_a.pk)
        with connection.cursor() as cursor:
            cursor.execute("SELECT current_setting('app.tenant_ids'), current_setting('app.user_id')")
            seen.append(cursor.fetchone())
        from django.http import HttpResponse

        return HttpResponse("ok")

    seen: list = []
    request = RequestFactory().get("/api/t/acme/me/")
    assert not connection.in_atomic_block
    TenancyMiddleware(view)(request)
    assert seen == [(str(world.acme.pk), str(world.member_a.pk))]
    with connection.cursor() as cursor:
        cursor.execute("SELECT current_setting('app.tenant_ids', true), current_setting('app.user_id', true)")
        assert cursor.fetchone() in {("", ""), (None, None)}


def test_answers_are_unchanged_another_tenants_token_is_404_and_an_unknown_token_401(world, api_client):
    client = api_client(world.member_b, world.globex, [S.PHOTOS_READ])
    other = client.get("/api/t/acme/photos/")
    unknown = client.get("/api/t/no-such-tenant/photos/")
    assert other.status_code == unknown.status_code == 404
    assert json_body(other) == json_body(unknown)
    client.credentials(HTTP_AUTHORIZATION="Bearer not-a-token")
    assert client.get("/api/t/acme/photos/").status_code == 401


@contextmanager
def orm_as_runtime(tenant_ids: str = ""):
    """The ORM's own connection acting as the runtime role, with `tenant_ids` entered."""
    with connection.cursor() as cursor:
        cursor.execute(sql.SQL("SET ROLE {}").format(sql.Identifier(rls.runtime_role())))
        cursor.execute("SELECT set_config('app.tenant_ids', %s, false)", [tenant_ids])
    try:
        yield
    finally:
        with connection.cursor() as cursor:
            cursor.execute("RESET ROLE")
            cursor.execute("SELECT set_config('app.tenant_ids', '', false)")


def _entered() -> str:
    with connection.cursor() as cursor:
        cursor.execute("SELECT coalesce(current_setting('app.tenant_ids', true), '')")
        return cursor.fetchone()[0]


@pytest.mark.parametrize("outside", ["", "globex"], ids=["nothing-entered", "another-tenant-entered"])
def test_a_service_enters_the_tenant_it_writes_and_gives_the_callers_back(world, outside):
    """Services do not rely on their caller having entered the tenant (issue 18), and never widen it."""
    from photos.services import album_create, album_update

    entered = str(world.globex.pk) if outside else ""
    with orm_as_runtime(entered), transaction.atomic():
        album = album_create(actor=world.member_a, tenant=world.acme, name="Written by a service")
        assert _entered() == entered  # the caller's setting again
        album_update(actor=world.member_a, album=album, name="Renamed")
        assert _entered() == entered
        # What the caller may see is unchanged: the acme album is not visible outside the service.
        with connection.cursor() as cursor:
            cursor.execute("SELECT count(*) FROM photos_album WHERE id = %s", [album.pk])
            assert cursor.fetchone()[0] == 0
    assert Album.all_tenants.get(pk=album.pk).name == "Renamed"
