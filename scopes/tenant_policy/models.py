"""A tenant's app policy, its per-app decisions, and its members' access requests.

Imported by `scopes.models`, so Django registers them in the `scopes` app (migration 0007).
"""

from __future__ import annotations

from django.conf import settings
from django.db import models

from accounts.querysets import TenantOwned
from scopes.access.policy import AppPolicyMode, AppStatus, SecondFactorRule


class TenantAppPolicy(TenantOwned):
    """A tenant's policy for apps: any app (except blocked ones), or approved apps only."""

    tenant = models.OneToOneField("accounts.Tenant", on_delete=models.CASCADE, related_name="app_policy")
    mode = models.CharField(
        max_length=10,
        choices=[
            (AppPolicyMode.ANY.value, "Any app"),
            (AppPolicyMode.APPROVED_ONLY.value, "Approved apps only"),
        ],
        default=AppPolicyMode.ANY.value,
    )
    dynamic_clients = models.BooleanField(
        default=False,
        help_text=(
            "Apps that registered themselves through dynamic registration (RFC 7591) may be used "
            "here (unticked: only those the tenant approved one by one)."
        ),
    )
    # Who must have a second factor to use the tenant (scopes.access.policy.second_factor_missing):
    # a member who should and has none is sent to set one up, and their grants stop standing.
    second_factor = models.CharField(
        "second factor required of",
        max_length=10,
        blank=True,
        default=SecondFactorRule.NOBODY.value,
        choices=[
            (SecondFactorRule.NOBODY.value, "Nobody"),
            (SecondFactorRule.ADMINS.value, "Administrators"),
            (SecondFactorRule.MEMBERS.value, "Every member"),
        ],
    )
    updated_at = models.DateTimeField(auto_now=True)

    class Meta(TenantOwned.Meta):
        verbose_name = "tenant app policy"
        verbose_name_plural = "tenant app policies"

    def __str__(self) -> str:
        return f"{self.tenant}: {self.get_mode_display()}"


class TenantApp(TenantOwned):
    """One app in one tenant: approved (optionally capped to some scopes), blocked, or pending."""

    tenant = models.ForeignKey("accounts.Tenant", on_delete=models.CASCADE, related_name="+")
    application = models.ForeignKey(
        settings.OAUTH2_PROVIDER_APPLICATION_MODEL, on_delete=models.CASCADE, related_name="tenant_decisions"
    )
    status = models.CharField(
        max_length=10,
        choices=[
            (AppStatus.APPROVED.value, "Approved"),
            (AppStatus.BLOCKED.value, "Blocked"),
            (AppStatus.PENDING.value, "Pending"),
        ],
        default=AppStatus.PENDING.value,
    )
    capped = models.BooleanField(
        default=False, help_text="Limit the app to the scopes below in this tenant (unticked: no limit)."
    )
    cap = models.ManyToManyField("scopes.Scope", blank=True, related_name="+")
    note = models.CharField(max_length=500, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta(TenantOwned.Meta):
        verbose_name = "tenant app"
        constraints = [
            *TenantOwned.Meta.constraints,
            models.UniqueConstraint(fields=["tenant", "application"], name="tenantapp_unique_app_per_tenant"),
        ]

    def __str__(self) -> str:
        return f"{self.application} in {self.tenant}: {self.status}"

    def validate_constraints(self, exclude: object = None) -> None:
        """Not from a form: the service finds or creates the one (tenant, app) row under a lock.

        (Django's check would query the default manager with no tenant; the database's unique
        constraint stands behind the service.)
        """


class BlockedClientDomain(TenantOwned):
    """A domain whose self-registered clients (client ID metadata documents) a tenant refuses.

    `example.com` blocks the client IDs on `example.com` and on every name under it. Read by the
    grant's standing with the app's policy (`scopes.access.policy`), so a block applies to live
    tokens at their next request; written by `scopes.tenant_policy.services` only.
    """

    tenant = models.ForeignKey("accounts.Tenant", on_delete=models.CASCADE, related_name="+")
    domain = models.CharField(max_length=253)
    note = models.CharField(max_length=500, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta(TenantOwned.Meta):
        ordering = ["domain"]
        verbose_name = "blocked client domain"
        constraints = [
            *TenantOwned.Meta.constraints,
            models.UniqueConstraint(fields=["tenant", "domain"], name="blockedclientdomain_unique_domain"),
        ]

    def __str__(self) -> str:
        return f"{self.domain} blocked in {self.tenant}"

    def validate_constraints(self, exclude: object = None) -> None:
        """Not from a form: the service finds or creates the one (tenant, domain) row under a lock."""


class RequestKind(models.TextChoices):
    """What a member asks for."""

    APP = "app", "Use an app (optionally with scopes the tenant's cap leaves out)"
    SCOPE = "scope", "A right for their role"


class RequestStatus(models.TextChoices):
    PENDING = "pending", "Pending"
    APPROVED = "approved", "Approved"
    REFUSED = "refused", "Refused"


class AccessRequest(TenantOwned):
    """A member's request to the tenant's administrators, and its decision."""

    tenant = models.ForeignKey("accounts.Tenant", on_delete=models.CASCADE, related_name="+")
    requester = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="access_requests"
    )
    kind = models.CharField(max_length=10, choices=RequestKind.choices)
    application = models.ForeignKey(
        settings.OAUTH2_PROVIDER_APPLICATION_MODEL,
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="+",
    )
    scopes = models.ManyToManyField("scopes.Scope", blank=True, related_name="+")
    message = models.TextField(max_length=1000, blank=True)
    status = models.CharField(max_length=10, choices=RequestStatus.choices, default=RequestStatus.PENDING)
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    decided_at = models.DateTimeField(null=True, blank=True)
    note = models.TextField(max_length=1000, blank=True)
    outcome = models.JSONField(null=True, blank=True, help_text="What the approval applied.")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta(TenantOwned.Meta):
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["tenant", "status", "created_at"], name="accessrequest_queue_idx")]

    def __str__(self) -> str:
        what = self.application.name if self.kind == RequestKind.APP and self.application else self.kind
        return f"request #{self.pk} by {self.requester} in {self.tenant} ({what})"


class Invitation(TenantOwned):
    """An invitation to join a tenant with a role, sent by e-mail (scopes.tenant_policy.invitations).

    The link carries a random token; only its SHA-256 is stored. It is single-use, expires, and can
    be revoked; the role is the row's, never the link's.
    """

    tenant = models.ForeignKey("accounts.Tenant", on_delete=models.CASCADE, related_name="+")
    email = models.EmailField()
    role = models.ForeignKey("accounts.Role", on_delete=models.CASCADE, related_name="+")
    invited_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    token_hash = models.CharField(max_length=64, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)
    expires_at = models.DateTimeField()
    accepted_at = models.DateTimeField(null=True, blank=True)
    accepted_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta(TenantOwned.Meta):
        ordering = ["-created_at", "-id"]
        constraints = [
            *TenantOwned.Meta.constraints,
            models.UniqueConstraint(fields=["tenant", "token_hash"], name="invitation_token_unique"),
        ]
        indexes = [models.Index(fields=["tenant", "created_at"], name="invitation_tenant_time_idx")]

    def __str__(self) -> str:
        return f"invitation of {self.email} as {self.role_id} to tenant {self.tenant_id}"
