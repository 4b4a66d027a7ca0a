"""What an app registered for: the scopes it may ask for, each with its `required` flag and reason.

Every part that caps by the app reads it here: the consent flow, the token endpoint's validator,
the tenant's app policy pages and the service accounts. It belongs to the core because none of
them may be the others' way to it (docs/architecture.md, "Layers").
"""

from __future__ import annotations

from dataclasses import dataclass

from scopes.models import Application, ApplicationScope


@dataclass(frozen=True)
class AppScope:
    """What the app registered for one scope: may the user untick it, and why the app wants it."""

    required: bool = False
    reason: str = ""


def app_scopes(application: Application) -> dict[str, AppScope]:
    """The scopes an app may ask for, with its `required` flag and reason (from the database)."""
    links = ApplicationScope.objects.filter(application_id=application.pk).values_list(
        "scope__name", "required", "reason"
    )
    return {name: AppScope(required, reason) for name, required, reason in links}
