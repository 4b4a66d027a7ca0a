"""Uploads: only real, bounded images are stored; a failure leaves no row and no file."""

from __future__ import annotations

import io

import pytest
from PIL import Image

from photos.models import Photo
from scopes.constants import ScopeName as S
from tests.images import image_bytes, upload
from tests.photos.conftest import stored_files

URL = "/api/t/acme/photos/"


@pytest.fixture
def uploader(world, api_client):
    return api_client(world.member_a, world.acme, [S.PHOTOS_UPLOAD, S.PHOTOS_DELETE])


def noisy(fmt: str, size: tuple[int, int] = (64, 64)) -> bytes:
    """An image whose data does not compress away, so cutting it really truncates pixels."""
    buffer = io.BytesIO()
    Image.frombytes("RGB", size, bytes((i * 37) % 251 for i in range(size[0] * size[1] * 3))).save(
        buffer, format=fmt
    )
    return buffer.getvalue()


@pytest.mark.parametrize(
    ("fmt", "name", "content_type"),
    [("PNG", "a.png", "image/png"), ("JPEG", "a.jpg", "image/jpeg"), ("WEBP", "a.webp", "image/webp"),
     ("GIF", "a.gif", "image/gif"), ("JPEG", "no-extension", "image/jpeg")],
)  # fmt: skip
def test_real_images_are_stored_with_their_type_and_size(uploader, media_root, fmt, name, content_type):
    data = image_bytes(fmt, (5, 2))
    response = uploader.post(
        URL, {"image": upload(name, data, "application/octet-stream")}, format="multipart"
    )
    assert response.status_code == 201, response.content
    body = response.json()
    assert (body["content_type"], body["width"], body["height"], body["byte_size"]) == (
        content_type,
        5,
        2,
        len(data),
    )
    photo = Photo.all_tenants.get(pk=body["id"])
    assert photo.image.name.startswith(f"photos/{photo.tenant_id}/")
    assert (media_root / photo.image.name).read_bytes() == data


def test_exif_orientation_swaps_width_and_height(uploader):
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90 degrees clockwise to display
    data = image_bytes("JPEG", (40, 10), exif=exif.tobytes())
    response = uploader.post(URL, {"image": upload("r.jpg", data)}, format="multipart")
    assert response.status_code == 201
    assert (response.json()["width"], response.json()["height"]) == (10, 40)


def _refused(uploader, media_root, file, reason: str) -> dict:
    response = uploader.post(URL, {"image": file, "title": "x"}, format="multipart")
    assert response.status_code == 400, response.content
    body = response.json()
    assert body["error"] == "invalid_request"
    assert body["reason"] == reason
    assert body["fields"]["image"]
    assert not Photo.all_tenants.exists()
    assert stored_files(media_root) == []
    return body


def test_a_text_file_is_not_an_image(uploader, media_root):
    body = _refused(uploader, media_root, upload("notes.png", b"hello, not a picture" * 10), "not_an_image")
    assert "not an image" in body["detail"]


def test_an_empty_file_is_refused(uploader, media_root):
    _refused(uploader, media_root, upload("empty.png", b""), "not_an_image")


@pytest.mark.parametrize("fmt", ["PNG", "JPEG", "GIF"])
def test_a_truncated_image_is_refused(uploader, media_root, fmt):
    data = noisy(fmt)
    body = _refused(
        uploader, media_root, upload(f"cut.{fmt.lower()}", data[: len(data) // 2]), "corrupt_image"
    )
    assert "truncated" in body["detail"]


def test_an_extension_that_does_not_match_the_content_is_refused(uploader, media_root):
    body = _refused(uploader, media_root, upload("cat.jpg", image_bytes("PNG")), "extension_mismatch")
    assert "PNG" in body["detail"]


def test_a_script_named_like_an_image_is_refused(uploader, media_root):
    _refused(uploader, media_root, upload("x.png", b"<svg onload=alert(1)></svg>"), "not_an_image")


def test_other_image_formats_are_refused(uploader, media_root):
    _refused(uploader, media_root, upload("a.bmp", image_bytes("BMP")), "unsupported_format")


def test_too_many_pixels_is_refused_before_decoding(uploader, media_root, settings):
    settings.PHOTO_MAX_PIXELS = 100
    body = _refused(uploader, media_root, upload("big.png", image_bytes("PNG", (11, 10))), "too_many_pixels")
    assert "limit is 100" in body["detail"]


def test_too_many_bytes_is_refused(uploader, media_root, settings):
    settings.PHOTO_MAX_BYTES = 50
    _refused(uploader, media_root, upload("big.png", noisy("PNG")), "too_large")


def test_a_missing_file_is_a_400(uploader):
    response = uploader.post(URL, {"title": "no file"}, format="multipart")
    assert response.status_code == 400
    assert response.json()["reason"] == "required"


def test_a_failed_save_removes_the_stored_file(world, media_root, monkeypatch):
    from photos import services

    def broken_save(self, *args, **kwargs):
        raise RuntimeError("database went away")

    monkeypatch.setattr(Photo, "save", broken_save)
    with pytest.raises(RuntimeError):
        services.photo_create(
            actor=world.member_a,
            tenant=world.acme,
            image=io.BytesIO(image_bytes()),
            filename="a.png",
            size=69,
        )
    assert stored_files(media_root) == []


def test_a_deleted_photo_leaves_no_file(uploader, media_root, django_capture_on_commit_callbacks):
    photo_id = uploader.post(URL, {"image": upload()}, format="multipart").json()["id"]
    assert len(stored_files(media_root)) == 1
    with django_capture_on_commit_callbacks(execute=True):
        assert uploader.delete(f"{URL}{photo_id}/").status_code == 204
    assert stored_files(media_root) == []
    assert not Photo.all_tenants.exists()
