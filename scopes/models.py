"""The scope registry, role grants, client applications, consent and DOT's swapped token models."""

from __future__ import annotations

from datetime import datetime
from functools import cache
from typing import TYPE_CHECKING
from uuid import UUID

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import RegexValidator
from django.db import connection, models
from django.db.models.signals import post_save, pre_save
from django.utils import timezone
from oauth2_provider.models import (
    AbstractAccessToken,
    AbstractApplication,
    AbstractDeviceGrant,
    AbstractGrant,
    AbstractIDToken,
    AbstractRefreshToken,
)
from psycopg.types.numeric import Int8

from accounts import authn
from accounts.deletion import Statement, deletion_statement, needs_collector
from accounts.prepared import prepared_execute
from accounts.querysets import TenantKeyed, TenantOwned
from scopes.constants import SCOPE_NAME_PATTERN, Reach

if TYPE_CHECKING:
    from accounts.models import Tenant

scope_name_validator = RegexValidator(
    SCOPE_NAME_PATTERN,
    "A scope name starts with a lowercase letter and contains only lowercase letters, digits "
    "and . _ : - (it is sent in HTTP headers).",
)


class Scope(models.Model):
    """A permission an app can ask for; its description is the consent text end users read."""

    name = models.CharField(max_length=64, unique=True, validators=[scope_name_validator])
    description = models.CharField(
        max_length=300,
        help_text="Shown to end users on the consent page: say what the app will be able to do.",
    )
    implies = models.ManyToManyField(
        "self",
        symmetrical=False,
        blank=True,
        related_name="implied_by",
        help_text="Scopes this one contains. Implication is transitive and may not form a cycle.",
    )
    # Step-up (docs/security.md, "Sign-in levels and step-up"): what a call needing this scope, and
    # consent to it (or to a scope implying it), needs of the user's sign-in.
    required_acr = models.CharField(
        "required sign-in level",
        max_length=16,
        blank=True,
        default="",
        choices=authn.LEVEL_CHOICES,
        help_text="The sign-in a token's user must have given to use this scope (mfa: a second factor).",
    )
    max_age = models.PositiveIntegerField(
        "maximum sign-in age",
        null=True,
        blank=True,
        help_text="Seconds: the token's sign-in must be at most this old when the scope is used "
        "(empty: any age). For example 600 for ten minutes.",
    )

    class Meta:
        ordering = ["name"]
        constraints = [
            # Names go into WWW-Authenticate and X-OAuth-Scopes: the database refuses an unsafe one
            # too, so no path that skips model validation (a shell, a data migration) can store one.
            models.CheckConstraint(
                condition=models.Q(name__regex=SCOPE_NAME_PATTERN), name="scope_name_is_a_safe_token"
            )
        ]

    def __str__(self) -> str:
        return self.name


class RoleGrant(models.Model):
    """What members with a role may do (a scope, and everything it implies) and on which objects."""

    role = models.ForeignKey("accounts.Role", on_delete=models.CASCADE, related_name="grants")
    scope = models.ForeignKey(Scope, on_delete=models.PROTECT, related_name="role_grants")
    reach = models.CharField(max_length=10, choices=Reach.choices, default=Reach.OWN)

    class Meta:
        ordering = ["role_id", "scope__name"]
        constraints = [
            models.UniqueConstraint(fields=["role", "scope"], name="rolegrant_unique_scope_per_role")
        ]

    def __str__(self) -> str:
        return f"{self.role.name}: {self.scope.name} ({self.reach})"


# The grant types this server issues tokens for (RFC 9700 and our settings refuse the implicit and
# password grants; hybrid is implicit's OpenID Connect form). A refresh token is not a grant type
# of its own here: it comes with `offline_access` on a code or device grant.
SUPPORTED_GRANT_TYPES = (
    (AbstractApplication.GRANT_AUTHORIZATION_CODE, "Authorization code (with PKCE)"),
    (AbstractApplication.GRANT_DEVICE_CODE, "Device code (RFC 8628)"),
    (AbstractApplication.GRANT_CLIENT_CREDENTIALS, "Client credentials (a service account)"),
)
# ID tokens are signed RS256 by the server's key set (scopes.oidc.keys), whatever the app row says,
# so the per-app algorithm is fixed at DOT's "" and hidden; "HS256" (the client secret as the key)
# would need an unhashed secret and is never used.
ID_TOKEN_ALGORITHM = AbstractApplication.NO_ALGORITHM


