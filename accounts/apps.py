from django.apps import AppConfig


class AccountsConfig(AppConfig):
    """Who is who: users, tenants, roles and memberships."""

    name = "accounts"
    verbose_name = "Accounts and tenants"

    def ready(self) -> None:
        from accounts import checks  # noqa: F401 - registers the runtime-role check
