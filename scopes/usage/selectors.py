"""Reads of usage: the report per app (and tenant), and a grant's last uses for /account/apps/."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from django.db.models import Max

from accounts.models import Tenant
from scopes.access.selectors import registry
from scopes.models import Application, ApplicationScope
from scopes.registry import Implications, closure
from scopes.usage.models import ScopeUsage


@dataclass(frozen=True)
class ScopeLine:
    """One allowed scope of an app: when it (or a scope it implies) was last exercised."""

    scope: str
    description: str
    required: bool
    last_used: date | None
    # For a composite scope, each part it implies with its own last use.
    parts: tuple[tuple[str, date | None], ...]
    days_unused: int | None  # None: never used

    @property
    def never_used(self) -> bool:
        return self.last_used is None

    def unused_for(self, days: int) -> bool:
        """Never used, or not used in the last `days` days."""
        return self.days_unused is None or self.days_unused >= days


def last_uses(*, application: Application, tenant: Tenant | None) -> dict[str, date]:
    """Scope exercised -> last day, for the app in one tenant (None: every tenant), in one query."""
    found = ScopeUsage.objects.filter(application=application)
    if tenant is not None:
        found = found.filter(tenant=tenant)
    return dict(found.values("scope").annotate(last=Max("last_used")).values_list("scope", "last"))


def usage_report(*, application: Application, tenant: Tenant | None, today: date) -> list[ScopeLine]:
    """Each scope the app may ask for, with its last use (composites fold in their parts)."""
    snapshot = registry()
    used = last_uses(application=application, tenant=tenant)
    links = ApplicationScope.objects.filter(application=application).select_related("scope")
    lines = []
    for link in sorted(links, key=lambda link: link.scope.name):
        name = link.scope.name
        covered = sorted(closure([name], snapshot.implications))
        last = last_use_of(name, used, snapshot.implications)
        parts = tuple((part, used.get(part)) for part in covered if part != name)
        lines.append(
            ScopeLine(
                scope=name,
                description=snapshot.descriptions.get(name, ""),
                required=link.required,
                last_used=last,
                parts=parts,
                days_unused=None if last is None else (today - last).days,
            )
        )
    return lines


def grant_last_uses(*, user_id: int) -> dict[tuple[int, int], dict[str, date]]:
    """(tenant id, app id) -> scope exercised -> last day, for one user's grants, in one query."""
    result: dict[tuple[int, int], dict[str, date]] = {}
    for tenant_id, application_id, scope, last in ScopeUsage.objects.filter(user_id=user_id).values_list(
        "tenant_id", "application_id", "scope", "last_used"
    ):
        result.setdefault((tenant_id, application_id), {})[scope] = last
    return result


def last_use_of(scope: str, uses: dict[str, date], implications: Implications) -> date | None:
    """The last day `scope`, or a scope it implies, was exercised (None: never)."""
    days = [uses[part] for part in closure([scope], implications) if part in uses]
    return max(days) if days else None
