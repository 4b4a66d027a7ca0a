"""A row's deletion with its relations' `on_delete` in ONE statement (PostgreSQL), for hot paths.

Django's delete collector sends a statement per relation and spends, on the bench's machine,
about 2 ms of Python on a token that is one row with three relations; a revocation and a refresh
token's rotation each delete one such row per request (scopes.consent.services.tokens_revoke,
scopes.models.RefreshToken.revoke). `deletion_statement` writes the same thing as one statement,
built once from the model's relations: `SET_NULL` as an `UPDATE`, a `CASCADE` to a model nothing
else points at as a `DELETE`, each in a `WITH` part before the row's own `DELETE`. Anything else
(`PROTECT`, a cascade that cascades further) builds nothing, and the caller uses the collector; so
does a caller whose models have delete receivers (`needs_collector`), which only the collector calls.

Lock order: the rows pointing at the deleted row first, in the parts' order, the row itself last,
as the collector does. PostgreSQL runs a `WITH` part that the main statement does not read only
after the main statement, which would lock the row first; so the `DELETE` reads every part
(`RETURNING 1`, counted in a one-time filter), which runs them, in order, before it reads the row.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.db import connection, models
from django.db.models import CASCADE, SET_NULL
from django.db.models.signals import post_delete, pre_delete


@dataclass(frozen=True)
class Statement:
    sql: str
    arguments: tuple[str, ...]  # what each placeholder takes, by the caller's names ("id", "now")
    deletes: tuple[type[models.Model], ...]  # whose delete receivers would need the collector


Part = tuple[str, str, tuple[str, ...]]  # (name, SQL, what its placeholders take)


def deletion_statement(
    model: type[models.Model],
    *,
    first: list[Part],
    handled: type[models.Model],
    target: str,
    target_arguments: tuple[str, ...],
) -> Statement | None:
    """`DELETE` of the `model` row `target` names (one value, so an index lookup in every table),
    after the caller's `first` parts, which write the unique `SET_NULL` relation from `handled`
    themselves, and each other relation's `on_delete`; None where one statement cannot do it."""
    qn = connection.ops.quote_name
    relations = relations_to(model)
    own = [relation for relation in relations if relation.related_model is handled]
    if len(own) != 1 or own[0].on_delete is not SET_NULL or not own[0].field.unique:
        return None
    parts = [f"{name} AS ({body})" for name, body, _arguments in first]
    names = [name for name, _body, _arguments in first]
    arguments = [argument for _name, _body, taken in first for argument in taken]
    deletes: list[type[models.Model]] = [model]
    for relation in relations:
        related = relation.related_model
        if related is handled:
            continue
        table, column = qn(related._meta.db_table), qn(relation.field.column)
        if relation.on_delete is SET_NULL:
            write = f"UPDATE {table} SET {column} = NULL"  # noqa: S608 (quoted names)
        elif relation.on_delete is CASCADE and not relations_to(related):
            write = f"DELETE FROM {table}"  # noqa: S608 (a quoted table name)
            deletes.append(related)
        else:
            return None
        names.append(f"r{len(parts) - len(first) + 1}")
        parts.append(f"{names[-1]} AS ({write} WHERE {column} = {target} RETURNING 1)")
        arguments += target_arguments
    # Models' tables and columns, quoted; every value is a placeholder.
    counted = " + ".join(f"(SELECT count(*) FROM {name})" for name in names)  # noqa: S608
    table = qn(model._meta.db_table)
    sql = f"WITH {', '.join(parts)} DELETE FROM {table} WHERE {counted} >= 0 AND id = {target}"  # noqa: S608
    return Statement(sql, (*arguments, *target_arguments), tuple(deletes))


def needs_collector(statement: Statement | None) -> bool:
    """No statement, or a delete receiver on a model it deletes from (only the collector calls them)."""
    return statement is None or any(
        pre_delete.has_listeners(model) or post_delete.has_listeners(model) for model in statement.deletes
    )


def relations_to(model: type[models.Model]) -> list[Any]:
    """Every relation pointing at `model`, hidden ones (`related_name="+"`) included, as the collector sees them."""
    return [
        f
        for f in model._meta.get_fields(include_hidden=True)
        if f.auto_created and not f.concrete and (f.one_to_one or f.one_to_many)
    ]
