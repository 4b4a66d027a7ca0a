"""Images in a private S3-compatible bucket: a real server (moto, started by the suite) behind django-storages.

Uploads land in the bucket, every read is authorized and streamed by the API, a deletion removes the
object once committed, and a rolled-back upload leaves nothing once `sweep_photo_objects` ran.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.conf import settings as django_settings
from django.core.files.base import ContentFile
from django.core.management import call_command
from django.db import IntegrityError, transaction

from photos import services
from photos.models import Photo
from photos.storage import backend, is_object_storage, sweep_unreferenced
from scopes.constants import ScopeName as S
from tests.images import image_bytes, upload
from tests.photos.conftest import stored_files
from tests.servers import S3Server

pytestmark = pytest.mark.django_db

URL = "/api/t/acme/photos/"


@pytest.fixture
def uploader(world, api_client):
    return api_client(world.member_a, world.acme, [S.PHOTOS_UPLOAD, S.PHOTOS_READ, S.PHOTOS_DELETE])


def _upload(client, data: bytes) -> int:
    response = client.post(URL, {"image": upload("a.png", data)}, format="multipart")
    assert response.status_code == 201, response.content
    return response.json()["id"]


def test_an_upload_is_stored_in_the_bucket_and_not_on_disk(s3_server, s3_bucket, uploader, media_root):
    assert is_object_storage()
    data = image_bytes("PNG", (7, 3))
    photo = Photo.all_tenants.get(pk=_upload(uploader, data))
    assert s3_server.keys(s3_bucket) == [photo.image.name]
    assert photo.image.name.startswith(f"photos/{photo.tenant_id}/")
    stored = s3_server.client().get_object(Bucket=s3_bucket, Key=photo.image.name)
    assert stored["Body"].read() == data
    assert stored["ContentType"] == "image/png"
    assert stored_files(media_root) == []


def test_the_bucket_is_private(s3_server, s3_bucket, uploader):
    """No ACL grants anyone but the owner: objects are not public-read."""
    name = Photo.all_tenants.get(pk=_upload(uploader, image_bytes())).image.name
    grants = s3_server.client().get_object_acl(Bucket=s3_bucket, Key=name)["Grants"]
    assert all("URI" not in grant["Grantee"] for grant in grants), grants  # no AllUsers / AuthenticatedUsers


def test_reads_are_authorized_then_streamed(world, s3_bucket, uploader, api_client):
    data = image_bytes("PNG", (9, 9))
    photo_id = _upload(uploader, data)
    reader = api_client(world.guest_a, world.acme, [S.PHOTOS_READ])
    response = reader.get(f"{URL}{photo_id}/image")
    assert response.status_code == 200
    assert b"".join(response.streaming_content) == data
    assert response["Content-Type"] == "image/png"
    assert response["Content-Length"] == str(len(data))
    assert response["Cache-Control"] == "private, no-store"
    assert "amazonaws" not in str(response.headers) and "X-Amz" not in str(response.headers)

    no_scope = api_client(world.guest_a, world.acme, [S.PROFILE_READ])
    assert no_scope.get(f"{URL}{photo_id}/image").json()["reason"] == "scope_missing"
    other_tenant = api_client(world.member_b, world.globex, [S.PHOTOS_READ])
    assert other_tenant.get(f"/api/t/acme/photos/{photo_id}/image").status_code == 404


def test_a_missing_object_is_a_404_not_a_500(s3_server, s3_bucket, uploader):
    photo = Photo.all_tenants.get(pk=_upload(uploader, image_bytes()))
    s3_server.client().delete_object(Bucket=s3_bucket, Key=photo.image.name)
    assert uploader.get(f"{URL}{photo.pk}/image").status_code == 404


def test_a_deletion_removes_the_object_on_commit(
    s3_server, s3_bucket, uploader, django_capture_on_commit_callbacks
):
    keep = _upload(uploader, image_bytes())
    gone = Photo.all_tenants.get(pk=_upload(uploader, image_bytes("PNG", (2, 2))))
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        assert uploader.delete(f"{URL}{gone.pk}/").status_code == 204
    assert gone.image.name in s3_server.keys(s3_bucket)  # not before the commit
    for callback in callbacks:
        callback()
    assert s3_server.keys(s3_bucket) == [Photo.all_tenants.get(pk=keep).image.name]


def test_a_rolled_back_deletion_keeps_the_object(s3_server, s3_bucket, world):
    photo = services.photo_create(
        actor=world.member_a, tenant=world.acme, image=ContentFile(image_bytes()), filename="a.png", size=69
    )
    photo_id, name = photo.pk, photo.image.name
    with pytest.raises(RuntimeError), transaction.atomic():
        services.photo_delete(actor=world.member_a, photo=photo)
        raise RuntimeError("the request failed after the deletion")
    assert Photo.all_tenants.filter(pk=photo_id).exists()
    assert s3_server.keys(s3_bucket) == [name]


def test_a_failure_the_service_sees_removes_the_object_at_once(s3_server, s3_bucket, world):
    data = image_bytes()
    with pytest.raises(IntegrityError):
        services.photo_create(  # a NULL title: the row's INSERT fails after the object was written
            actor=world.member_a,
            tenant=world.acme,
            image=ContentFile(data),
            filename="a.png",
            size=len(data),
            title=None,  # type: ignore[arg-type]
        )
    assert s3_server.keys(s3_bucket) == []


def test_a_rollback_after_the_service_leaves_an_object_the_sweep_removes(s3_server, s3_bucket, world):
    data = image_bytes()
    kept = services.photo_create(
        actor=world.member_a, tenant=world.acme, image=ContentFile(data), filename="a.png", size=len(data)
    )
    with pytest.raises(RuntimeError), transaction.atomic():
        lost = services.photo_create(
            actor=world.member_a, tenant=world.acme, image=ContentFile(data), filename="b.png", size=len(data)
        )
        raise RuntimeError("the request's transaction rolls back after the upload")
    assert not Photo.all_tenants.filter(pk=lost.pk).exists()
    assert sorted(s3_server.keys(s3_bucket)) == sorted([kept.image.name, lost.image.name])

    # An upload in flight (object written, row not committed yet) is young: kept.
    young = sweep_unreferenced(older_than=timedelta(hours=1))
    assert (young.removed, young.kept_recent, young.examined) == ([], 1, 2)
    dry = sweep_unreferenced(older_than=timedelta(0), dry_run=True)
    assert dry.removed == [lost.image.name]
    assert sorted(s3_server.keys(s3_bucket)) == sorted([kept.image.name, lost.image.name])

    call_command("sweep_photo_objects", "--older-than", "0")
    assert s3_server.keys(s3_bucket) == [kept.image.name]
    assert backend().open(kept.image.name).read() == data


def test_the_sweep_leaves_other_tenants_and_foreign_objects_alone(s3_server, s3_bucket, world):
    data = image_bytes()
    acme = services.photo_create(
        actor=world.member_a, tenant=world.acme, image=ContentFile(data), filename="a.png", size=len(data)
    )
    globex = services.photo_create(
        actor=world.member_b, tenant=world.globex, image=ContentFile(data), filename="a.png", size=len(data)
    )
    client = s3_server.client()
    client.put_object(Bucket=s3_bucket, Key="photos/not-a-tenant/x.png", Body=b"x")
    client.put_object(Bucket=s3_bucket, Key="backups/x.bin", Body=b"x")
    # An object in acme's directory named like globex's photo is not acme's: it goes.
    stray = f"photos/{world.acme.pk}/{globex.image.name.rsplit('/', 1)[1]}"
    client.put_object(Bucket=s3_bucket, Key=stray, Body=b"x")
    result = sweep_unreferenced(older_than=timedelta(0))
    assert result.removed == [stray]
    assert sorted(s3_server.keys(s3_bucket)) == sorted(
        [acme.image.name, globex.image.name, "photos/not-a-tenant/x.png", "backups/x.bin"]
    )


def test_the_sweep_works_on_local_files_too(world, media_root):
    data = image_bytes()
    kept = services.photo_create(
        actor=world.member_a, tenant=world.acme, image=ContentFile(data), filename="a.png", size=len(data)
    )
    with pytest.raises(RuntimeError), transaction.atomic():
        services.photo_create(
            actor=world.member_a, tenant=world.acme, image=ContentFile(data), filename="a.png", size=len(data)
        )
        raise RuntimeError
    assert len(stored_files(media_root)) == 2
    call_command("sweep_photo_objects", "--older-than", "0")
    assert stored_files(media_root) == [media_root / kept.image.name]


@pytest.fixture
def stopped_store(settings, world):
    """A bucket on a server of this test's own, which the test stops."""
    store = S3Server().start()
    bucket = store.new_bucket()
    settings.STORAGES = store.storages_setting(bucket, django_settings.STORAGES["staticfiles"])
    photo = services.photo_create(
        actor=world.member_a, tenant=world.acme, image=ContentFile(image_bytes()), filename="a.png", size=69
    )
    store.stop()
    yield photo
    store.stop()


def test_a_store_that_is_down_is_a_503_and_stores_nothing(stopped_store, uploader):
    rows = Photo.all_tenants.count()
    response = uploader.post(URL, {"image": upload("b.png", image_bytes())}, format="multipart")
    assert response.status_code == 503
    assert response.json()["reason"] == "storage_unavailable"
    assert Photo.all_tenants.count() == rows
    read = uploader.get(f"{URL}{stopped_store.pk}/image")
    assert (read.status_code, read.json()["reason"]) == (503, "storage_unavailable")
    # Lists and metadata do not need the store.
    assert uploader.get(f"{URL}{stopped_store.pk}/").status_code == 200
