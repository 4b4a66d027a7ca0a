"""The photo, album and `me` endpoints under `/api/t/<tenant_slug>/`.

Each view only declares which scope an action needs and parses input; the base viewset decides
who may do what, and `photos.services` does the writes.
"""

from __future__ import annotations

from typing import Any, cast

from django.core.exceptions import ValidationError as DjangoValidationError
from django.http import FileResponse
from django.utils.dateparse import parse_datetime
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_view
from rest_framework import mixins, serializers, status
from rest_framework.exceptions import APIException, NotFound, ValidationError
from rest_framework.pagination import CursorPagination
from rest_framework.parsers import FormParser, MultiPartParser
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.serializers import BaseSerializer

from accounts.models import signed_in
from accounts.untrusted import upload_limit
from api.fields import parse_id
from api.parsers import JSONParser, RequestTooLarge
from api.permissions import check_placement, readable, token_context
from api.viewsets import TenantScopedAPIView, TenantScopedViewSet
from photos import selectors, services
from photos.api.serializers import (
    AlbumSerializer,
    PhotoSerializer,
    PhotoUpdateSerializer,
    PhotoUploadSerializer,
)
from photos.images import ImageRejected
from photos.models import Album, Photo
from photos.storage import StorageUnavailable, open_image
from scopes.access.decision import effective_permissions
from scopes.constants import ScopeName
from scopes.registry import normalise


class NewestFirstCursorPagination(CursorPagination):
    """Keyset pages over (tenant_id, -created, -id): page cost does not grow with the table."""

    ordering = ("-created", "-id")
    page_size = 50
    page_size_query_param = "page_size"
    max_page_size = 200

    def decode_cursor(self, request: Request) -> Any:
        """DRF trusts the position inside a well-formed cursor; a position that is not a time would
        reach the query as a bad value (a 500). Refuse it like any other bad cursor."""
        cursor = super().decode_cursor(request)
        if cursor is not None and cursor.position is not None:
            try:
                # The stubs say int; DRF keeps the position as the text found in the cursor.
                valid = parse_datetime(cursor.position) is not None  # type: ignore[arg-type]
            except ValueError:
                valid = False
            if not valid:
                raise NotFound(self.invalid_cursor_message)
        return cursor

    def paginate_queryset(self, queryset: Any, request: Request, view: Any = None) -> list[Any] | None:
        try:
            return super().paginate_queryset(queryset, request, view)
        except NotFound as exc:
            # DRF answers a bad cursor with 404; it is bad input, not a missing resource.
            raise ValidationError({"cursor": ["The cursor is not valid."]}, code="invalid_cursor") from exc


class StoreUnavailable(APIException):
    """The object store did not answer: nothing was stored, try again (the API's 503, never a 500)."""

    status_code = status.HTTP_503_SERVICE_UNAVAILABLE
    default_code = "storage_unavailable"
    default_detail = "Image storage is unavailable; nothing was stored. Try again shortly."


def _refuse_oversized_upload(request: Request) -> None:
    """413 before reading a body that cannot hold an acceptable photo.

    Django spools file parts to disk without a size limit (DATA_UPLOAD_MAX_MEMORY_SIZE counts only
    the other fields), so without this a 10 GB upload is written to a temporary file before
    validation refuses it. The bound: the largest photo plus what the other fields may take.
    """
    try:
        length = int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        length = 0
    limit = upload_limit()  # the same bound ControlCharacterMiddleware reads forms within
    if length > limit:
        raise RequestTooLarge(f"The request body is {length} bytes; an upload may be at most {limit} bytes.")


def _django_to_drf(exc: DjangoValidationError) -> ValidationError:
    """Carry a service's ValidationError to the client as a 400."""
    if hasattr(exc, "error_dict"):
        return ValidationError(
            {k: [str(m) for e in v for m in e.messages] for k, v in exc.error_dict.items()}
        )
    return ValidationError(exc.messages)


# Object ids are whole numbers (the URL takes any text so that anything else is the same 404).
_ID = OpenApiParameter("id", OpenApiTypes.INT, OpenApiParameter.PATH)
_BY_ID = extend_schema(parameters=[_ID])