class Application(AbstractApplication):
    """An OAuth client. With a tenant it can only be used in that tenant; without, in any.

    It offers, and stores, only what the server supports: the grant types above, no "skip
    authorization" (the consent view decides from remembered consent; DOT's flag would have no
    effect) and no per-app ID token algorithm. The admin offers nothing else, `clean()` refuses it
    and a database constraint refuses it from any writer (a shell, an `update()`, raw SQL).
    """

    authorization_grant_type: models.CharField[str, str] = models.CharField(
        max_length=44, choices=SUPPORTED_GRANT_TYPES, verbose_name="authorization grant type"
    )
    skip_authorization: models.BooleanField[bool, bool] = models.BooleanField(
        default=False, editable=False, verbose_name="skip authorization"
    )
    algorithm: models.CharField[str, str] = models.CharField(
        max_length=5,
        choices=[(ID_TOKEN_ALGORITHM, "RS256, by the server's signing keys")],
        default=ID_TOKEN_ALGORITHM,
        blank=True,
        editable=False,
        verbose_name="algorithm",
    )

    # The base class is django-oauth-toolkit's, which ships no types: the plugin cannot infer these
    # fields' types, so they are spelled out.
    tenant: models.ForeignKey[Tenant | None, Tenant | None] = models.ForeignKey(
        "accounts.Tenant",
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="applications",
        help_text="Leave empty for an app usable in every tenant.",
    )
    publisher: models.CharField[str, str] = models.CharField(
        max_length=200, blank=True, help_text="Who publishes the app, shown on the consent page."
    )
    allowed_scopes: models.ManyToManyField[Scope, ApplicationScope] = models.ManyToManyField(
        Scope, through="ApplicationScope", related_name="applications"
    )
    # Where a self-registered client came from (docs/security.md, "Self-registered clients"): the
    # client ID metadata document's URL, when it was last fetched, and its host (a tenant may block
    # a whole domain of them). Written by `scopes.oauth.client_documents.adopt` only.
    # Nullable, so that adding them does not rebuild the table on SQLite (its triggers would go).
    metadata_url: models.CharField[str | None, str | None] = models.CharField(
        max_length=255, null=True, blank=True, editable=False, verbose_name="metadata document URL"
    )
    metadata_fetched_at: models.DateTimeField[datetime | None, datetime | None] = models.DateTimeField(
        null=True, blank=True, editable=False, verbose_name="metadata document fetched at"
    )
    client_host: models.CharField[str | None, str | None] = models.CharField(
        max_length=253, null=True, blank=True, editable=False, verbose_name="client ID host"
    )
    is_resource_server: models.BooleanField[bool, bool] = models.BooleanField(
        default=False,
        help_text=(
            "A resource server may introspect the tokens of its tenant (of every tenant when it has "
            "none), not only its own. Only for a confidential client you run, such as an API."
        ),
    )

    class Meta(AbstractApplication.Meta):
        swappable = "OAUTH2_PROVIDER_APPLICATION_MODEL"
        constraints = [
            models.CheckConstraint(
                condition=models.Q(
                    authorization_grant_type__in=[value for value, _ in SUPPORTED_GRANT_TYPES]
                ),
                name="application_supported_grant_type",
            ),
            models.CheckConstraint(
                condition=models.Q(skip_authorization=False), name="application_no_skip_authorization"
            ),
            models.CheckConstraint(
                condition=models.Q(algorithm=ID_TOKEN_ALGORITHM), name="application_server_signs_id_tokens"
            ),
        ]

    def clean(self) -> None:
        """DOT's checks, then ours: a value the server would refuse at runtime is refused at save."""
        errors: dict[str, list[str]] = {}
        supported = [value for value, _ in SUPPORTED_GRANT_TYPES]
        if self.authorization_grant_type not in supported:
            errors["authorization_grant_type"] = [
                f"This server does not support the {self.authorization_grant_type!r} grant; "
                "use authorization code, device code or client credentials."
            ]
        if (
            self.authorization_grant_type == self.GRANT_CLIENT_CREDENTIALS
            and self.client_type == self.CLIENT_PUBLIC
        ):  # the grant authenticates the client, which a public client cannot do: every request fails
            errors["client_type"] = ["The client credentials grant needs a confidential client."]
        if self.skip_authorization:
            errors["skip_authorization"] = [
                "Not supported: the consent page is skipped only for scopes the user already granted."
            ]
        if self.algorithm != ID_TOKEN_ALGORITHM:
            errors["algorithm"] = ["Not supported: ID tokens are signed RS256 by the server's keys."]
        try:
            super().clean()
        except ValidationError as error:
            for name, messages in error.message_dict.items():
                errors.setdefault(name, []).extend(messages)
        if errors:
            raise ValidationError(errors)


