from importlib import import_module
from typing import Any

from django.apps import AppConfig
from django.db import connections
from django.db.models.signals import post_migrate


def _repair_freshness(using: str, **kwargs: Any) -> None:
    """SQLite rebuilds a table to alter it, dropping the version column and triggers: put them back.

    (`scopes.access.freshness`; PostgreSQL alters tables in place, and its triggers come from migration
    scopes 0006.) This is a migration hook, not a cache invalidation: no cache needs a signal.
    """
    from scopes.access import freshness

    connection = connections[using]
    if connection.vendor == "sqlite":
        # Every time, not only when a check says so: install() is idempotent and restores every
        # trigger a rebuild dropped (the row versions', the parent touches', the registry's).
        freshness.install(connection)
        # A rebuilt table's rows restart at version 0, and changes made between the rebuild and
        # now were not versioned: move the registry epoch, which every fingerprint holds.
        freshness.bump_registry(connection)


class ScopesConfig(AppConfig):
    """The OAuth side: scope registry, role grants, client apps, consent and tokens."""

    name = "scopes"
    verbose_name = "Scopes, apps and consent"
    # Tables of this app that belong to one feature live in that feature's package. Django imports
    # only `scopes.models`; the app itself registers the rest, so that the core models module never
    # imports a feature (the layering in docs/architecture.md: features build on the core, not back).
    feature_models = (
        "scopes.machines.models",
        "scopes.oidc.models",
        "scopes.tenant_policy.models",
        "scopes.usage.models",
    )

    def import_models(self) -> None:
        super().import_models()
        for module in self.feature_models:
            import_module(module)

    def ready(self) -> None:
        post_migrate.connect(_repair_freshness, sender=self)
