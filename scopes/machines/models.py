"""Service accounts, personal access tokens and each tenant's rules for them (app label `scopes`)."""

from __future__ import annotations

from django.conf import settings
from django.db import models

from accounts.querysets import TenantKeyed
from scopes.access.personal_tokens import (  # noqa: F401 (the package's names; the standing reads them there)
    DEFAULT_MAX_DAYS,
    PERSONAL_TOKEN_PREFIX,
    PERSONAL_TOKENS_CLIENT_ID,
    PersonalTokenMode,
)


class ServiceAccount(TenantKeyed):
    """A machine principal of one tenant: a `User` that never signs in, bound to one confidential app.

    Its tokens come from the client credentials grant of `application`; its role is its membership
    in `tenant`; what its app may do there is its consent. Disabling it deactivates its user, which
    the standing refuses at the next request.
    """

    tenant = models.ForeignKey("accounts.Tenant", on_delete=models.CASCADE, related_name="+")
    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="service_account"
    )
    application = models.OneToOneField(
        "scopes.Application", on_delete=models.CASCADE, related_name="service_account"
    )
    name = models.CharField(max_length=100)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    # The secret a rotation replaced, hashed, and until when it is still accepted (the overlap).
    previous_secret = models.CharField(max_length=255, blank=True)
    previous_secret_expires = models.DateTimeField(null=True, blank=True)

    class Meta(TenantKeyed.Meta):
        ordering = ["tenant_id", "name"]
        constraints = [
            *TenantKeyed.Meta.constraints,
            models.UniqueConstraint(fields=["tenant", "name"], name="serviceaccount_unique_name_per_tenant"),
        ]

    def __str__(self) -> str:
        return f"{self.name} (service account in {self.tenant})"


class PersonalAccessToken(TenantKeyed):
    """What its owner sees of a personal access token: a name, when it was last used.

    The token itself is an `AccessToken` of the personal-token issuer app, stored as its SHA-256
    only (the raw value is shown once). Revoking deletes that row, and this one with it.
    """

    tenant = models.ForeignKey("accounts.Tenant", on_delete=models.CASCADE, related_name="+")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    access_token = models.OneToOneField(
        "scopes.AccessToken", on_delete=models.CASCADE, related_name="personal"
    )
    name = models.CharField(max_length=100)
    # The first characters of the value, for people to recognise it ("gpat_Ab3d…"); not a secret.
    hint = models.CharField(max_length=16)
    created_at = models.DateTimeField(auto_now_add=True)
    # Written at most once per token every few minutes per process (scopes.machines.usage); not
    # versioned, so recording use never invalidates a cached authorization.
    last_used_at = models.DateTimeField(null=True, blank=True)

    class Meta(TenantKeyed.Meta):
        ordering = ["tenant_id", "user_id", "-created_at"]
        indexes = [models.Index(fields=["tenant", "user"], name="personaltoken_owner_idx")]

    def __str__(self) -> str:
        return f"{self.name} ({self.hint}…)"


class TokenPolicy(TenantKeyed):
    """A tenant's rules for personal access tokens (no row: allowed, at most a year)."""

    tenant = models.OneToOneField("accounts.Tenant", on_delete=models.CASCADE, related_name="+")
    personal_tokens = models.CharField(
        max_length=10, choices=PersonalTokenMode.choices, default=PersonalTokenMode.ALLOWED
    )
    max_days = models.PositiveIntegerField(
        default=DEFAULT_MAX_DAYS,
        help_text="The longest lifetime a personal access token may be given, in days.",
    )

    class Meta(TenantKeyed.Meta):
        verbose_name_plural = "token policies"

    def __str__(self) -> str:
        return f"token policy of {self.tenant}"
