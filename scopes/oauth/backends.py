"""django-oauth-toolkit's scopes backend over the database registry."""

from __future__ import annotations

from typing import Any

from oauth2_provider.scopes import BaseScopes

from scopes.access.selectors import registry
from scopes.consent.selectors import app_scopes
from scopes.models import Application
from scopes.registry import closure


class DatabaseScopes(BaseScopes):
    """Scopes come from `Scope`; an app may ask for what it registered and what that implies."""

    def get_all_scopes(self) -> dict[str, str]:
        return dict(registry().descriptions)

    def get_available_scopes(
        self, application: Application | None = None, request: Any = None, *args: Any, **kwargs: Any
    ) -> list[str]:
        snapshot = registry()
        if application is None:
            return sorted(snapshot.descriptions)
        return sorted(closure(app_scopes(application), snapshot.implications))

    def get_default_scopes(
        self, application: Application | None = None, request: Any = None, *args: Any, **kwargs: Any
    ) -> list[str]:
        # DOT's default is every scope; ours is none, so a request without `scope` is refused.
        return []