class ApplicationScope(models.Model):
    """A scope an app may ask for, whether the user may untick it, and the app's reason for it."""

    application = models.ForeignKey(Application, on_delete=models.CASCADE, related_name="scope_links")
    scope = models.ForeignKey(Scope, on_delete=models.PROTECT, related_name="application_links")
    required = models.BooleanField(
        default=False, help_text="The consent page shows it checked and locked; the user can only deny."
    )
    reason = models.CharField(
        max_length=300,
        blank=True,
        help_text='The app\'s reason, shown to the user ("to build your gallery").',
    )

    class Meta:
        ordering = ["application_id", "scope__name"]
        constraints = [
            models.UniqueConstraint(fields=["application", "scope"], name="applicationscope_unique_scope")
        ]

    def __str__(self) -> str:
        return f"{self.application}: {self.scope}"


class Consent(TenantKeyed):
    """What a user let an app do in one tenant: remembered, extended incrementally, revocable."""

    tenant = models.ForeignKey("accounts.Tenant", on_delete=models.CASCADE, related_name="consents")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="consents")
    application = models.ForeignKey(Application, on_delete=models.CASCADE, related_name="consents")
    scopes = models.ManyToManyField(Scope, blank=True, related_name="consents")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    last_used_at = models.DateTimeField(null=True, blank=True)
    # The consent is limited to albums (RFC 9396): to its `album_links`, a set that may become empty
    # (an album removed on connected apps, deleted, or hidden from the role), and an empty limit
    # reaches no album, never every album. Explicit state, not inferred from album rows existing:
    # set when the user grants albums on the consent page, cleared only when they approve a request
    # for every album on that page (scopes.consent.album_services). Issue 24, item 1.
    albums_limited = models.BooleanField(default=False, editable=False)

    class Meta(TenantKeyed.Meta):
        ordering = ["tenant_id", "user_id", "application_id"]
        constraints = [
            *TenantKeyed.Meta.constraints,
            models.UniqueConstraint(
                fields=["tenant", "user", "application"], name="consent_unique_user_app_per_tenant"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.user} -> {self.application} in {self.tenant}"


class ConsentAlbum(TenantOwned):
    """One album a consent limits its app to (RFC 9396 authorization details of type `album`).

    Stored as (kind, identifier), as the request names it: the authorization server never names
    the resource's table; the photos app says where albums are (scopes.access.resources), and a
    trigger on that table moves the consent's version when an album changes and deletes its links
    when it goes (scopes.access.freshness), as a foreign key's cascade did.

    Rows count only while the consent is `albums_limited`; then every credential of the grant is
    limited (to its own albums if it carries a limit, else to the consent's), and the album must
    still exist in the consent's tenant and be visible to the user's role (scopes.access.standing).
    """

    tenant = models.ForeignKey("accounts.Tenant", on_delete=models.CASCADE, related_name="+")
    consent = models.ForeignKey(Consent, on_delete=models.CASCADE, related_name="album_links")
    kind = models.CharField(max_length=32, default="album", editable=False)
    object_id = models.BigIntegerField()

    class Meta(TenantOwned.Meta):
        ordering = ["consent_id", "kind", "object_id"]
        # The trigger that follows an album's change or deletion finds its links by this.
        indexes = [models.Index(fields=["kind", "object_id"], name="consentalbum_object_idx")]
        constraints = [
            *TenantOwned.Meta.constraints,
            models.UniqueConstraint(
                fields=["consent", "kind", "object_id"], name="consentalbum_unique_object"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.kind} {self.object_id} of consent {self.consent_id}"


# The album limit a code or token carries: space-separated album ids; NULL means no album limit
# (the token reaches what its scopes and role reach), "" a limit that has no album left.
def _album_limit_field() -> models.TextField:
    return models.TextField(null=True, blank=True, default=None, editable=False)


# How and when the user signed in when a code or token was issued (accounts.authn): copied from
# the session to the code, from the code to its tokens, from a refresh token to the tokens it mints.
def _acr_field() -> models.CharField:
    return models.CharField(max_length=16, blank=True, default="", editable=False)


def _amr_field() -> models.CharField:
    return models.CharField(max_length=64, blank=True, default="", editable=False)


def _auth_time_field() -> models.DateTimeField:
    return models.DateTimeField(null=True, blank=True, editable=False)


class Grant(AbstractGrant, TenantKeyed):
    """An authorization code, bound to the tenant the user consented for.

    A used code is kept (until it expires and `cleartokens` removes it), marked used and naming
    what it issued, so that a replay can revoke those tokens (RFC 6749 section 4.1.2).
    """

    # Typed by hand: the base class is untyped (see Application).
    tenant: models.ForeignKey[Tenant, Tenant] = models.ForeignKey(
        "accounts.Tenant", on_delete=models.CASCADE, related_name="+"
    )
    used_at: models.DateTimeField[datetime | None, datetime | None] = models.DateTimeField(
        null=True, blank=True
    )
    access_token: models.ForeignKey[AccessToken | None, AccessToken | None] = models.ForeignKey(
        "scopes.AccessToken", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    token_family: models.UUIDField[UUID | None, UUID | None] = models.UUIDField(null=True, blank=True)
    albums: models.TextField[str | None, str | None] = _album_limit_field()
    acr: models.CharField[str, str] = _acr_field()
    amr: models.CharField[str, str] = _amr_field()
    auth_time: models.DateTimeField[datetime | None, datetime | None] = _auth_time_field()

    class Meta(AbstractGrant.Meta):
        swappable = "OAUTH2_PROVIDER_GRANT_MODEL"
        # DOT calls a code a "grant"; beside roles' grants in the admin that reads as something else.
        verbose_name = "authorization code"
        # The key Citus distributes by (tests/project/test_citus_readiness.py); this Meta
        # extends django-oauth-toolkit's, so TenantKeyed's key is named here.
        constraints = [*TenantKeyed.Meta.constraints]


class ConsentFormUse(models.Model):
    """A consent form that was submitted: its nonce's hash, unique, so each form is used once.

    The unique key makes the check atomic across requests, processes and servers (the session
    alone is read-modify-write). Rows older than the form's lifetime are useless and deleted.
    """

    nonce_hash = models.CharField(max_length=64, unique=True)
    used_at = models.DateTimeField(db_index=True)

    def __str__(self) -> str:
        return f"consent form used at {self.used_at:%Y-%m-%d %H:%M:%S}"


class AccessToken(AbstractAccessToken, TenantKeyed):
    """An access token, valid only in the tenant it was issued for."""

    tenant: models.ForeignKey[Tenant, Tenant] = models.ForeignKey(
        "accounts.Tenant", on_delete=models.CASCADE, related_name="+"
    )
    albums: models.TextField[str | None, str | None] = _album_limit_field()
    acr: models.CharField[str, str] = _acr_field()
    amr: models.CharField[str, str] = _amr_field()
    auth_time: models.DateTimeField[datetime | None, datetime | None] = _auth_time_field()

    class Meta(AbstractAccessToken.Meta):
        swappable = "OAUTH2_PROVIDER_ACCESS_TOKEN_MODEL"
        indexes = [models.Index(fields=["tenant", "user", "application"], name="accesstoken_grant_idx")]
        # Its (tenant_id, id) key is the target of refresh token (tenant_id, access_token_id): a
        # token pair never spans tenants. This Meta extends django-oauth-toolkit's, so
        # TenantKeyed's key is named here.
        constraints = [*TenantKeyed.Meta.constraints]


class RefreshToken(AbstractRefreshToken, TenantKeyed):
    """A refresh token, bound to the same tenant as the access tokens it mints."""

    tenant: models.ForeignKey[Tenant, Tenant] = models.ForeignKey(
        "accounts.Tenant", on_delete=models.CASCADE, related_name="+"
    )
    albums: models.TextField[str | None, str | None] = _album_limit_field()
    acr: models.CharField[str, str] = _acr_field()
    amr: models.CharField[str, str] = _amr_field()
    auth_time: models.DateTimeField[datetime | None, datetime | None] = _auth_time_field()

    class Meta(AbstractRefreshToken.Meta):
        swappable = "OAUTH2_PROVIDER_REFRESH_TOKEN_MODEL"
        indexes = [
            *AbstractRefreshToken.Meta.indexes,
            models.Index(fields=["tenant", "user", "application"], name="refreshtoken_grant_idx"),
        ]
        # Its key is the target of access token (tenant_id, source_refresh_token_id); named here
        # as the Meta extends django-oauth-toolkit's.
        constraints = [*TenantKeyed.Meta.constraints]

    def revoke(self) -> None:
        """DOT's: this token marked revoked, if it is not already, and its access token deleted.

        Every refresh rotates its token through here. On PostgreSQL in one statement
        (`_revoke_refresh_token_sql`, accounts.deletion) where DOT ran a savepoint and nine, taking
        the locks in DOT's order: this token, its access token's other relations, the access
        token. Elsewhere, or while a receiver of these rows' signals listens, DOT's own.
        """
        built = _revoke_refresh_token_sql() if connection.vendor == "postgresql" else None
        if (
            needs_collector(built)
            or pre_save.has_listeners(RefreshToken)
            or post_save.has_listeners(RefreshToken)
        ):
            super().revoke()
            return
        assert built is not None
        # Planned once per connection (accounts.prepared); the id as int8, one statement for all.
        values = {"id": Int8(self.pk), "now": timezone.now()}
        prepared_execute(built.sql, [values[argument] for argument in built.arguments])


@cache
def _revoke_refresh_token_sql() -> Statement | None:
    """One refresh token revoked, if it is live (`live` locks it), and its access token deleted.

    DOT's `revoke()` locks the token, returns if it is revoked, deletes its access token through
    the collector and saves it revoked, unlinked, `updated` now; a concurrent `revoke()` waits for
    the lock and then finds it revoked. None where DOT's save would write more than this.
    """
    if not getattr(RefreshToken._meta.get_field("updated"), "auto_now", False):
        return None
    table = connection.ops.quote_name(RefreshToken._meta.db_table)
    return deletion_statement(
        AccessToken,
        first=[
            (
                "live",
                f"SELECT id, access_token_id FROM {table} WHERE id = %s AND revoked IS NULL FOR UPDATE",  # noqa: S608 (a quoted table name)
                ("id",),
            ),
            (
                "r0",
                f"UPDATE {table} AS t SET revoked = %s, updated = %s, access_token_id = NULL"  # noqa: S608 (as above)
                " FROM live WHERE t.id = live.id RETURNING live.access_token_id",
                ("now", "now"),
            ),
        ],
        handled=RefreshToken,
        target="(SELECT access_token_id FROM r0)",  # one row at most: the token is found by its id
        target_arguments=(),
    )


class IDToken(AbstractIDToken):
    """OpenID Connect ID token; swapped with the rest so the set stays consistent."""

    class Meta(AbstractIDToken.Meta):
        swappable = "OAUTH2_PROVIDER_ID_TOKEN_MODEL"
        verbose_name = "ID token"


class DeviceGrant(AbstractDeviceGrant):
    """A device authorization (RFC 8628): bound, once the user approves, to the tenant they chose.

    Looked up by its device code (the polling client) or its user code (the verification page)
    before any tenant is known, so it is exempt from row-level security (accounts.tenancy); the
    tokens it yields are tenant rows like any other. `used_at` makes the device code single use.
    """

    # Typed by hand: the base class is untyped (see Application).
    user_code: models.CharField[str, str] = models.CharField(max_length=100, unique=True)
    tenant: models.ForeignKey[Tenant | None, Tenant | None] = models.ForeignKey(
        "accounts.Tenant", null=True, blank=True, on_delete=models.CASCADE, related_name="+"
    )
    used_at: models.DateTimeField[datetime | None, datetime | None] = models.DateTimeField(
        null=True, blank=True
    )
    # How and when the approving user signed in (accounts.authn): the device's tokens remember it.
    acr: models.CharField[str, str] = _acr_field()
    amr: models.CharField[str, str] = _amr_field()
    auth_time: models.DateTimeField[datetime | None, datetime | None] = _auth_time_field()

    class Meta(AbstractDeviceGrant.Meta):
        swappable = "OAUTH2_PROVIDER_DEVICE_GRANT_MODEL"


__all__ = [
    "AccessToken",
    "Application",
    "ApplicationScope",
    "Consent",
    "ConsentFormUse",
    "DeviceGrant",
    "Grant",
    "IDToken",
    "RefreshToken",
    "RoleGrant",
    "Scope",
]
