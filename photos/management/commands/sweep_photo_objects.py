"""`manage.py sweep_photo_objects`: remove stored images that no photo row names (rolled-back uploads)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from photos.storage import sweep_unreferenced


class Command(BaseCommand):
    help = (
        "Remove image objects (bucket or media directory) that no photo references and that are older "
        "than --older-than seconds (default 3600: well past any request that may still commit its row)."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--older-than", type=int, default=3600, help="seconds (default 3600)")
        parser.add_argument(
            "--dry-run", action="store_true", help="list what would be removed, remove nothing"
        )

    def handle(self, *args: Any, **options: Any) -> None:
        if options["older_than"] < 0:
            self.stderr.write("--older-than must be 0 or more seconds.")
            raise SystemExit(2)
        result = sweep_unreferenced(
            older_than=timedelta(seconds=options["older_than"]), dry_run=options["dry_run"]
        )
        verb = "would remove" if options["dry_run"] else "removed"
        for name in result.removed:
            self.stdout.write(f"{verb} {name}")
        self.stdout.write(
            f"examined {result.examined}, {verb} {len(result.removed)}, "
            f"kept {result.kept_recent} unreferenced but recent"
        )
