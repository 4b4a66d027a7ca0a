"""One migration per run: the first xdist worker migrates a template database, every worker copies it.

pytest-django migrates once per xdist worker: on two workers the same migration work (Django
re-rendering model state for every migration) twice, on the same two cores. Here the workers of one
run take a file lock in the run's shared temporary directory; the first to take it creates and
migrates the template, and each worker then copies the template into the database pytest-django is
about to use, under the same lock: `CREATE DATABASE ... TEMPLATE` on PostgreSQL, and on SQLite the
backup API from the template file into the worker's in-memory database (as Django's own parallel
runner does). pytest-django then finds that database as `--reuse-db` would, with nothing to migrate.
"""

from __future__ import annotations

import fcntl
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from django.conf import settings
from django.db import connections

ALIAS = "default"
# The in-memory SQLite database lives while a connection to it is open: this one, until Django's.
_kept_open: list[sqlite3.Connection] = []
# This run's migrated SQLite template, once prepare() made or found it.
_sqlite_template: list[Path] = []


def sqlite_template() -> Path | None:
    """The run's migrated SQLite template file (the SQLite leg under xdist), or None."""
    return _sqlite_template[0] if _sqlite_template else None


def can_share(*, worker: str | None, createdb: bool, migrations: bool) -> bool:
    """Only for a fresh database (--create-db) built by migrations, under xdist, with one alias."""
    return bool(worker) and createdb and migrations and list(settings.DATABASES) == [ALIAS]


@contextmanager
def _locked(path: Path) -> Iterator[None]:
    with path.open("w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def prepare(*, worker: str, shared: Path, verbosity: int) -> None:
    """Put a migrated copy of the run's template where pytest-django will look for this worker's
    test database, migrating the template first if no worker has yet."""
    connection = connections[ALIAS]
    creation = connection.creation
    test_settings = connection.settings_dict.setdefault("TEST", {})
    original = (connection.settings_dict["NAME"], test_settings.get("NAME"))
    worker_name = creation._get_test_db_name()
    sqlite = connection.vendor == "sqlite"
    # On PostgreSQL the name pytest-django gives a run without xdist: .ci/run drops it with the run.
    template = str(shared / "template.sqlite3") if sqlite else worker_name.removesuffix(f"_{worker}")
    assert template != worker_name, "pytest-django names each xdist worker's database"
    with _locked(shared / "template.lock"):
        ready = shared / "template.ready"
        if not ready.exists():
            test_settings["NAME"] = template
            creation.create_test_db(verbosity=verbosity, autoclobber=True, keepdb=False, serialize=False)
            connection.close()  # PostgreSQL copies a template only while nobody is connected to it
            ready.write_text(template)
        template = ready.read_text()
        connection.settings_dict["NAME"], test_settings["NAME"] = original
        settings.DATABASES[ALIAS]["NAME"] = original[0]
        if sqlite:
            _sqlite_template[:] = [Path(template)]
            target = sqlite3.connect(worker_name, uri=True)
            source = sqlite3.connect(f"file:{template}?mode=ro", uri=True)
            source.backup(target)
            source.close()
            _kept_open.append(target)
        else:
            quote = connection.ops.quote_name
            with creation._nodb_cursor() as cursor:
                cursor.execute(f"DROP DATABASE IF EXISTS {quote(worker_name)}")
                cursor.execute(f"CREATE DATABASE {quote(worker_name)} TEMPLATE {quote(template)}")
