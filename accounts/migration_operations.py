"""Migration operations shared by the apps' migrations.

A new tenant table is created by `CreateModel` of a model that inherits
`accounts.querysets.TenantOwned` (which brings its (tenant_id, id) key), followed by
`EnableTenantIsolation` for its row-level security (docs/security.md, "Tenancy in PostgreSQL").
"""

from __future__ import annotations

from typing import Any, cast

from django.db import migrations, models


class AddTenantKey(migrations.AddConstraint):
    """A unique key (tenant_id, id): the key a table is distributed by under Citus.

    On PostgreSQL a real UNIQUE constraint. On SQLite Django would rebuild the whole table to add a
    constraint, which the freshness triggers of other tables pointing at it do not survive; a unique
    index there is the same guarantee without the rebuild.
    """

    def __init__(self, model_name: str, name: str) -> None:
        super().__init__(model_name, models.UniqueConstraint(fields=["tenant", "id"], name=name))

    def database_forwards(self, app_label: str, schema_editor: Any, from_state: Any, to_state: Any) -> None:
        if schema_editor.connection.vendor != "sqlite":
            return super().database_forwards(app_label, schema_editor, from_state, to_state)
        this = cast(Any, self)  # the stubs do not declare AddConstraint's attributes
        model = to_state.apps.get_model(app_label, this.model_name)
        table, name = model._meta.db_table, this.constraint.name
        schema_editor.execute(f'CREATE UNIQUE INDEX "{name}" ON "{table}" ("tenant_id", "id")')

    def database_backwards(self, app_label: str, schema_editor: Any, from_state: Any, to_state: Any) -> None:
        if schema_editor.connection.vendor != "sqlite":
            return super().database_backwards(app_label, schema_editor, from_state, to_state)
        schema_editor.execute(f'DROP INDEX IF EXISTS "{cast(Any, self).constraint.name}"')

    def deconstruct(self) -> tuple[str, list[Any], dict[str, Any]]:
        this = cast(Any, self)
        return self.__class__.__name__, [], {"model_name": this.model_name, "name": this.constraint.name}


class AddCheck(migrations.AddConstraint):
    """A CHECK constraint; on SQLite, triggers that refuse the same rows (no table rebuild).

    On PostgreSQL a real CHECK constraint. SQLite cannot add one without rebuilding the table,
    which the freshness triggers of other tables pointing at it do not survive (see AddTenantKey);
    there, BEFORE INSERT and BEFORE UPDATE triggers evaluate the same condition (compiled by
    Django, on the row being written) and abort with SQLITE_CONSTRAINT, an IntegrityError as the
    CHECK would raise.
    """

    def __init__(self, model_name: str, condition: models.Q, name: str) -> None:
        super().__init__(model_name, models.CheckConstraint(condition=condition, name=name))

    def database_forwards(self, app_label: str, schema_editor: Any, from_state: Any, to_state: Any) -> None:
        if schema_editor.connection.vendor != "sqlite":
            return super().database_forwards(app_label, schema_editor, from_state, to_state)
        this = cast(Any, self)
        model = to_state.apps.get_model(app_label, this.model_name)
        table, name = model._meta.db_table, this.constraint.name
        check = this.constraint._get_check_sql(model, schema_editor)
        quote = schema_editor.quote_name
        row = ", ".join(f"NEW.{quote(f.column)} AS {quote(f.column)}" for f in model._meta.concrete_fields)
        # Identifiers and Django's compiled condition only; no value comes from outside the code.
        template = (
            'CREATE TRIGGER "{name}_{event}" BEFORE {event} ON "{table}" WHEN NOT (SELECT {check} FROM '
            "(SELECT {row})) BEGIN SELECT RAISE(ABORT, 'CHECK constraint failed: {name}'); END"
        )
        for event in ("INSERT", "UPDATE"):
            schema_editor.execute(template.format(name=name, event=event, table=table, check=check, row=row))

    def database_backwards(self, app_label: str, schema_editor: Any, from_state: Any, to_state: Any) -> None:
        if schema_editor.connection.vendor != "sqlite":
            return super().database_backwards(app_label, schema_editor, from_state, to_state)
        name = cast(Any, self).constraint.name
        for event in ("insert", "update"):
            schema_editor.execute(f'DROP TRIGGER IF EXISTS "{name}_{event}"')

    def deconstruct(self) -> tuple[str, list[Any], dict[str, Any]]:
        this = cast(Any, self)
        return (
            self.__class__.__name__,
            [],
            {
                "model_name": this.model_name,
                "condition": this.constraint.condition,
                "name": this.constraint.name,
            },
        )


