"""Writes to the scope registry: a scope's implications, never closing a cycle."""

from __future__ import annotations

from collections.abc import Iterable

from django.core.exceptions import ValidationError
from django.db import transaction

from accounts.models import User
from scopes.access.selectors import implication_graph
from scopes.models import Scope
from scopes.registry import find_cycle


def check_implications(*, scope_name: str, implies: Iterable[str]) -> None:
    """Raise ValidationError naming the cycle if `scope_name` implying `implies` would close one."""
    graph = implication_graph()
    graph[scope_name] = set(implies)
    cycle = find_cycle(graph)
    if cycle:
        raise ValidationError(
            "These implications would form a cycle: %(cycle)s.",
            code="implication_cycle",
            params={"cycle": " → ".join(cycle)},
        )


@transaction.atomic
def scope_set_implications(*, actor: User | None, scope: Scope, implies: Iterable[Scope]) -> Scope:
    """Replace the scopes `scope` directly implies, refusing any cycle."""
    implied = list(implies)
    # Lock the registry rows so two concurrent edits cannot each close half of a cycle.
    list(Scope.objects.select_for_update().order_by("pk").values_list("pk", flat=True))
    check_implications(scope_name=scope.name, implies=[s.name for s in implied])
    scope.implies.set(implied)
    return scope
