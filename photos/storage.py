"""Where image bytes live: local files, or a private S3-compatible bucket (django-storages).

Every read goes through the API, after the decision: the app streams the object to the client
(`open_image`). No URL to the bucket is ever handed out, presigned or not. Why streaming rather
than a short-lived presigned URL after the decision: a presigned URL is a bearer credential that
outlives the decision (a revoked token or a demoted member could still fetch the bytes until it
expires, and anyone it is forwarded to could too); the bucket stays reachable from the app servers
only; and the response keeps our headers (`Cache-Control: private, no-store`, the sandboxing CSP).
The cost, the bytes passing through an app server, is bounded by `PHOTO_MAX_BYTES`.

Objects and rows: an upload writes its object first and its row second, in the request's
transaction. A failure seen in the service removes the object at once; a rollback the service
cannot see (the request's transaction rolled back later) leaves an object no row names, which
`manage.py sweep_photo_objects` removes (`sweep_unreferenced`). A deletion removes the object only
once the row's deletion is committed.
"""

from __future__ import annotations

import posixpath
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import IO, Any, cast

from django.core.files.base import File
from django.core.files.storage import Storage, storages
from django.utils import timezone

from accounts.tenancy import tenant_scope
from photos.models import Photo

PHOTO_PREFIX = "photos"


def backend() -> Storage:
    """The storage behind `default_storage` (rebuilt by Django when STORAGES changes)."""
    return storages["default"]


def is_object_storage(storage: Storage | None = None) -> bool:
    """Whether images live in an S3-compatible bucket (rather than on this server's disk)."""
    from storages.backends.s3 import S3Storage

    return isinstance(storage or backend(), S3Storage)


class StorageUnavailable(RuntimeError):
    """The object store did not answer (down, unreachable, refusing us): a 503, never a 500."""


def _unavailable_errors() -> tuple[type[BaseException], ...]:
    from botocore.exceptions import BotoCoreError, ClientError

    return (BotoCoreError, ClientError, OSError)


def save_image(name: str, content: IO[bytes]) -> str:
    """Store an upload's bytes under `name`; the name actually used (random names never collide)."""
    try:
        return backend().save(name, File(content))
    except _unavailable_errors() as exc:
        raise StorageUnavailable(name) from exc


@dataclass
class OpenedImage:
    """An image's bytes as a stream, and their length when the store says it."""

    stream: IO[bytes]
    length: int | None


def open_image(name: str) -> OpenedImage:
    """The stored bytes of `name`, streamed (raises FileNotFoundError when there is no such object)."""
    storage = backend()
    if is_object_storage(storage):
        from botocore.exceptions import ClientError

        s3 = cast(Any, storage)
        try:
            answer = s3.bucket.Object(s3._normalize_name(name)).get()
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in {"NoSuchKey", "404"}:
                raise FileNotFoundError(name) from exc
            raise StorageUnavailable(name) from exc
        except _unavailable_errors() as exc:
            raise StorageUnavailable(name) from exc
        # botocore's StreamingBody reads from the socket chunk by chunk: nothing is buffered whole.
        return OpenedImage(stream=answer["Body"], length=answer.get("ContentLength"))
    try:
        handle = storage.open(name, "rb")
    except FileNotFoundError:
        raise
    except OSError as exc:
        raise StorageUnavailable(name) from exc
    return OpenedImage(stream=cast(IO[bytes], handle), length=handle.size)


def check_reachable() -> None:
    """Readiness: raise unless the bucket answers (only asked when images live in a bucket)."""
    s3 = cast(Any, backend())
    s3.connection.meta.client.head_bucket(Bucket=s3.bucket_name)


def _listdir(storage: Storage, directory: str) -> tuple[list[str], list[str]]:
    try:
        return storage.listdir(directory)
    except FileNotFoundError:
        return [], []


@dataclass
class SweepResult:
    """What a sweep looked at and what it removed."""

    examined: int
    removed: list[str]
    kept_recent: int


def sweep_unreferenced(*, older_than: timedelta, dry_run: bool = False, batch: int = 500) -> SweepResult:
    """Remove stored images that no photo row names and that are older than `older_than`.

    Objects are stored as `photos/<tenant id>/<random>.<ext>` (`photo_upload_to`), so each tenant's
    directory is compared with that tenant's rows, read inside that tenant (`tenant_scope`): on
    PostgreSQL row-level security shows exactly those rows, so the sweep runs as the runtime role
    and can never mistake rows it may not see for rows that do not exist. The age bound keeps an
    upload in flight (object written, row not yet committed) safe: make it longer than any request.
    Anything else under `photos/` is left alone.
    """
    storage = backend()
    cutoff: datetime = timezone.now() - older_than
    examined = kept_recent = 0
    removed: list[str] = []
    tenant_dirs, _ = _listdir(storage, PHOTO_PREFIX)
    for tenant_dir in tenant_dirs:
        if not tenant_dir.isdigit():
            continue
        tenant_id = int(tenant_dir)
        directory = posixpath.join(PHOTO_PREFIX, tenant_dir)
        _, files = _listdir(storage, directory)
        names = [posixpath.join(directory, f) for f in files]
        for start in range(0, len(names), batch):
            chunk = names[start : start + batch]
            examined += len(chunk)
            with tenant_scope(tenant_id):
                # all_tenants, as commands use it: the names are this tenant's (the path says so, and the
                # tenant filter says it again).
                referenced = set(
                    Photo.all_tenants.filter(tenant_id=tenant_id, image__in=chunk).values_list(
                        "image", flat=True
                    )
                )
            for name in chunk:
                if name in referenced:
                    continue
                if storage.get_modified_time(name) > cutoff:
                    kept_recent += 1
                    continue
                if not dry_run:
                    storage.delete(name)
                removed.append(name)
    return SweepResult(examined=examined, removed=removed, kept_recent=kept_recent)
