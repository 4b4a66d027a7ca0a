"""The photo serializer's fast path answers exactly what DRF's generic path builds from its fields."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.test import APIRequestFactory

from photos.api.serializers import PhotoSerializer
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
    request = Request(APIRequestFactory().get("/api/t/acme/photos/"))
    serializer = PhotoSerializer(photo, context={"request": request, "view": _View(world.acme)})
    generic = serializers.ModelSerializer.to_representation(serializer, photo)
    assert serializer.data == generic
    assert list(serializer.data) == list(generic)
    assert {k: type(v) for k, v in serializer.data.items()} == {k: type(v) for k, v in generic.items()}
