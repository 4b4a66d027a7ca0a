"""Give the runtime role what the application needs on PostgreSQL, and prove it cannot bypass tenancy.

Run as the owner of the tables (the role migrations run as) after every `migrate`; it is
idempotent. `--create-role` also creates the runtime role, which needs a role with CREATEROLE.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import connections, transaction
from psycopg import sql

from accounts.checks import runtime_role_problems

# What the runtime role may do beyond SELECT/INSERT/UPDATE/DELETE on the application's tables.
READ_ONLY_TABLES = {"django_migrations"}
# The audit log is append-only for the application: it may add rows, and null a deleted
# tenant or actor (the foreign keys' SET NULL), never rewrite or delete history.
APPEND_ONLY_TABLES = {"accounts_auditevent": ["tenant_id", "actor_id"]}


def owner_alias() -> str:
    """The connection migrations use: `owner` when MIGRATION_DATABASE_URL is set, else `default`."""
    return "owner" if "owner" in settings.DATABASES else "default"


def default_runtime_role() -> str:
    """The role the application connects as, as configured."""
    if settings.DATABASE_RUNTIME_ROLE:
        return settings.DATABASE_RUNTIME_ROLE
    if owner_alias() == "owner":
        return settings.DATABASES["default"]["USER"]
    return ""


class Command(BaseCommand):
    help = (
        "Grant the runtime role the privileges the app needs (never ownership, TRUNCATE or BYPASSRLS) "
        "and verify it cannot see past row-level security. PostgreSQL only; idempotent."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--database", default=None, help="Connection to run as (default: owner, else default)."
        )
        parser.add_argument("--role", default=None, help="The runtime role (default: DATABASE_RUNTIME_ROLE).")
        parser.add_argument(
            "--create-role",
            action="store_true",
            help="Create the runtime role if it is missing (LOGIN, no other attribute); needs CREATEROLE.",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        alias = options["database"] or owner_alias()
        connection = connections[alias]
        if connection.vendor != "postgresql":
            self.stdout.write("Not PostgreSQL: nothing to do (the ORM's fail-closed querysets apply).")
            return
        role = options["role"] or default_runtime_role()
        if not role:
            raise CommandError(
                "Say which role the application runs as: --role, DATABASE_RUNTIME_ROLE, or "
                "MIGRATION_DATABASE_URL for the owner with DATABASE_URL for the runtime role."
            )
        with transaction.atomic(using=alias), connection.cursor() as cursor:
            cursor.execute("SELECT current_user")
            (owner,) = cursor.fetchone()
            if role == owner:
                raise CommandError(f"The runtime role must not be the owner ({owner}) of the tables.")
            if options["create_role"]:
                self._create_role(cursor, role, alias)
            self._grant(cursor, connection, role)
            problems = runtime_role_problems(cursor, role)
        if problems:
            raise CommandError(
                "The runtime role can see past row-level security: " + "; ".join(problems) + "."
            )
        self.stdout.write(
            self.style.SUCCESS(f"{role} may use the application's tables, under row-level security.")
        )

    def _create_role(self, cursor: Any, role: str, alias: str) -> None:
        password = ""
        if settings.DATABASES["default"].get("USER") == role:
            password = settings.DATABASES["default"].get("PASSWORD") or ""
        statement = sql.SQL("CREATE ROLE {} LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOBYPASSRLS").format(
            sql.Identifier(role)
        )
        if password:
            statement = sql.SQL("{} PASSWORD {}").format(statement, sql.Literal(password))
        cursor.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", [role])
        if cursor.fetchone():
            return
        # Concurrent test workers may race to create it: losing the race is fine.
        cursor.execute(
            sql.SQL(
                "DO $$ BEGIN {}; EXCEPTION WHEN duplicate_object OR unique_violation THEN NULL; END $$"
            ).format(statement)
        )

    def _grant(self, cursor: Any, connection: Any, role: str) -> None:
        who = sql.Identifier(role)
        cursor.execute("SELECT current_schema()")
        (schema,) = cursor.fetchone()
        cursor.execute(sql.SQL("GRANT USAGE ON SCHEMA {} TO {}").format(sql.Identifier(schema), who))
        tables = sorted(
            set(connection.introspection.django_table_names(only_existing=True, include_views=False))
            | READ_ONLY_TABLES
        )
        for table in tables:
            name = sql.Identifier(table)
            cursor.execute(sql.SQL("REVOKE ALL ON TABLE {} FROM {}").format(name, who))
            if table in READ_ONLY_TABLES:
                cursor.execute(sql.SQL("GRANT SELECT ON TABLE {} TO {}").format(name, who))
            elif table in APPEND_ONLY_TABLES:
                columns = sql.SQL(", ").join(map(sql.Identifier, APPEND_ONLY_TABLES[table]))
                cursor.execute(sql.SQL("GRANT SELECT, INSERT ON TABLE {} TO {}").format(name, who))
                cursor.execute(sql.SQL("GRANT UPDATE ({}) ON TABLE {} TO {}").format(columns, name, who))
            else:
                cursor.execute(
                    sql.SQL("GRANT SELECT, INSERT, UPDATE, DELETE ON TABLE {} TO {}").format(name, who)
                )
        cursor.execute(
            sql.SQL("GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA {} TO {}").format(
                sql.Identifier(schema), who
            )
        )
        # The credential resolvers (SECURITY DEFINER, created by migrations): EXECUTE is revoked
        # from PUBLIC there, and given to the runtime role only.
        cursor.execute(
            "SELECT p.oid::regprocedure::text FROM pg_proc p"
            " WHERE p.pronamespace = current_schema()::regnamespace AND p.prosecdef"
            " AND p.proowner = current_user::regrole AND p.prorettype <> 'trigger'::regtype"
        )
        for (function,) in cursor.fetchall():
            cursor.execute(sql.SQL("GRANT EXECUTE ON FUNCTION {} TO {}").format(sql.SQL(function), who))
