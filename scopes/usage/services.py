"""Narrowing an app's allowed scopes from the usage report: the refusals, then the one writer
(`scopes.services.application_scopes_set`, platform-wide, superusers only, audited)."""

from __future__ import annotations

from collections.abc import Iterable

from django.core.exceptions import PermissionDenied, ValidationError
from django.db.models import Q
from django.utils import timezone

from accounts.models import User
from scopes.constants import ScopeName
from scopes.models import AccessToken, Application, ApplicationScope, RefreshToken
from scopes.services import AllowedScope, application_scopes_set


def _carries(scope: str) -> Q:
    """An access token whose space-delimited `scope` holds `scope`."""
    return (
        Q(scope=scope)
        | Q(scope__startswith=f"{scope} ")
        | Q(scope__endswith=f" {scope}")
        | Q(scope__contains=f" {scope} ")
    )


def scope_refusals(*, application: Application, names: Iterable[str]) -> dict[str, str]:
    """Why each of `names`, on its own, may not be taken from the app (absent: it may be).

    The rule the service applies and the usage page shows (it never pre-ticks these): narrowing
    must not break what the app does now.

    - a required scope: every consent holds it locked, and the consent page cannot be answered
      without it;
    - `offline_access` while the app holds a live refresh token: the refresh grant would fail;
    - `openid` while a live token of the app (or the token behind a live refresh token) carries
      it: the app signs people in, and sign-in and its refreshed ID tokens would fail.
    """
    wanted = set(names)
    links = ApplicationScope.objects.filter(application=application, scope__name__in=wanted, required=True)
    refusals = {
        name: "the app requires it: every consent holds it and users cannot untick it"
        for name in links.values_list("scope__name", flat=True)
    }
    refreshes = RefreshToken.objects.filter(application=application, revoked__isnull=True)
    if ScopeName.OFFLINE_ACCESS in wanted.difference(refusals) and refreshes.exists():
        refusals[ScopeName.OFFLINE_ACCESS] = (
            "the app holds live refresh tokens: its refresh grant would stop working"
        )
    live = Q(expires__gt=timezone.now()) | Q(refresh_token__revoked__isnull=True)
    signs_in = AccessToken.objects.filter(live, _carries(ScopeName.OPENID), application=application)
    if ScopeName.OPENID in wanted.difference(refusals) and signs_in.exists():
        refusals[ScopeName.OPENID] = "the app signs people in (OpenID Connect): sign-in would stop working"
    return refusals


def narrowing_refusals(*, application: Application, names: Iterable[str]) -> dict[str, str]:
    """`scope_refusals`, and: taking every allowed scope at once leaves the app no token to obtain."""
    wanted = set(names)
    refusals = scope_refusals(application=application, names=wanted)
    allowed = set(
        ApplicationScope.objects.filter(application=application).values_list("scope__name", flat=True)
    )
    if allowed and allowed <= wanted:
        for name in sorted(allowed - set(refusals)):
            refusals[name] = "removing every allowed scope leaves the app no token to obtain by any grant"
    return refusals


def application_scopes_narrow(*, actor: User, application: Application, remove: Iterable[str]) -> list[str]:
    """Take scopes out of what an app may ask for; returns the names removed.

    Refused, with a reason per scope, when it would break what the app does now
    (`narrowing_refusals`). Effective on live tokens at their next request: every standing intersects the app's allowed
    scopes (`scopes.standing.assess`), and the app's row version moves with its allowed scopes
    (`scopes.freshness`), so no cached context outlives the change. Consents keep the scope; it
    simply no longer counts, and comes back only if a superuser allows it again.
    """
    if not actor.is_superuser:
        raise PermissionDenied("Only a superuser narrows an app's allowed scopes (platform-wide).")
    names = sorted(set(remove))
    if not names:
        raise ValidationError("Choose at least one scope to remove.")

    def narrowed(links: list[ApplicationScope]) -> list[AllowedScope]:
        # Judged on the rows as stored, under the app's row lock (`application_scopes_set`).
        allowed = {link.scope.name for link in links}
        unknown = [name for name in names if name not in allowed]
        if unknown:
            raise ValidationError(f"The app is not allowed {', '.join(unknown)}.")
        refused = narrowing_refusals(application=application, names=names)
        if refused:
            raise ValidationError(
                [f"Cannot remove {name}: {why}." for name, why in sorted(refused.items())],
                code="breaks_app",
            )
        return [
            AllowedScope(scope=link.scope, required=link.required, reason=link.reason)
            for link in links
            if link.scope.name not in names
        ]

    application_scopes_set(actor=actor, application=application, allowed=narrowed)
    return names
