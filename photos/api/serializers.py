"""Shapes of photos and albums on the wire. Tenant and owner are never read from the body."""

from __future__ import annotations

from typing import Any

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from accounts.models import User
from api.fields import ReferenceField
from photos.models import Album, Photo
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


# Formats a timestamp exactly as the serializers' DateTimeFields do (ISO 8601 in the current zone).
_TIMESTAMP = serializers.DateTimeField()


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
        owner = photo.owner
        return {
            "id": photo.pk,
            "title": photo.title,
            "description": photo.description,
            "album": photo.album_id,
            "owner": {"id": owner.pk, "username": owner.username},
            "content_type": photo.content_type,
            "byte_size": photo.byte_size,
            "width": photo.width,
            "height": photo.height,
            "image_url": self.get_image_url(photo),
            "created": _TIMESTAMP.to_representation(photo.created),
            "updated": _TIMESTAMP.to_representation(photo.updated),
        }

    @extend_schema_field(OpenApiTypes.URI)
    def get_image_url(self, photo: Photo) -> str:
        request = self.context.get("request")
        slug = self.context["view"].tenant.slug
        path = f"/api/t/{slug}/photos/{photo.pk}/image"
        return request.build_absolute_uri(path) if request is not None else path


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
