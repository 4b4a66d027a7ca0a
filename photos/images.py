"""Upload validation with Pillow: only real JPEG, PNG, WebP or GIF images, bounded in bytes and pixels."""

from __future__ import annotations

from dataclasses import dataclass
from typing import IO

from django.conf import settings
from PIL import Image, UnidentifiedImageError

# Pillow format -> (content type, file extensions a client may use for it, the one we store).
FORMATS: dict[str, tuple[str, frozenset[str], str]] = {
    "JPEG": ("image/jpeg", frozenset({"jpg", "jpeg", "jpe"}), "jpg"),
    "PNG": ("image/png", frozenset({"png"}), "png"),
    "WEBP": ("image/webp", frozenset({"webp"}), "webp"),
    "GIF": ("image/gif", frozenset({"gif"}), "gif"),
}
# EXIF orientations 5-8 are rotated by 90 degrees: the picture's width and height swap.
_ROTATED_ORIENTATIONS = {5, 6, 7, 8}
_EXIF_ORIENTATION = 0x0112


class ImageRejected(ValueError):
    """An upload that is not an acceptable image; `reason` is a stable code, the message a sentence."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(detail)
        self.reason = reason
        self.detail = detail


@dataclass(frozen=True)
class ImageInfo:
    """What validation learnt: the real type, and the dimensions as the picture is meant to be seen."""

    format: str
    content_type: str
    extension: str
    byte_size: int
    width: int
    height: int


def inspect_image(file: IO[bytes], *, filename: str, size: int) -> ImageInfo:
    """Validate an upload and describe it, or raise ImageRejected saying why.

    Size and pixel count are checked before any pixel is decoded (decompression bombs); the
    whole image is then decoded so a truncated file is refused here, not when someone views it.
    """
    max_bytes: int = settings.PHOTO_MAX_BYTES
    max_pixels: int = settings.PHOTO_MAX_PIXELS
    if size > max_bytes:
        raise ImageRejected("too_large", f"The file is {size} bytes; the limit is {max_bytes} bytes.")
    if size == 0:
        raise ImageRejected("not_an_image", "The file is empty.")
    file.seek(0)
    try:
        with Image.open(file) as image:
            fmt = image.format or ""
            if fmt not in FORMATS:
                raise ImageRejected(
                    "unsupported_format",
                    f"{fmt or 'This'} images are not accepted; send JPEG, PNG, WebP or GIF.",
                )
            width, height = image.size
            if width * height > max_pixels:
                raise ImageRejected(
                    "too_many_pixels",
                    f"The image is {width}x{height} = {width * height} pixels; the limit is {max_pixels}.",
                )
            image.load()
            orientation = image.getexif().get(_EXIF_ORIENTATION)
    except ImageRejected:
        raise
    except Image.DecompressionBombError as exc:
        raise ImageRejected("too_many_pixels", "The image has too many pixels.") from exc
    except UnidentifiedImageError as exc:
        raise ImageRejected("not_an_image", "The file is not an image Pillow can read.") from exc
    except Exception as exc:  # Pillow signals damaged data with many types (OSError, SyntaxError, ...).
        raise ImageRejected(
            "corrupt_image", "The image is truncated or damaged and cannot be decoded."
        ) from exc
    finally:
        file.seek(0)

    content_type, extensions, stored_extension = FORMATS[fmt]
    given = filename.rsplit(".", 1)[-1].lower() if "." in filename else ""
    if given and given not in extensions:
        raise ImageRejected(
            "extension_mismatch",
            f"The file is named .{given} but contains a {fmt} image; use .{stored_extension}.",
        )
    if orientation in _ROTATED_ORIENTATIONS:
        width, height = height, width
    return ImageInfo(
        format=fmt,
        content_type=content_type,
        extension=stored_extension,
        byte_size=size,
        width=width,
        height=height,
    )
