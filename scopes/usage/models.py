"""The last day an app exercised a scope in a tenant on behalf of a user."""

from __future__ import annotations

from django.conf import settings
from django.db import models

from accounts.querysets import TenantKeyed


class ScopeUsage(TenantKeyed):
    """One (tenant, app, user, scope) and the last day the API allowed a call needing that scope.

    `scope` is the scope the call needed (`photos.delete`), not the token's composite
    (`photos.write`): the report folds the parts into each allowed scope. Exact to the day; written
    by `scopes.usage.recorder` at most once per key and day in each process.
    """

    tenant = models.ForeignKey("accounts.Tenant", on_delete=models.CASCADE, related_name="+")
    application = models.ForeignKey("scopes.Application", on_delete=models.CASCADE, related_name="+")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    scope = models.CharField(max_length=64)
    last_used = models.DateField()

    class Meta(TenantKeyed.Meta):
        constraints = [
            *TenantKeyed.Meta.constraints,
            # Leads with tenant_id, as every tenant table's keys do; the upsert's conflict target.
            models.UniqueConstraint(
                fields=["tenant", "application", "user", "scope"], name="scopeusage_unique_key"
            ),
        ]
        indexes = [models.Index(fields=["application", "tenant"], name="scopeusage_app_tenant_idx")]

    def __str__(self) -> str:
        return f"{self.scope} by app {self.application_id} in tenant {self.tenant_id}: {self.last_used}"
