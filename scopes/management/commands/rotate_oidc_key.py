"""Make a new ID-token signing key in OIDC_KEY_DIR and delete the keys nobody can need any more."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from scopes.oidc import keys


class Command(BaseCommand):
    help = (
        "Rotate the OpenID Connect signing key: a new key signs from now on; the old public keys stay in "
        "the JWKS until the ID tokens they signed have expired, then they are deleted."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--if-empty", action="store_true", help="Make a key only when the directory has none (bin/run)."
        )

    def handle(self, *args: Any, **options: Any) -> None:
        directory = keys.key_dir()
        if directory is None:
            raise CommandError("Set OIDC_KEY_DIR to the directory that holds the signing keys.")
        now = datetime.now(UTC)
        if options["if_empty"] and keys.stored_keys(directory):
            return
        path = keys.make_key(directory, now)
        self.stdout.write(f"New signing key: {path.name}")
        for stored in keys.stored_keys(directory):
            if not keys.still_published(stored, now):
                stored.path.unlink()
                self.stdout.write(f"Deleted {stored.path.name}: every ID token it signed has expired.")
