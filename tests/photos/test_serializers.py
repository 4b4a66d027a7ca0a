"""The photo serializer's fast path answers exactly what DRF's generic path builds from its fields.

The fast path works out what a whole answer shares once (the time zone, the photos' URL prefix):
the list case checks that every row of one answer, in another zone too, is what DRF builds alone.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest
from django.utils import timezone as django_timezone
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.test import APIRequestFactory

from photos.api.serializers import PhotoSerializer
from photos.selectors import photo_base_queryset, photos_listed
from tests.factories import AlbumFactory, PhotoFactory


class _View:
    def __init__(self, tenant) -> None:
        self.tenant = tenant


@pytest.mark.parametrize("with_album", [False, True])
@pytest.mark.parametrize(
    "created",
    [
        datetime(2026, 1, 2, 3, 4, 5, 678901, tzinfo=UTC),
        datetime(2026, 6, 1, 12, 0, tzinfo=timezone(timedelta(hours=-7))),
        datetime(2026, 6, 1, 12, 0, tzinfo=UTC),
    ],
)
def test_fast_path_equals_the_generic_serializer(world, with_album, created):
    album = AlbumFactory(tenant=world.acme, owner=world.member_a) if with_album else None
    photo = PhotoFactory(
        tenant=world.acme, owner=world.member_a, album=album, title="Ünïcode <b>", created=created
    )
    # Asked from another path: a photo's URL is its own, whatever page shows it.
    request = Request(APIRequestFactory().get("/api/t/acme/albums/7/"))
    serializer = PhotoSerializer(photo, context={"request": request, "view": _View(world.acme)})
    generic = serializers.ModelSerializer.to_representation(serializer, photo)
    assert serializer.data == generic
    assert list(serializer.data) == list(generic)
    assert {k: type(v) for k, v in serializer.data.items()} == {k: type(v) for k, v in generic.items()}
    # The URL is what the request builds for the photo's own path (not only what the fast path
    # and the generic path, which shares `get_image_url`, agree on).
    assert serializer.data["image_url"] == request.build_absolute_uri(f"/api/t/acme/photos/{photo.pk}/image")
    assert serializer.data["image_url"].startswith("http://testserver/")


@pytest.mark.parametrize("zone", [None, "America/Los_Angeles", "Asia/Kolkata"])
def test_every_row_of_a_list_equals_the_generic_serializer_in_the_current_zone(world, zone, settings):
    """A list's rows share one child serializer, so what it works out once serves every row."""
    created = datetime(2026, 3, 29, 0, 30, tzinfo=UTC)  # a daylight-saving change in Europe
    album = AlbumFactory(tenant=world.acme, owner=world.member_a)
    photos = [
        PhotoFactory(
            tenant=world.acme,
            owner=owner,
            album=album if index % 2 else None,
            created=created + timedelta(hours=index * 7, microseconds=index),
        )
        for index, owner in enumerate([world.member_a, world.member2_a, world.admin_a] * 2)
    ]
    settings.ALLOWED_HOSTS = ["photos.example"]
    request = Request(APIRequestFactory().get("/api/t/acme/photos/", HTTP_HOST="photos.example:8443"))
    context = {"request": request, "view": _View(world.acme)}
    if zone:
        django_timezone.activate(ZoneInfo(zone))
    try:
        listed = PhotoSerializer(photos, many=True, context=context).data
        alone = [
            serializers.ModelSerializer.to_representation(PhotoSerializer(context=context), photo)
            for photo in photos
        ]
    finally:
        django_timezone.deactivate()
    assert [dict(row) for row in listed] == [dict(row) for row in alone]
    assert [row["image_url"] for row in listed] == [
        f"http://photos.example:8443/api/t/acme/photos/{photo.pk}/image" for photo in photos
    ]
    if zone:
        assert not any(row["created"].endswith("Z") for row in listed)


def test_a_listed_row_shows_what_a_photo_with_its_owner_loaded_shows(world, django_assert_num_queries):
    """A list page reads each owner's username as a column: the same answer, one query, no `User` built."""
    for owner in (world.member_a, world.member2_a, world.admin_a, world.member_a):
        PhotoFactory(tenant=world.acme, owner=owner, title=f"of {owner.username}")
    PhotoFactory(tenant=world.globex, owner=world.member_b)
    ordered = photo_base_queryset().for_tenant(world.acme).order_by("-created", "-id")
    request = Request(APIRequestFactory().get("/api/t/acme/photos/"))
    context = {"request": request, "view": _View(world.acme)}
    loaded = PhotoSerializer(list(ordered), many=True, context=context).data
    with django_assert_num_queries(1):
        rows = list(photos_listed(ordered))
        listed = PhotoSerializer(rows, many=True, context=context).data
    assert [dict(row) for row in listed] == [dict(row) for row in loaded]
    assert len(listed) == 4
    assert {row["owner"]["username"] for row in listed} == {"member_a", "member2_a", "admin_a"}
    assert not any("owner" in row._state.fields_cache for row in rows)
