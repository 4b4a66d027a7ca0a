from django.apps import AppConfig


class ScopesConfig(AppConfig):
    """The OAuth side: scope registry, role grants, client apps, consent and tokens."""

    name = "scopes"
    verbose_name = "Scopes, apps and consent"

    def ready(self) -> None:
        from accounts.services import set_membership_rule
        from scopes import signals  # noqa: F401  (connects cache invalidation)
        from scopes.api import schema  # noqa: F401  (registers the OpenAPI security scheme)
        from scopes.services import check_membership_rule

        # Every membership write by a person asks this rule (accounts cannot import scopes).
        set_membership_rule(check_membership_rule)
