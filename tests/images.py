"""The suite's one image helper: tiny real images made in memory, and a file as an upload carries it."""

from __future__ import annotations

import io

from django.core.files.uploadedfile import SimpleUploadedFile
from PIL import Image


def image_bytes(
    fmt: str = "PNG", size: tuple[int, int] = (4, 3), *, mode: str | None = None, **save: object
) -> bytes:
    """A tiny real image in `fmt`; the mode defaults to one every format here can save."""
    buffer = io.BytesIO()
    mode = mode or ("RGB" if fmt in {"JPEG", "WEBP"} else "RGBA" if fmt == "PNG" else "P")
    Image.new(mode, size).save(buffer, format=fmt, **save)
    return buffer.getvalue()


def upload(
    name: str = "cat.png", data: bytes | None = None, content_type: str = "image/png"
) -> SimpleUploadedFile:
    """A file as a multipart upload would carry it."""
    return SimpleUploadedFile(name, image_bytes() if data is None else data, content_type=content_type)
