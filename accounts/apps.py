from importlib import import_module

from django.apps import AppConfig


class AccountsConfig(AppConfig):
    """Who is who: users, tenants, roles and memberships."""

    name = "accounts"
    verbose_name = "Accounts and tenants"
    # The audit stream's tables live in its package; the app registers them, so that the models
    # module imports no feature built on it (as scopes does: scopes/apps.py).
    feature_models = ("accounts.audit_stream.models",)

    def import_models(self) -> None:
        super().import_models()
        for module in self.feature_models:
            import_module(module)

    def ready(self) -> None:
        from accounts import (
            checks,  # noqa: F401 - registers the runtime-role check
            factors,  # noqa: F401 - records each sign-in's level in its session
        )
