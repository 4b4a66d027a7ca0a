"""Hostile uploads: bombs, huge dimensions, damaged and polyglot files, lying names and types.

A refused upload leaves no row, no file under MEDIA_ROOT and no temporary file. An accepted one is
stored under a random name and served only as the image type Pillow found, with headers that keep a
browser from treating it as anything else:

- `Content-Type` is the detected type (never the client's), with `X-Content-Type-Options: nosniff`;
- `Content-Disposition: inline; filename="photo-<id>.<detected extension>"` (no client text in it);
- `Content-Security-Policy: default-src 'none'; sandbox`: opened as a document, it runs nothing.

The bytes are stored as uploaded (not re-encoded), so a valid image with HTML appended is accepted:
the headers above, not the bytes, are what make it harmless.
"""

from __future__ import annotations

import io
import struct
import zlib
from functools import cache

import pytest
from PIL import Image

from photos.models import Photo
from scopes.constants import ScopeName as S
from tests.images import image_bytes, upload

pytestmark = [pytest.mark.django_db, pytest.mark.attack]

URL = "/api/t/acme/photos/"
SCRIPT = b"<html><body><script>alert(document.domain)</script></body></html>"


@pytest.fixture
def uploader(world, api_client):
    return api_client(world.member_a, world.acme, [S.PHOTOS_UPLOAD, S.PHOTOS_READ])


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def png(width: int, height: int, idat: bytes, *, bit_depth: int = 8, colour: int = 0) -> bytes:
    """A PNG built by hand, so its header can claim anything."""
    header = struct.pack(">IIBBBBB", width, height, bit_depth, colour, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", header) + _chunk(b"IDAT", idat) + _chunk(b"IEND", b"")


@cache
def zlib_bomb_png() -> bytes:
    """A ~100 KB PNG that decodes to 10000x10000 grey pixels (100 MB): a decompression bomb."""
    width = height = 10_000
    row = b"\x00" * (width + 1)  # filter byte + pixels
    compressor = zlib.compressobj(9)
    parts = [compressor.compress(row * 100) for _ in range(height // 100)]
    return png(width, height, b"".join(parts) + compressor.flush())


def jpeg_claiming(width: int, height: int) -> bytes:
    """A real JPEG whose frame header (SOF0) was rewritten to claim other dimensions."""
    data = bytearray(image_bytes("JPEG", (8, 8)))
    sof = data.index(b"\xff\xc0")
    data[sof + 5 : sof + 9] = struct.pack(">HH", height, width)
    return bytes(data)


def gif_claiming(width: int, height: int) -> bytes:
    """A real GIF whose logical screen and first frame claim other dimensions."""
    data = bytearray(image_bytes("GIF", (8, 8)))
    data[6:10] = struct.pack("<HH", width, height)
    frame = data.index(b"\x2c")  # image descriptor
    data[frame + 5 : frame + 9] = struct.pack("<HH", width, height)
    return bytes(data)


@pytest.fixture
def temp_uploads(settings, tmp_path):
    """Every uploaded file goes through a temporary file in a directory the test can look into."""
    directory = tmp_path / "upload-tmp"
    directory.mkdir()
    settings.FILE_UPLOAD_TEMP_DIR = str(directory)
    settings.FILE_UPLOAD_MAX_MEMORY_SIZE = 0
    return directory


def refused(uploader, unchanged, temp_uploads, file, reason: str) -> dict:
    with unchanged():
        response = uploader.post(URL, {"image": file, "title": "attack"}, format="multipart")
    assert response.status_code == 400, response.content
    body = response.json()
    assert (body["error"], body["reason"]) == ("invalid_request", reason)
    assert list(temp_uploads.iterdir()) == []
    return body


# --- bombs and dimensions


# Pillow warns at 89M pixels; our own, lower limit (PHOTO_MAX_PIXELS) has refused it by then.
@pytest.mark.filterwarnings("ignore::PIL.Image.DecompressionBombWarning")
def test_a_zlib_decompression_bomb_is_refused_before_decoding(uploader, unchanged, temp_uploads):
    bomb = zlib_bomb_png()
    assert len(bomb) < 200_000
    refused(uploader, unchanged, temp_uploads, upload("bomb.png", bomb), "too_many_pixels")


@pytest.mark.parametrize(
    ("name", "data"),
    [
        ("huge.png", png(100_000, 100_000, zlib.compress(b"\x00" * 1001))),  # 10^10 pixels claimed
        ("wide.png", png(2**31 - 1, 1, zlib.compress(b"\x00" * 10))),  # PNG's largest width
        ("tall.png", png(1, 50_000_000, zlib.compress(b"\x00\x00" * 10))),
        ("huge.jpg", jpeg_claiming(65_000, 65_000)),
        ("huge.gif", gif_claiming(65_535, 65_535)),
    ],
    ids=lambda v: v if isinstance(v, str) else "",
)
def test_huge_dimensions_in_a_tiny_file_are_refused(uploader, unchanged, temp_uploads, name, data):
    refused(uploader, unchanged, temp_uploads, upload(name, data), "too_many_pixels")


def test_dimensions_just_over_the_configured_limit_are_refused(uploader, unchanged, temp_uploads, settings):
    settings.PHOTO_MAX_PIXELS = 10_000
    data = png(101, 100, zlib.compress(b"\x00" * 102 * 100))
    refused(uploader, unchanged, temp_uploads, upload("a.png", data), "too_many_pixels")


def test_a_zero_sized_image_is_refused(uploader, unchanged, temp_uploads):
    data = png(0, 0, zlib.compress(b""))
    refused(uploader, unchanged, temp_uploads, upload("zero.png", data), "not_an_image")


# --- damaged files


@pytest.mark.parametrize("fmt", ["PNG", "JPEG", "GIF", "WEBP"])
def test_a_truncated_image_is_refused(uploader, unchanged, temp_uploads, fmt):
    size = (64, 64)
    noisy = Image.frombytes("RGB", size, bytes((i * 37) % 251 for i in range(size[0] * size[1] * 3)))
    buffer = io.BytesIO()
    noisy.save(buffer, format=fmt)
    data = buffer.getvalue()
    reason = refused(
        uploader,
        unchanged,
        temp_uploads,
        upload(f"cut.{fmt.lower()}", data[: len(data) // 2]),
        "corrupt_image",
    )
    assert "truncated" in reason["detail"]


def test_a_png_with_a_bad_checksum_is_refused(uploader, unchanged, temp_uploads):
    data = bytearray(image_bytes("PNG", (8, 8)))
    data[-20] ^= 0xFF  # inside IDAT: the chunk's CRC no longer matches
    refused(uploader, unchanged, temp_uploads, upload("crc.png", bytes(data)), "corrupt_image")


@pytest.mark.parametrize(
    ("name", "data"),
    [
        ("empty.png", b""),
        ("magic-only.png", b"\x89PNG\r\n\x1a\n"),
        ("html.png", b"\x89PNG\r\n\x1a\n" + SCRIPT),  # HTML behind PNG magic bytes
        ("html.gif", b"GIF89a" + SCRIPT),  # the classic GIF/HTML polyglot
        ("html.jpg", b"\xff\xd8\xff\xe0" + SCRIPT),
        ("page.png", SCRIPT),
        ("x.png", b'<svg xmlns="http://www.w3.org/2000/svg" onload="alert(1)"/>'),
        ("x.png", b"%PDF-1.4\n" + SCRIPT),
        ("x.png", b"PK\x03\x04" + b"\x00" * 26),  # a zip
    ],
    ids=lambda v: v if isinstance(v, str) else "",
)
def test_what_is_not_a_decodable_image_is_refused(uploader, unchanged, temp_uploads, name, data):
    with unchanged():
        response = uploader.post(URL, {"image": upload(name, data)}, format="multipart")
    assert response.status_code == 400
    assert response.json()["reason"] in {"not_an_image", "corrupt_image", "unsupported_format"}
    assert list(temp_uploads.iterdir()) == []


@pytest.mark.parametrize("fmt", ["BMP", "TIFF", "ICO", "PPM"])
def test_image_formats_outside_the_list_are_refused(uploader, unchanged, temp_uploads, fmt):
    image = image_bytes(fmt, (16, 16), mode="RGB")
    refused(uploader, unchanged, temp_uploads, upload(f"a.{fmt.lower()}", image), "unsupported_format")


# --- names and declared types


def test_the_declared_content_type_is_ignored(uploader, world):
    """A PNG declared as text/html is stored and served as image/png."""
    response = uploader.post(URL, {"image": upload("a.png", image_bytes(), "text/html")}, format="multipart")
    assert response.status_code == 201
    assert response.json()["content_type"] == "image/png"
    gif = uploader.post(
        URL, {"image": upload("a.gif", image_bytes("GIF"), "image/png")}, format="multipart"
    ).json()
    assert gif["content_type"] == "image/gif"


@pytest.mark.parametrize("name", ["a.html", "a.png.html", "a.svg", "a.php", "a.jpg"])
def test_a_name_that_contradicts_the_content_is_refused(uploader, unchanged, temp_uploads, name):
    refused(uploader, unchanged, temp_uploads, upload(name, image_bytes("PNG")), "extension_mismatch")


@pytest.mark.parametrize(
    "name",
    [
        "../../../../etc/evil.png",
        "..\\..\\evil.png",
        "/abs/evil.png",
        "evil.html.png",
        "e\x00vil.png",
        ".png",
    ],
)
def test_the_clients_file_name_never_reaches_storage(uploader, media_root, name):
    response = uploader.post(URL, {"image": upload(name, image_bytes())}, format="multipart")
    assert response.status_code == 201, response.content
    photo = Photo.all_tenants.get(pk=response.json()["id"])
    stored = photo.image.name
    assert stored.startswith(f"photos/{photo.tenant_id}/") and stored.endswith(".png")
    assert "evil" not in stored and ".." not in stored
    files = [p for p in media_root.rglob("*") if p.is_file()]
    assert files == [media_root / stored]


def test_a_field_that_is_not_a_file_is_refused(uploader, unchanged):
    with unchanged():
        for image in ("not a file", ""):
            assert uploader.post(URL, {"image": image}, format="multipart").status_code == 400
        assert uploader.post(URL, {"image": "x"}, format="json").status_code == 400


# --- polyglots that are valid images, and how they are served


def serve(uploader, data: bytes, name: str):
    created = uploader.post(URL, {"image": upload(name, data, "text/html")}, format="multipart")
    assert created.status_code == 201, created.content
    response = uploader.get(f"{URL}{created.json()['id']}/image")
    assert response.status_code == 200
    return created.json(), response, b"".join(response.streaming_content)


def assert_served_inert(response, photo: dict, content_type: str, extension: str) -> None:
    assert response["Content-Type"] == content_type
    assert response["X-Content-Type-Options"] == "nosniff"
    assert response["Content-Disposition"] == f'inline; filename="photo-{photo["id"]}.{extension}"'
    assert response["Content-Security-Policy"] == "default-src 'none'; sandbox"
    assert response["Cache-Control"] == "private, no-store"


def test_an_image_with_html_appended_is_served_only_as_an_image(uploader):
    data = image_bytes("PNG", (8, 8)) + SCRIPT
    photo, response, body = serve(uploader, data, "polyglot.png")
    assert photo["content_type"] == "image/png"
    assert body == data  # stored verbatim: the headers are what keep it an image
    assert_served_inert(response, photo, "image/png", "png")


@pytest.mark.parametrize(("fmt", "ext"), [("GIF", "gif"), ("JPEG", "jpg")])
def test_an_image_with_script_in_its_comment_is_served_only_as_an_image(uploader, fmt, ext):
    image = image_bytes(fmt, (8, 8), mode="RGB" if fmt == "JPEG" else "P", comment=SCRIPT)
    photo, response, body = serve(uploader, image, f"c.{ext}")
    assert SCRIPT in body
    assert_served_inert(response, photo, f"image/{fmt.lower()}", ext)


def test_stored_bytes_can_only_be_fetched_through_the_api(uploader, client, media_root):
    """MEDIA_ROOT is not served: the only way to the bytes is the authorized image endpoint."""
    photo, _response, _body = serve(uploader, image_bytes(), "a.png")
    stored = Photo.all_tenants.get(pk=photo["id"]).image.name
    assert client.get(f"/media/{stored}").status_code == 404