@extend_schema_view(retrieve=_BY_ID, partial_update=_BY_ID, destroy=_BY_ID)
class PhotoViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, TenantScopedViewSet):
    """Photos in the tenant: list and upload, read, change, delete, and the image bytes."""

    queryset = selectors.photo_base_queryset()
    serializer_class = PhotoSerializer
    pagination_class = NewestFirstCursorPagination
    parser_classes = [MultiPartParser, FormParser, JSONParser]
    read_scope = ScopeName.PHOTOS_READ
    owner_field = "owner"
    album_field = "album_id"
    action_scopes = {
        "list": ScopeName.PHOTOS_READ,
        "retrieve": ScopeName.PHOTOS_READ,
        "image": ScopeName.PHOTOS_READ,
        "create": ScopeName.PHOTOS_UPLOAD,
        "partial_update": ScopeName.PHOTOS_UPDATE,
        "destroy": ScopeName.PHOTOS_DELETE,
    }

    def narrow_queryset(self, queryset: Any) -> Any:
        """`?album=<id>` and `?owner=me` on lists."""
        if self.action != "list":
            return queryset
        params = self.request.query_params
        album = None
        raw_album = params.get("album")
        if raw_album is not None:
            album_id = parse_id(raw_album)
            if album_id is None:
                raise ValidationError({"album": ["Must be an album id."]}, code="invalid_filter")
            # The album is a reference: read as `albums/<id>/` would read it (403 without
            # albums.read), and one you cannot see filters exactly as one that does not exist.
            album = readable(
                self.request,
                Album.objects.all(),
                tenant_slug=self.kwargs.get("tenant_slug", ""),
                read_scope=ScopeName.ALBUMS_READ,
                owner_field="owner",
                album_field="pk",
            ).filter(pk=album_id)
        owner_id = None
        raw_owner = params.get("owner")
        if raw_owner is not None:
            if raw_owner != "me":
                raise ValidationError({"owner": ["The only owner filter is 'me'."]}, code="invalid_filter")
            owner_id = self.request.user.pk
        return selectors.photos_listed(selectors.photos_filtered(queryset, albums=album, owner_id=owner_id))

    @extend_schema(
        parameters=[
            OpenApiParameter(
                "album",
                OpenApiTypes.INT,
                description=(
                    "Only photos in this album. Needs `albums.read` too (token and role; 403 otherwise), "
                    "as reading the album would: an album that does not exist or that you cannot see "
                    "lists nothing, the same empty page."
                ),
            ),
            OpenApiParameter("owner", OpenApiTypes.STR, enum=["me"], description="`me`: only your photos."),
        ]
    )
    def list(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        """Photos the caller may see, newest first, one cursor page at a time."""
        return super().list(request, *args, **kwargs)

    def get_serializer_class(self) -> type[serializers.BaseSerializer]:
        if self.action == "create":
            return PhotoUploadSerializer
        if self.action == "partial_update":
            return PhotoUpdateSerializer
        return PhotoSerializer

    @extend_schema(request={"multipart/form-data": PhotoUploadSerializer}, responses={201: PhotoSerializer})
    def create(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        """Upload a photo (multipart/form-data) as the token's user, in the URL's tenant."""
        _refuse_oversized_upload(request)
        upload = self.get_serializer(data=request.data)
        upload.is_valid(raise_exception=True)
        file = upload.validated_data["image"]
        self._check_placement(ScopeName.PHOTOS_UPLOAD, upload.validated_data["album"])
        try:
            photo = services.photo_create(
                actor=signed_in(request.user),
                tenant=self.authorized_tenant(),
                image=file,
                filename=file.name or "",
                size=file.size or 0,
                title=upload.validated_data["title"],
                description=upload.validated_data["description"],
                album=upload.validated_data["album"],
            )
        except ImageRejected as exc:
            raise ValidationError({"image": [exc.detail]}, code=exc.reason) from exc
        except StorageUnavailable as exc:
            raise StoreUnavailable() from exc
        except DjangoValidationError as exc:
            raise _django_to_drf(exc) from exc
        return Response(PhotoSerializer(photo, context=self.get_serializer_context()).data, status=201)

    @extend_schema(request=PhotoUpdateSerializer, responses={200: PhotoSerializer})
    def partial_update(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        """Change title, description or album of a photo."""
        photo = self.get_object()
        changes = self.get_serializer(data=request.data, partial=True)
        changes.is_valid(raise_exception=True)
        if "album" in changes.validated_data:
            self._check_placement(ScopeName.PHOTOS_UPDATE, changes.validated_data["album"])
        try:
            photo = services.photo_update(
                actor=signed_in(request.user), photo=photo, **changes.validated_data
            )
        except DjangoValidationError as exc:
            raise _django_to_drf(exc) from exc
        return Response(PhotoSerializer(photo, context=self.get_serializer_context()).data)

    def _check_placement(self, scope: ScopeName, album: Album | None) -> None:
        """An album-limited token puts photos only into its albums (403 `resource_not_granted`)."""
        check_placement(
            self.request,
            tenant_slug=self.kwargs.get("tenant_slug", ""),
            action_scope=scope,
            album_id=album.pk if album is not None else None,
        )

    def destroy(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        """Delete a photo and, once committed, its file."""
        services.photo_delete(actor=signed_in(request.user), photo=self.get_object())
        return Response(status=status.HTTP_204_NO_CONTENT)

    @extend_schema(parameters=[_ID], responses={(200, "image/*"): OpenApiTypes.BINARY})
    def image(self, request: Request, *args: Any, **kwargs: Any) -> FileResponse:
        """The stored image bytes, with the content type validation found."""
        photo: Photo = self.get_object()
        # Only now, past the decision, is the store asked: the bytes are streamed through this
        # response, never handed out as a URL (photos/storage.py says why).
        try:
            opened = open_image(photo.image.name)
        except FileNotFoundError as exc:
            raise NotFound() from exc
        except StorageUnavailable as exc:
            raise StoreUnavailable() from exc
        response = FileResponse(opened.stream, content_type=photo.content_type)
        if opened.length is not None:
            response["Content-Length"] = str(opened.length)
        response["Content-Disposition"] = (
            f'inline; filename="photo-{photo.pk}.{photo.image.name.rsplit(".", 1)[-1]}"'
        )
        response["Cache-Control"] = "private, no-store"
        # The bytes are a validated image served as such (with nosniff from SecurityMiddleware); should a
        # browser still open them as a document (an image with HTML appended), it runs no script there.
        response["Content-Security-Policy"] = "default-src 'none'; sandbox"
        return response


@extend_schema_view(retrieve=_BY_ID, partial_update=_BY_ID, destroy=_BY_ID)
class AlbumViewSet(
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    mixins.CreateModelMixin,
    mixins.UpdateModelMixin,
    TenantScopedViewSet,
):
    """Albums in the tenant."""

    queryset = selectors.album_base_queryset()
    serializer_class = AlbumSerializer
    pagination_class = NewestFirstCursorPagination
    read_scope = ScopeName.ALBUMS_READ
    owner_field = "owner"
    album_field = "pk"
    action_scopes = {
        "list": ScopeName.ALBUMS_READ,
        "retrieve": ScopeName.ALBUMS_READ,
        "create": ScopeName.ALBUMS_WRITE,
        "partial_update": ScopeName.ALBUMS_WRITE,
        "destroy": ScopeName.ALBUMS_WRITE,
    }

    def perform_create(self, serializer: BaseSerializer[Any]) -> None:
        # A new album is in no token's album limit: an album-limited token cannot create one.
        check_placement(
            self.request,
            tenant_slug=self.kwargs.get("tenant_slug", ""),
            action_scope=ScopeName.ALBUMS_WRITE,
            album_id=None,
        )
        serializer.instance = services.album_create(
            actor=signed_in(self.request.user),
            tenant=self.authorized_tenant(),
            name=serializer.validated_data["name"],
            description=serializer.validated_data.get("description", ""),
        )

    def perform_update(self, serializer: BaseSerializer[Any]) -> None:
        serializer.instance = services.album_update(
            actor=signed_in(self.request.user),
            album=cast(Album, serializer.instance),  # UpdateModelMixin.update passes get_object()
            name=serializer.validated_data.get("name"),
            description=serializer.validated_data.get("description"),
        )

    def destroy(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        """Delete an album; its photos stay, outside any album."""
        album: Album = self.get_object()
        services.album_delete(actor=signed_in(request.user), album=album)
        return Response(status=status.HTTP_204_NO_CONTENT)


class MeSerializer(serializers.Serializer):
    """The caller, their role here, and what this token and role allow together."""

    user = serializers.DictField()
    tenant = serializers.DictField()
    role = serializers.CharField()
    token_scopes = serializers.ListField(child=serializers.CharField())
    role_grants = serializers.DictField(child=serializers.CharField())
    allowed = serializers.DictField(child=serializers.CharField(allow_null=True))


class MeView(TenantScopedAPIView):
    """`me/`: who the token acts for in this tenant and what it may do, per scope and reach."""

    action_scopes = {"get": ScopeName.PROFILE_READ}
    serializer_class = MeSerializer

    def get(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        context = token_context(request)
        graph = context.implications
        user = signed_in(request.user)
        return Response(
            {
                "user": {
                    "id": user.pk,
                    "username": user.username,
                    "first_name": user.first_name,
                    "last_name": user.last_name,
                    "email": user.email,
                },
                "tenant": {"slug": context.tenant.slug, "name": context.tenant.name},
                "role": context.role_name,
                "token_scopes": normalise(context.token_scopes, graph),
                "role_grants": dict(context.role_grants),
                "allowed": effective_permissions(
                    token_scopes=context.token_scopes, role_grants=context.role_grants, implications=graph
                ),
            }
        )
