"""Migration operations shared by the apps' migrations."""

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
