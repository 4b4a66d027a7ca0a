"""Make a new ID-token signing key and delete the keys nobody can need any more (scopes.oidc.keys)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import transaction

from scopes.oidc import keys
from scopes.oidc.models import SigningKey


class Command(BaseCommand):
    help = (
        "Rotate the OpenID Connect signing key: a new key signs from now on; the old public keys stay in "
        "the JWKS until the ID tokens they signed have expired, then they are deleted. Keys live in the "
        "database (sealed with AUDIT_SECRET_KEY), or in OIDC_KEY_DIR when it is set."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--if-empty", action="store_true", help="Make a key only when there is none yet (bin/run)."
        )
        parser.add_argument(
            "--reseal",
            action="store_true",
            help="Only seal the stored keys again with the first AUDIT_SECRET_KEY (after rotating that key).",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        directory = keys.key_dir()
        now = datetime.now(UTC)
        if directory is not None:
            self._rotate_directory(directory, now, if_empty=options["if_empty"])
            return
        if keys.fixed_key_configured():
            raise CommandError(
                "The signing key comes from OIDC_RSA_PRIVATE_KEY(_FILE): rotate it where that key is kept."
            )
        with transaction.atomic():
            if options["reseal"]:
                resealed = 0
                for pk, key, _made, _retired in keys.database_keys():
                    if key is not None:  # saved again: sealed with the first key
                        SigningKey.objects.filter(pk=pk).update(
                            private_pem=key.export_to_pem(private_key=True, password=None).decode()
                        )
                        resealed += 1
                self.stdout.write(f"Resealed {resealed} signing key(s).")
                return
            if options["if_empty"] and SigningKey.objects.exists():
                return
            kid = keys.make_database_key(now)
            self.stdout.write(f"New signing key: {kid}")
            for gone in keys.delete_expired_database_keys(now):
                self.stdout.write(f"Deleted {gone}: every ID token it signed has expired.")

    def _rotate_directory(self, directory: Any, now: datetime, *, if_empty: bool) -> None:
        if if_empty and keys.stored_keys(directory):
            return
        path = keys.make_key(directory, now)
        self.stdout.write(f"New signing key: {path.name}")
        for stored in keys.stored_keys(directory):
            if not keys.still_published(stored, now):
                stored.path.unlink()
                self.stdout.write(f"Deleted {stored.path.name}: every ID token it signed has expired.")
