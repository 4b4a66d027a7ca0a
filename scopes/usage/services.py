"""Writes: narrowing an app's allowed scopes (platform-wide, superusers only), audited."""

from __future__ import annotations

from collections.abc import Iterable

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction

from accounts.constants import AuditAction
from accounts.models import User
from accounts.services import audit_record
from scopes.models import Application, ApplicationScope


def application_scopes_narrow(*, actor: User, application: Application, remove: Iterable[str]) -> list[str]:
    """Take scopes out of what an app may ask for; returns the names removed.

    Effective on live tokens at their next request: every standing intersects the app's allowed
    scopes (`scopes.standing.assess`), and the app's row version moves with its allowed scopes
    (`scopes.freshness`), so no cached context outlives the change. Consents keep the scope; it
    simply no longer counts, and comes back only if a superuser allows it again.
    """
    if not actor.is_superuser:
        raise PermissionDenied("Only a superuser narrows an app's allowed scopes (platform-wide).")
    names = sorted(set(remove))
    if not names:
        raise ValidationError("Choose at least one scope to remove.")
    with transaction.atomic():
        locked = Application.objects.select_for_update().get(pk=application.pk)
        allowed = set(
            ApplicationScope.objects.filter(application=locked).values_list("scope__name", flat=True)
        )
        unknown = [name for name in names if name not in allowed]
        if unknown:
            raise ValidationError(f"The app is not allowed {', '.join(unknown)}.")
        ApplicationScope.objects.filter(application=locked, scope__name__in=names).delete()
        audit_record(
            actor=actor,
            action=AuditAction.APPLICATION_SCOPES_NARROWED,
            target=locked,
            tenant=locked.tenant,
            before={"allowed_scopes": sorted(allowed)},
            after={"allowed_scopes": sorted(allowed - set(names)), "removed": names},
        )
    return names
