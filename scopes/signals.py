"""Cache invalidation, the one accepted use of signals: registry edits drop the cached graph."""

from __future__ import annotations

from typing import Any

from django.db.models.signals import m2m_changed, post_delete, post_save
from django.dispatch import receiver

from scopes.models import Scope
from scopes.selectors import invalidate_implication_graph


@receiver(post_save, sender=Scope)
@receiver(post_delete, sender=Scope)
def _scope_changed(**kwargs: Any) -> None:
    """A scope added, renamed or removed changes the graph every decision reads."""
    invalidate_implication_graph()


@receiver(m2m_changed, sender=Scope.implies.through)
def _implications_changed(action: str, **kwargs: Any) -> None:
    """An implication added or removed changes what every token's scopes cover."""
    if action in {"post_add", "post_remove", "post_clear"}:
        invalidate_implication_graph()
