"""Photos and albums: the protected resource. Every row belongs to one tenant and one owner."""

from __future__ import annotations

import uuid

from django.conf import settings
from django.db import models
from django.utils import timezone

from accounts.querysets import TenantOwned


def photo_upload_to(instance: Photo, filename: str) -> str:
    """Storage path from the tenant and a random name: the client's file name is never trusted."""
    extension = filename.rsplit(".", 1)[-1] if "." in filename else "bin"
    return f"photos/{instance.tenant_id}/{uuid.uuid4().hex}.{extension}"


class Album(TenantOwned):
    """A named group of photos, owned by the member who made it."""

    tenant = models.ForeignKey("accounts.Tenant", on_delete=models.CASCADE, related_name="+")
    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="albums")
    name = models.CharField(max_length=200)
    description = models.TextField(blank=True, default="")
    created = models.DateTimeField(default=timezone.now, editable=False)

    class Meta(TenantOwned.Meta):
        ordering = ["-created", "-id"]
        indexes = [
            models.Index(fields=["tenant", "-created", "-id"], name="album_tenant_created_idx"),
            models.Index(fields=["tenant", "owner", "-created", "-id"], name="album_tenant_owner_idx"),
        ]
        # Its (tenant_id, id) key (TenantOwned) is the target of the composite key photo
        # (tenant_id, album_id) -> album (tenant_id, id): on PostgreSQL a photo can never point at
        # another tenant's album.

    def __str__(self) -> str:
        return self.name


class Photo(TenantOwned):
    """An uploaded image with what validation learnt about it (type, size, oriented dimensions)."""

    tenant = models.ForeignKey("accounts.Tenant", on_delete=models.CASCADE, related_name="+")
    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="photos")
    # Always in the photo's tenant: services look albums up inside the tenant only, and on
    # PostgreSQL a composite foreign key (tenant_id, album_id) makes anything else impossible.
    # Its index is `photo_album_created_idx` below, not Django's single-column one.
    album = models.ForeignKey(
        Album, null=True, blank=True, on_delete=models.SET_NULL, related_name="photos", db_index=False
    )
    title = models.CharField(max_length=200, blank=True, default="")
    description = models.TextField(blank=True, default="")
    image = models.FileField(upload_to=photo_upload_to, max_length=255)
    content_type = models.CharField(max_length=50)
    byte_size = models.PositiveBigIntegerField()
    width = models.PositiveIntegerField()
    height = models.PositiveIntegerField()
    created = models.DateTimeField(default=timezone.now, editable=False)
    updated = models.DateTimeField(auto_now=True)

    class Meta(TenantOwned.Meta):
        ordering = ["-created", "-id"]
        indexes = [
            # Each leads with tenant_id and ends with the cursor ordering, so a page is an index range.
            models.Index(fields=["tenant", "-created", "-id"], name="photo_tenant_created_idx"),
            models.Index(fields=["tenant", "owner", "-created", "-id"], name="photo_tenant_owner_idx"),
            models.Index(fields=["tenant", "album", "-created", "-id"], name="photo_tenant_album_idx"),
            # An album's photos in the page's order: it serves an album's deletion (SET NULL looks the
            # photos up by album alone) and, when stale statistics after a bulk move lead the
            # planner away from the index above, a plan that still sorts nothing (issue 26).
            models.Index(fields=["album", "-created", "-id"], name="photo_album_created_idx"),
        ]

    def __str__(self) -> str:
        return self.title or f"Photo {self.pk}"
