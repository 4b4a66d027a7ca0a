"""The registry of scope names that code checks, and the reach of a role grant.

Code never spells a scope as a loose string: it names a member of `ScopeName`. A test
checks that this enum and the `Scope` table agree after migrations.
"""

from enum import StrEnum

from django.db import models


class ScopeName(StrEnum):
    """Every scope the product's code refers to."""

    PROFILE_READ = "profile.read"
    PHOTOS_READ = "photos.read"
    PHOTOS_UPLOAD = "photos.upload"
    PHOTOS_UPDATE = "photos.update"
    PHOTOS_DELETE = "photos.delete"
    PHOTOS_WRITE = "photos.write"
    ALBUMS_READ = "albums.read"
    ALBUMS_WRITE = "albums.write"
    OFFLINE_ACCESS = "offline_access"
    # Not an API scope: the right to administer a tenant (its app policy and access requests).
    TENANT_ADMIN = "tenant.admin"
    # OpenID Connect Core 5.4: sign-in, and the standard claims the token's ID token and userinfo carry.
    OPENID = "openid"
    PROFILE = "profile"
    EMAIL = "email"
    AUDIT_READ = "audit.read"


class Reach(models.TextChoices):
    """On which objects a role grant applies: the member's own, or all of the tenant's."""

    OWN = "own", "Own objects"
    TENANT = "tenant", "All objects in the tenant"


# A safe token: scope names go into HTTP headers (WWW-Authenticate, X-OAuth-Scopes).
SCOPE_NAME_PATTERN = r"^[a-z][a-z0-9_.:-]*\Z"
