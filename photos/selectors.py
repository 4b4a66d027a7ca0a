"""Reads of photos and albums that the API needs beyond the base viewset's tenant-and-reach filter."""

from __future__ import annotations

from django.db.models import QuerySet

from photos.models import Album, Photo


def photo_base_queryset() -> QuerySet[Photo]:
    """Photos with what a list row shows loaded in the same query (no N+1 on owner)."""
    return Photo.objects.select_related("owner")


def album_base_queryset() -> QuerySet[Album]:
    """Albums with their owner loaded in the same query."""
    return Album.objects.select_related("owner")


def photos_filtered(
    queryset: QuerySet[Photo], *, album_id: int | None, owner_id: int | None
) -> QuerySet[Photo]:
    """Narrow an already tenant-and-reach-restricted queryset by album and owner."""
    if album_id is not None:
        queryset = queryset.filter(album_id=album_id)
    if owner_id is not None:
        queryset = queryset.filter(owner_id=owner_id)
    return queryset
