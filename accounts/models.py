"""Users, tenants (organisations), roles and the memberships that tie them together."""

from __future__ import annotations

from typing import cast

from django.contrib.auth.models import AbstractUser
from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import Q

from accounts.querysets import TenantKeyed


# django-manager-missing: the reverse managers of scopes' OAuth models cannot be resolved, as those
# models derive from django-oauth-toolkit's untyped base classes.
class User(AbstractUser):  # type: ignore[django-manager-missing]
    """A person who signs in. Custom from the first migration so it can grow without pain."""

    # The address a link sent to it proved (accounts.recovery): the e-mail is verified while it is
    # still the account's address; changing the address needs a new proof.
    # Nullable so that SQLite adds the column in place: rebuilding the users' table would break the
    # freshness triggers of the tables that touch it (scopes.access.freshness).
    verified_email = models.EmailField(null=True, blank=True, editable=False)

    @property
    def email_verified(self) -> bool:
        return bool(self.email) and (self.verified_email or "").casefold() == self.email.casefold()

    class Meta(AbstractUser.Meta):  # type: ignore[name-defined]  # the stubs omit AbstractUser.Meta
        swappable = "AUTH_USER_MODEL"


def signed_in(user: object) -> User:
    """`request.user` where a gate in front already turned anonymous requests away.

    The gates are the admin site (staff only), `login_required` and the API's authentication and
    permission classes. This only tells the type checker what they guarantee: it checks nothing
    and so changes nothing; the gate is what refuses.
    """
    return cast(User, user)


class Tenant(models.Model):  # type: ignore[django-manager-missing]  # Application.tenant (see User)
    """An organisation; its slug appears in API URLs (`/api/t/<slug>/`)."""

    slug = models.SlugField(max_length=63, unique=True, help_text="Used in URLs: /api/t/<slug>/.")
    name = models.CharField(max_length=200)
    is_active = models.BooleanField(
        default=True, help_text="An inactive tenant answers 404 to every API call and cannot be consented to."
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class Role(models.Model):
    """What a member may do: a global template (no tenant) or a tenant's own role."""

    name = models.CharField(max_length=100)
    description = models.TextField(blank=True)
    tenant = models.ForeignKey(
        Tenant,
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="roles",
        help_text="Leave empty for a global role that every tenant can use.",
    )

    class Meta:
        ordering = ["tenant_id", "name"]
        constraints = [
            models.UniqueConstraint(
                fields=["name"], condition=Q(tenant__isnull=True), name="role_unique_global_name"
            ),
            models.UniqueConstraint(fields=["tenant", "name"], name="role_unique_name_per_tenant"),
        ]

    def __str__(self) -> str:
        return self.name if self.tenant_id is None else f"{self.name} ({self.tenant})"

    @property
    def is_global(self) -> bool:
        return self.tenant_id is None

    def usable_in(self, tenant_id: int) -> bool:
        """A role can be given in its own tenant, or anywhere if it is global."""
        return self.tenant_id is None or self.tenant_id == tenant_id


class Membership(TenantKeyed):
    """A user's place in a tenant: exactly one role per (user, tenant)."""

    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="memberships")
    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="memberships")
    role = models.ForeignKey(Role, on_delete=models.PROTECT, related_name="memberships")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta(TenantKeyed.Meta):
        ordering = ["tenant_id", "user_id"]
        constraints = [
            *TenantKeyed.Meta.constraints,
            # Leads with tenant_id: the index every tenant-scoped lookup uses.
            models.UniqueConstraint(fields=["tenant", "user"], name="membership_unique_user_per_tenant"),
        ]

    def __str__(self) -> str:
        return f"{self.user} in {self.tenant} as {self.role.name}"

    def clean(self) -> None:
        if self.role_id and self.tenant_id and not self.role.usable_in(self.tenant_id):
            raise ValidationError({"role": "This role belongs to another tenant."})


class AuditEvent(models.Model):
    """One permission-relevant change: who did what to which object, with before and after.

    Lives in `accounts` (the bottom layer) so every app can write it. Read-only in the admin.
    """

    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    actor = models.ForeignKey(User, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    actor_label = models.CharField(max_length=150, blank=True, help_text="Kept if the actor is deleted.")
    tenant = models.ForeignKey(Tenant, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    tenant_label = models.CharField(max_length=63, blank=True, help_text="Kept if the tenant is deleted.")
    action = models.CharField(max_length=40, db_index=True)
    target_type = models.CharField(max_length=60)
    target_id = models.CharField(max_length=40, blank=True)
    target_label = models.CharField(max_length=300, blank=True)
    before = models.JSONField(null=True, blank=True)
    after = models.JSONField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["tenant", "created_at"], name="auditevent_tenant_time_idx")]

    def __str__(self) -> str:
        return f"{self.created_at:%Y-%m-%d %H:%M} {self.actor_label or 'system'} {self.action} {self.target_label}"


class Passkey(models.Model):
    """A WebAuthn credential (a passkey) a person signs in with as a second factor (accounts.passkeys).

    Only the public key is here; the private key never leaves the person's authenticator.
    """

    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="passkeys")
    name = models.CharField(max_length=100)
    credential_id = models.CharField(max_length=1400, unique=True)  # base64url, as WebAuthn sends it
    public_key = models.BinaryField()
    sign_count = models.PositiveBigIntegerField(default=0)
    created_at = models.DateTimeField(auto_now_add=True)
    last_used_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["created_at", "id"]

    def __str__(self) -> str:
        return f"passkey {self.name} of user {self.user_id}"
