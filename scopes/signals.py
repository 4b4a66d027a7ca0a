"""Cache invalidation for the scope registry and app registrations (the one use of signals).

Any write, from the admin, a service or a shell, drops the cached copy in the shared cache,
so every worker process sees the change on its next read.
"""

from __future__ import annotations

from typing import Any

from django.core.cache import cache
from django.db import transaction
from django.db.models.signals import m2m_changed, post_delete, post_save
from django.dispatch import receiver

from scopes.models import ApplicationScope, Scope
from scopes.selectors import APP_SCOPES_CACHE_KEY, REGISTRY_CACHE_KEY


def _drop(*keys: str) -> None:
    cache.delete_many(list(keys))
    # Again after commit: a reader between the write and the commit may have re-cached old rows.
    transaction.on_commit(lambda: cache.delete_many(list(keys)))


@receiver([post_save, post_delete], sender=Scope)
def _scope_changed(**kwargs: Any) -> None:
    _drop(REGISTRY_CACHE_KEY)


@receiver(m2m_changed, sender=Scope.implies.through)
def _implications_changed(**kwargs: Any) -> None:
    _drop(REGISTRY_CACHE_KEY)


@receiver([post_save, post_delete], sender=ApplicationScope)
def _app_scopes_changed(instance: ApplicationScope, **kwargs: Any) -> None:
    _drop(APP_SCOPES_CACHE_KEY.format(pk=instance.application_id))
