"""Shapes of photos and albums on the wire. Tenant and owner are never read from the body."""

from __future__ import annotations

from datetime import tzinfo
from functools import cached_property
from typing import Any, cast

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from accounts.models import User
from api.fields import ReferenceField
from photos.models import Album, Photo
from photos.selectors import OWNER_USERNAME
from scopes.constants import ScopeName


class OwnerSerializer(serializers.ModelSerializer):
    """Who owns an object, as much as any member of the tenant may see."""

    class Meta:
        model = User
        fields = ["id", "username"]
        read_only_fields = fields


def album_reference(**kwargs: Any) -> ReferenceField:
    """An album id in a photo's body: checked as reading that album would be (`albums.read`, its reach).

    Missing, another tenant's and outside your `albums.read` reach are the same 400; a token or role
    without `albums.read` is that 403, whatever the id.
    """
    return ReferenceField(
        queryset=Album.objects.all(),
        read_scope=ScopeName.ALBUMS_READ,
        owner_field="owner",
        album_field="pk",  # an album-limited token names only its own albums
        allow_null=True,
        help_text=(
            "An album you can read (`albums.read` within your role's reach), or null for none. "
            "Without `albums.read` in the token or the role: 403. An album that does not exist "
            "or that you cannot see: the same 400 `does_not_exist`."
        ),
        **kwargs,
    )


class AlbumSerializer(serializers.ModelSerializer):
    """An album as clients see and write it."""

    owner = OwnerSerializer(read_only=True)

    class Meta:
        model = Album
        fields = ["id", "name", "description", "owner", "created"]
        read_only_fields = ["id", "owner", "created"]


class PhotoSerializer(serializers.ModelSerializer):
    """A photo's metadata; the bytes are at `image_url`."""

    owner = OwnerSerializer(read_only=True)
    album: serializers.PrimaryKeyRelatedField[Album] = serializers.PrimaryKeyRelatedField(
        read_only=True, allow_null=True
    )
    image_url = serializers.SerializerMethodField()

    class Meta:
        model = Photo
        fields = [
            "id",
            "title",
            "description",
            "album",
            "owner",
            "content_type",
            "byte_size",
            "width",
            "height",
            "image_url",
            "created",
            "updated",
        ]
        read_only_fields = fields

    def to_representation(self, photo: Photo) -> dict[str, Any]:
        """The dict DRF's generic path builds from the fields above, without its per-field overhead.

        A list page serializes every row on every request, and the generic path cost more than the
        page query and the whole authorization together. The fields above still describe the shape
        (OpenAPI); a test holds this output equal to the generic one.
        """
        # A list's rows carry the owner's username as a column (`selectors.photos_listed`); a
        # single photo has its owner loaded. A list without the column would cost a query a row:
        # the photo list's query-count tests hold it to one.
        username = photo.__dict__.get(OWNER_USERNAME)
        if username is None:
            username = photo.owner.username
        timestamp = self._timestamp
        return {
            "id": photo.pk,
            "title": photo.title,
            "description": photo.description,
            "album": photo.album_id,
            "owner": {"id": photo.owner_id, "username": username},
            "content_type": photo.content_type,
            "byte_size": photo.byte_size,
            "width": photo.width,
            "height": photo.height,
            "image_url": self.get_image_url(photo),
            "created": timestamp.to_representation(photo.created),
            "updated": timestamp.to_representation(photo.updated),
        }

    # What every row of one answer shares is worked out once per serializer, and a serializer
    # lives for one answer (a list's rows share its one child serializer). Per row, DRF looked up
    # the current time zone (a context-local read) twice and built the absolute URL from the
    # request anew: more than half of a 50-row page's serialization (847 µs a page before, 362
    # after, in one process). So never keep a PhotoSerializer beyond one request (at module or
    # class level): it would keep that request's host, tenant and time zone.
    @cached_property
    def _timestamp(self) -> serializers.DateTimeField:
        """Formats a timestamp exactly as a DateTimeField does (ISO 8601 in the current zone),
        with the zone read once."""
        # DRF's own rule: the current zone, or none without USE_TZ (its stubs type it as text).
        zone = cast("tzinfo | None", serializers.DateTimeField().default_timezone())
        return serializers.DateTimeField(default_timezone=zone)

    @cached_property
    def _image_urls(self) -> str:
        """The photos' URL up to the photo's id: `request.build_absolute_uri` of the whole path
        gives the same text (its scheme and host are prepended and it escapes character by
        character; a slug and an id need no escaping)."""
        request = self.context.get("request")
        path = f"/api/t/{self.context['view'].tenant.slug}/photos/"
        return request.build_absolute_uri(path) if request is not None else path

    @extend_schema_field(OpenApiTypes.URI)
    def get_image_url(self, photo: Photo) -> str:
        return f"{self._image_urls}{photo.pk}/image"


class PhotoUploadSerializer(serializers.Serializer):
    """A multipart upload: the file and optional metadata."""

    image = serializers.FileField(allow_empty_file=True)
    title = serializers.CharField(max_length=200, required=False, allow_blank=True, default="")
    description = serializers.CharField(required=False, allow_blank=True, default="")
    album = album_reference(required=False, default=None)


class PhotoUpdateSerializer(serializers.Serializer):
    """What PATCH may change; the image itself is immutable (upload a new photo instead)."""

    title = serializers.CharField(max_length=200, required=False, allow_blank=True)
    description = serializers.CharField(required=False, allow_blank=True)
    album = album_reference(required=False)


class ScopeReachSerializer(serializers.Serializer):
    """For `me/`: one scope, and the reach this token and role together allow (null: not allowed)."""

    scope = serializers.CharField()
    reach = serializers.CharField(allow_null=True)
