"""Writes to photos and albums: typed, keyword-only, in a transaction, files cleaned up with the rows.

Tenant and owner are always arguments from the authorized request (URL and token), never input.
"""

from __future__ import annotations

import contextlib
from typing import IO

from django.core.exceptions import ValidationError
from django.core.files.storage import default_storage
from django.db import transaction

from accounts.models import Tenant, User
from accounts.tenancy import writes_in_tenant
from photos.images import inspect_image
from photos.models import Album, Photo, photo_upload_to
from photos.storage import save_image

_UNSET = object()


def _check_album(album: Album | None, tenant: Tenant) -> None:
    """An album must be in the photo's tenant: a last check under the API's, which resolves the id
    through `api.permissions.resolve_reference` (readable by the caller, or "no such album")."""
    if album is not None and album.tenant_id != tenant.pk:
        raise ValidationError({"album": "No such album."}, code="does_not_exist")


@writes_in_tenant(lambda a: a["tenant"].pk)
@transaction.atomic
def album_create(*, actor: User, tenant: Tenant, name: str, description: str = "") -> Album:
    """A new album in `tenant`, owned by the acting user."""
    return Album.objects.create(tenant=tenant, owner=actor, name=name, description=description)


@writes_in_tenant(lambda a: a["album"].tenant_id)
@transaction.atomic
def album_update(
    *, actor: User, album: Album, name: str | None = None, description: str | None = None
) -> Album:
    """Rename or redescribe an album (the permission layer decided `actor` may)."""
    fields = []
    if name is not None:
        album.name = name
        fields.append("name")
    if description is not None:
        album.description = description
        fields.append("description")
    if fields:
        album.save(update_fields=fields)
    return album


@writes_in_tenant(lambda a: a["album"].tenant_id)
@transaction.atomic
def album_delete(*, actor: User, album: Album) -> None:
    """Delete an album; its photos stay, outside any album."""
    album.delete()


@writes_in_tenant(lambda a: a["tenant"].pk)
def photo_create(
    *,
    actor: User,
    tenant: Tenant,
    image: IO[bytes],
    filename: str,
    size: int,
    title: str = "",
    description: str = "",
    album: Album | None = None,
) -> Photo:
    """Validate an upload and store it as the actor's photo in `tenant`.

    Raises `photos.images.ImageRejected` before anything is written. If the row cannot be
    committed, the stored file is removed again: a failed upload leaves no row and no file.
    """
    info = inspect_image(image, filename=filename, size=size)
    _check_album(album, tenant)
    photo = Photo(
        tenant=tenant,
        owner=actor,
        album=album,
        title=title,
        description=description,
        content_type=info.content_type,
        byte_size=info.byte_size,
        width=info.width,
        height=info.height,
    )
    # The object first, the row second: an acknowledged upload always has its bytes; a rollback the
    # service cannot see leaves an object no row names, for `sweep_photo_objects` (photos/storage.py).
    name = save_image(photo_upload_to(photo, f"upload.{info.extension}"), image)
    photo.image.name = name
    try:
        with transaction.atomic():
            photo.save()
    except BaseException:
        # Django has no on-rollback hook: remove the file here, where the failure is seen.
        with contextlib.suppress(Exception):  # a store that is down: the sweep removes it later
            default_storage.delete(name)
        raise
    return photo


@writes_in_tenant(lambda a: a["photo"].tenant_id)
@transaction.atomic
def photo_update(
    *,
    actor: User,
    photo: Photo,
    title: str | None = None,
    description: str | None = None,
    album: Album | object | None = _UNSET,
) -> Photo:
    """Change a photo's title, description or album (None takes it out of its album)."""
    fields = ["updated"]
    if title is not None:
        photo.title = title
        fields.append("title")
    if description is not None:
        photo.description = description
        fields.append("description")
    if album is not _UNSET:
        assert album is None or isinstance(album, Album)
        _check_album(album, photo.tenant)
        photo.album = album
        fields.append("album")
    photo.save(update_fields=fields)
    return photo


@writes_in_tenant(lambda a: a["photo"].tenant_id)
@transaction.atomic
def photo_delete(*, actor: User, photo: Photo) -> None:
    """Delete a photo; its file goes only once the deletion is committed."""
    name = photo.image.name
    photo.delete()
    if name:
        # robust: a store that is down then does not turn a committed deletion into a 500; the object
        # stays without a row, and `sweep_photo_objects` removes it later.
        transaction.on_commit(lambda: default_storage.delete(name), robust=True)
