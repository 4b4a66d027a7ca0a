"""Seed the demo world on a new database (photos.demo), or leave an existing one alone; print the logins."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from django.core.management.base import BaseCommand, CommandError, CommandParser

from photos.demo import DEMO_PASSWORD, logins, seed_world
from scopes.oauth.demo import CLI_CLIENT_ID, DEMO_CLIENT_ID

# What `make run` tells people to open: every one answers (tests/project/test_readme.py visits them).
PLACES = [
    ("/admin/", "the admin: admin (everything), acme-admin (Acme's tenant administrator)"),
    ("/account/apps/", "apps you have granted, per organisation"),
    ("/account/tokens/", "personal access tokens, for curl and scripts"),
    ("/account/org/acme/", "Acme's apps and access requests (acme-admin)"),
    ("/api/docs/", "the API in Swagger UI: Authorize runs the real consent flow (PKCE)"),
    ("/o/device/", "type the code a device (photos-cli) shows"),
    ("/.well-known/openid-configuration", "OpenID Connect discovery"),
]


class Command(BaseCommand):
    help = (
        "Make the demo tenants, people, apps, albums and photos on a database that has none; a database "
        "that has them is left exactly as it is (an administrator's changes stay). Prints the logins."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--url",
            default="http://127.0.0.1:8000",
            help="The server's address, for the URLs printed (bin/run passes RUN_ADDRESS's).",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        base = options["url"].rstrip("/")
        if urlsplit(base).scheme not in ("http", "https"):
            raise CommandError("--url must be an http:// or https:// address.")
        made = seed_world()
        out = self.stdout
        if made:
            out.write(self.style.SUCCESS("Demo data is ready."))
        else:
            out.write("Demo data was already there: left as it is (delete the database to start over).")
        out.write("")
        out.write(f"Logins (password for every demo user: {DEMO_PASSWORD}):")
        found = logins()
        width = max(len(login.username) for login in found)
        for login in found:
            out.write(f"  {login.username.ljust(width)}  {login.what}")
        out.write("")
        out.write(
            f"Demo OAuth clients: {DEMO_CLIENT_ID} (code flow with PKCE), {CLI_CLIENT_ID} (device flow)"
        )
        out.write("A token from a shell: see the README, 'Try it from a shell'.")
        out.write("")
        out.write(f"Where to go (server on {base}/):")
        width = max(len(base + path) for path, _ in PLACES)
        for path, what in PLACES:
            out.write(f"  {(base + path).ljust(width)}  {what}")
