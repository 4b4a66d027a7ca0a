"""Variant diy: the stack a Django developer would build from stock parts for the same page.

Stock DOT's `OAuth2Authentication` and `TokenHasScope` (`photos.read`), as variant (b), plus
object permissions from django-guardian for ownership: the list shows the photos the token's user
may view (`photos.view_photo`), through djangorestframework-guardian's `ObjectPermissionsFilter`
(what DRF's documentation points to for per-object filtering), on guardian's default (generic)
permission tables. The permissions are seeded as such a developer would keep them
(bench/seed.py, `seed_guardian`): the tenant's members are a group that may view every photo of
the tenant, and each owner may change and delete their own. Like every variant, it enters the
URL's tenant first (row-level security) and serves the same rows and bytes.
"""

from __future__ import annotations

from typing import ClassVar

from oauth2_provider.contrib.rest_framework import OAuth2Authentication, TokenHasScope
from rest_framework_guardian.filters import ObjectPermissionsFilter  # type: ignore[import-untyped]

from bench.views import SameRowsView
from scopes.constants import ScopeName

PATH = "/bench/diy/t/{slug}/photos/"


def group_name(slug: str) -> str:
    """The auth group holding the members of tenant `slug` (the variant's notion of membership)."""
    return f"tenant:{slug}:members"


class DiyPhotoList(SameRowsView):
    """OAuth2Authentication + TokenHasScope + guardian's object permissions, in the URL's tenant."""

    authentication_classes = [OAuth2Authentication]
    permission_classes = [TokenHasScope]
    required_scopes: ClassVar[list[str]] = [ScopeName.PHOTOS_READ]
    filter_backends = [ObjectPermissionsFilter]
