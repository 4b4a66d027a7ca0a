"""Photo fixtures: a temporary MEDIA_ROOT, and what a test reads back from it (images: tests/images.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.factories import AlbumFactory, PhotoFactory  # noqa: F401  (re-exported for tests)
from tests.images import image_bytes, upload  # noqa: F401  (re-exported for tests)


@pytest.fixture(autouse=True)
def media_root(settings, tmp_path: Path) -> Path:
    """Every photo test writes files under its own temporary directory."""
    settings.MEDIA_ROOT = tmp_path / "media"
    settings.MEDIA_ROOT.mkdir()
    return settings.MEDIA_ROOT


def stored_files(root: Path) -> list[Path]:
    """Every file under MEDIA_ROOT (to prove a failure wrote nothing)."""
    return [p for p in root.rglob("*") if p.is_file()]
