"""Attack tests: every attack must fail safely, and "safely" means nothing changed.

An attack test lives next to the behaviour whose rule it attacks (tests/scopes/consent/,
tests/photos/, ...) and says so with `pytestmark = pytest.mark.attack`: it then writes (or rather
fails to write) under a MEDIA_ROOT of its own, and `pytest -m attack` runs every attack test.
The fixtures here are installed for the whole suite by tests/conftest.py.

`unchanged()` fingerprints every row of every model in our apps (accounts, scopes, photos, with
their many-to-many tables) and every file under MEDIA_ROOT, and fails the test with the tables or
files that differ. Sessions and used consent forms (`scopes.ConsentFormUse`) are left out on
purpose: a refused consent form still uses up its single-use nonce, which is the point.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path
from typing import Any

import pytest
from django.apps import apps
from django.db import connection

from scopes.constants import ScopeName as S

# With second factors (django-otp's TOTP devices and recovery codes: accounts.factors).
WATCHED_APPS = ("accounts", "scopes", "photos", "otp_totp", "otp_static")
# A refused form is used up too (see above); a successful answer records the scope it used, by day
# (scopes.usage): bookkeeping of what succeeded, not data an attack changed.
UNWATCHED_MODELS = {"scopes.ConsentFormUse", "scopes.ScopeUsage"}
Snapshot = dict[str, Any]


@pytest.fixture
def media_root(settings, tmp_path: Path) -> Path:
    """A MEDIA_ROOT of this test's own."""
    settings.MEDIA_ROOT = tmp_path / "media"
    settings.MEDIA_ROOT.mkdir()
    return settings.MEDIA_ROOT


@pytest.fixture(autouse=True)
def _attacks_write_under_their_own_media_root(request: pytest.FixtureRequest) -> None:
    """Every attack test writes (or rather, fails to write) under its own MEDIA_ROOT."""
    if request.node.get_closest_marker("attack"):
        request.getfixturevalue("media_root")


def _models() -> list[Any]:
    found = []
    for label in WATCHED_APPS:
        for model in apps.get_app_config(label).get_models():
            if model._meta.label in UNWATCHED_MODELS:
                continue
            found.append(model)
            found.extend(
                field.remote_field.through
                for field in model._meta.local_many_to_many
                if field.remote_field.through._meta.auto_created
            )
    return found


def snapshot(media: Path) -> Snapshot:
    """Every row (the model's columns, by primary key, as stored) of the watched tables, and every
    stored file. Plain SQL: a `values_list()` per model cost 25 ms a snapshot, twice per attack."""
    quote = connection.ops.quote_name
    state: Snapshot = {}
    with connection.cursor() as cursor:
        for model in _models():
            meta = model._meta
            columns = ", ".join(quote(field.column) for field in meta.concrete_fields)
            cursor.execute(f"SELECT {columns} FROM {quote(meta.db_table)} ORDER BY {quote(meta.pk.column)}")
            state[model._meta.label] = cursor.fetchall()
    state["<files>"] = sorted((str(p.relative_to(media)), p.stat().st_size) for p in media.rglob("*"))
    return state


@pytest.fixture
def unchanged(db, media_root: Path) -> Callable[[], AbstractContextManager[None]]:
    """`with unchanged(): attack()` fails if the attack changed any row or file."""

    @contextmanager
    def check() -> Iterator[None]:
        before = snapshot(media_root)
        yield
        after = snapshot(media_root)
        changed = {
            name: {
                "gone": [row for row in before[name] if row not in after[name]],
                "new": [row for row in after[name] if row not in before[name]],
            }
            for name in before
            if before[name] != after[name]
        }
        assert not changed, f"the attack changed {sorted(changed)}: {changed}"

    return check


ALL_API_SCOPES = [S.PHOTOS_WRITE, S.ALBUMS_WRITE, S.PROFILE_READ]
