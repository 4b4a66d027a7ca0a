"""System checks: on PostgreSQL, the application's own role must not be able to see past tenancy."""

from __future__ import annotations

from typing import Any

from django.core import checks
from django.db import connections

from accounts.tenancy import tenant_owned_models


def runtime_role_problems(cursor: Any, role: str) -> list[str]:
    """Why `role` could see past row-level security (empty: it cannot)."""
    cursor.execute(
        "SELECT rolsuper, rolbypassrls FROM pg_roles WHERE rolname = %s",
        [role],
    )
    row = cursor.fetchone()
    if row is None:
        return [f"the role {role} does not exist"]
    problems = []
    if row[0]:
        problems.append(f"{role} is a superuser")
    if row[1]:
        problems.append(f"{role} has BYPASSRLS")
    cursor.execute(
        "SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace"
        " WHERE n.nspname = current_schema() AND c.relkind IN ('r', 'p')"
        " AND pg_has_role(%s, c.relowner, 'USAGE')",
        [role],
    )
    owned = sorted(name for (name,) in cursor.fetchall())
    if owned:
        problems.append(f"{role} owns (or acts as the owner of) {', '.join(owned[:5])}")
    tables = [m._meta.db_table for m in tenant_owned_models()]
    cursor.execute(
        "SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace"
        " WHERE n.nspname = current_schema() AND c.relname = ANY(%s) AND NOT c.relrowsecurity",
        [tables],
    )
    unprotected = sorted(name for (name,) in cursor.fetchall())
    if unprotected:
        problems.append(f"row-level security is off on {', '.join(unprotected)}")
    return problems


@checks.register(checks.Tags.database, deploy=True)
def runtime_role_is_confined(
    app_configs: Any = None, databases: Any = None, **kwargs: Any
) -> list[checks.CheckMessage]:
    """`check --deploy --database default`: the app's connection is subject to row-level security."""
    if not databases or "default" not in databases:
        return []
    connection = connections["default"]
    if connection.vendor != "postgresql":
        return []
    with connection.cursor() as cursor:
        cursor.execute("SELECT current_user")
        (role,) = cursor.fetchone()
        problems = runtime_role_problems(cursor, role)
    return [
        checks.Error(
            f"The application's database role can see past row-level security: {problem}.",
            hint="Connect as a role that owns no table, without SUPERUSER or BYPASSRLS (docs/security.md).",
            id="accounts.E001",
        )
        for problem in problems
    ]
