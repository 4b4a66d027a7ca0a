"""PostgreSQL test harness: every request the tests make runs as the runtime role, under RLS.

pytest-django creates and migrates the test database as DATABASE_URL's user, the owner of the
tables (in CI a role that is not a superuser, exactly like production migrations). `prepare()`
then runs `setup_rls` there, and `ActAsRuntimeRole` makes each request, from the test client or
the live server, `SET ROLE` to the runtime role for its whole length: the code under test sees
what production's runtime connection sees. Fixtures and assertions stay the owner, who sets up
tenants and reads across them as a DBA would; RLS does not apply to the owner.

The role switch runs on the raw psycopg connection, outside Django's query log, so query counts
in tests are those production pays. After each request the tenancy settings are cleared, as the
end of production's per-request transaction would clear them (tests run inside one transaction).
"""

from __future__ import annotations

from collections.abc import Callable

import psycopg
import pytest
from django.conf import settings
from django.core.management import call_command
from django.db import connection
from django.http import HttpRequest, HttpResponse
from psycopg import sql

from accounts.tenancy import TENANT_IDS_SETTING, USER_ID_SETTING

MIDDLEWARE = "tests.rls.ActAsRuntimeRole"
_ready = False


def runtime_role() -> str:
    """The role requests run as: DATABASE_RUNTIME_ROLE, or gp_runtime."""
    return settings.DATABASE_RUNTIME_ROLE or "gp_runtime"


def enabled() -> bool:
    return _ready and connection.vendor == "postgresql"


def prepare() -> bool:
    """Grant the runtime role on the test database and let this session switch to it."""
    global _ready
    if connection.vendor != "postgresql":
        return False
    role = runtime_role()
    call_command("setup_rls", database="default", role=role, create_role=True, verbosity=0)
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT rolsuper OR pg_has_role(current_user, %s, 'MEMBER') FROM pg_roles WHERE rolname = current_user",
            [role],
        )
        (can_switch,) = cursor.fetchone()
        if not can_switch:
            try:
                cursor.execute(sql.SQL("GRANT {} TO CURRENT_USER").format(sql.Identifier(role)))
            except Exception as exc:
                pytest.fail(
                    f"The test role cannot SET ROLE {role}: as a superuser, GRANT {role} TO <DATABASE_URL's user> "
                    f"({exc})."
                )
    _ready = True
    return True


def _raw(statement: sql.Composable | str) -> None:
    connection.ensure_connection()
    connection.connection.execute(statement)


class ActAsRuntimeRole:
    """Tests only: the request runs as the runtime role; its tenancy settings end with it."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if not enabled():
            return self.get_response(request)
        _raw(sql.SQL("SET ROLE {}").format(sql.Identifier(runtime_role())))
        try:
            return self.get_response(request)
        finally:
            try:
                _raw("RESET ROLE")
                _raw(
                    sql.SQL("SELECT set_config({}, '', false), set_config({}, '', false)").format(
                        sql.Literal(TENANT_IDS_SETTING), sql.Literal(USER_ID_SETTING)
                    )
                )
            except psycopg.Error:
                pass  # the transaction failed: rolling it back restores the role and settings
