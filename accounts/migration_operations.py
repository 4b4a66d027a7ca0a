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
