"""Photo fixtures: a temporary MEDIA_ROOT, images made in memory, photos and albums by factory."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from PIL import Image

from tests.factories import AlbumFactory, PhotoFactory  # noqa: F401  (re-exported for tests)


@pytest.fixture(autouse=True)
def media_root(settings, tmp_path: Path) -> Path:
    """Every photo test writes files under its own temporary directory."""
    settings.MEDIA_ROOT = tmp_path / "media"
    settings.MEDIA_ROOT.mkdir()
    return settings.MEDIA_ROOT


def image_bytes(fmt: str = "PNG", size: tuple[int, int] = (4, 3), **save: object) -> bytes:
    """A tiny real image, made in memory."""
    buffer = io.BytesIO()
    mode = "RGB" if fmt in {"JPEG", "WEBP"} else "RGBA" if fmt == "PNG" else "P"
    Image.new(mode, size).save(buffer, format=fmt, **save)
    return buffer.getvalue()


def upload(
    name: str = "cat.png", data: bytes | None = None, content_type: str = "image/png"
) -> SimpleUploadedFile:
    """A file as a multipart upload would carry it."""
    return SimpleUploadedFile(name, image_bytes() if data is None else data, content_type=content_type)


def stored_files(root: Path) -> list[Path]:
    """Every file under MEDIA_ROOT (to prove a failure wrote nothing)."""
    return [p for p in root.rglob("*") if p.is_file()]