# The one policy condition every tenant table shares: the row's tenant is one the transaction
# entered (accounts.tenancy). No bypass branch: with nothing entered the table is empty.
TENANT_CONDITION = "tenant_id = ANY ((SELECT app_tenant_ids())::bigint[])"


def tenant_isolation_sql(table: str, own_rows: str | None = None) -> tuple[list[str], list[str]]:
    """The statements that put `table` behind row-level security, and those that take it out.

    The same statements the migrations of the first tenant tables wrote out by hand (photos 0002,
    scopes 0003, 0007, 0008, 0010, 0014, accounts 0007): `tenant_isolation` for every command, and
    with `own_rows` (an SQL condition on the row, e.g. `user_id = (SELECT app_user_id())`) an
    `own_rows_read` policy that lets a person read, never write, their own rows in every tenant.
    """
    forward = [
        f"ALTER TABLE {table} ENABLE ROW LEVEL SECURITY",
        f"CREATE POLICY tenant_isolation ON {table} USING ({TENANT_CONDITION}) WITH CHECK ({TENANT_CONDITION})",
    ]
    backward = [f"DROP POLICY tenant_isolation ON {table}", f"ALTER TABLE {table} DISABLE ROW LEVEL SECURITY"]
    if own_rows is not None:
        forward.append(f"CREATE POLICY own_rows_read ON {table} FOR SELECT USING ({own_rows})")
        backward.insert(0, f"DROP POLICY own_rows_read ON {table}")
    return forward, backward


class EnableTenantIsolation(migrations.operations.base.Operation):
    """Row-level security on a tenant table: the documented way, instead of copying the SQL.

    PostgreSQL only: SQLite has no row-level security and keeps the ORM's fail-closed querysets
    (accounts.querysets). Reversible. The statements are `tenant_isolation_sql`'s; the table name
    comes from the migration state, `own_rows` from the migration's code, never from outside it.
    The runtime role still needs its grants on the new table: `manage.py setup_rls`.
    """

    reversible = True

    def __init__(self, model_name: str, own_rows: str | None = None) -> None:
        self.model_name = model_name
        self.own_rows = own_rows

    def state_forwards(self, app_label: str, state: Any) -> None:
        """Nothing for Django's model state: policies live in the database only."""

    def _run(self, app_label: str, schema_editor: Any, state: Any, *, forward: bool) -> None:
        if schema_editor.connection.vendor != "postgresql":
            return
        table = state.apps.get_model(app_label, self.model_name)._meta.db_table
        statements = tenant_isolation_sql(table, self.own_rows)[0 if forward else 1]
        for statement in statements:
            schema_editor.execute(statement, params=None)

    def database_forwards(self, app_label: str, schema_editor: Any, from_state: Any, to_state: Any) -> None:
        self._run(app_label, schema_editor, to_state, forward=True)

    def database_backwards(self, app_label: str, schema_editor: Any, from_state: Any, to_state: Any) -> None:
        self._run(app_label, schema_editor, from_state, forward=False)

    def describe(self) -> str:
        return f"Enable tenant row-level security on {self.model_name}"

    @property
    def migration_name_fragment(self) -> str:
        return f"{self.model_name.lower()}_tenant_isolation"

    def deconstruct(self) -> tuple[str, list[Any], dict[str, Any]]:
        kwargs: dict[str, Any] = {"model_name": self.model_name}
        if self.own_rows is not None:
            kwargs["own_rows"] = self.own_rows
        return self.__class__.__name__, [], kwargs
