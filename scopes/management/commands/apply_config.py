"""Apply a config document: show the plan and what it does to people's rights, then apply it when confirmed."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import transaction

from accounts import tenancy
from accounts.models import Tenant, User
from accounts.services import audit_source
from scopes.config import plan as planning
from scopes.config.document import DocumentError, parse
from scopes.config.state import current
from scopes.usage.preview import Preview

SOURCE = "manage.py apply_config"


def _count(n: int, one: str, many: str) -> str:
    return f"{n} {one if n == 1 else many}"


def rights_lines(rights: Preview) -> list[str]:
    """The what-if figures: per scope, who would lose it (or part of its reach) and who would gain it."""
    if rights.empty:
        judged = f"{_count(rights.members_judged, 'member', 'members')}, {_count(rights.tokens_judged, 'live token', 'live tokens')}"
        return [f"  nobody gains or loses anything ({judged} judged)"]
    lines = []
    for change in rights.changes:
        for verb, users, tokens in (
            ("lose", change.users_lost, change.tokens_lost),
            ("gain", change.users_gained, change.tokens_gained),
        ):
            if users or tokens:
                sample = change.samples(users)
                names = ", ".join(sample) + (", …" if len(users) > len(sample) else "")
                lines.append(
                    f"  {change.scope}: {_count(len(users), 'person', 'people')} ({names}) and "
                    f"{_count(len(tokens), 'live token', 'live tokens')} would {verb} it (or part of its reach)"
                )
    return lines


class Command(BaseCommand):
    help = (
        "Compare FILE (from export_config) with the database, show the plan (additions, changes, removals, "
        "and who gains or loses what), and apply it through the same services as the admin, as the person "
        "named by --as, audited as this command. Asks before writing unless --yes; --plan only shows."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("file", help="The document (YAML or JSON); - reads standard input.")
        parser.add_argument(
            "--as",
            dest="actor",
            required=True,
            help="Who applies it: their rights are checked, the audit names them.",
        )
        parser.add_argument("--yes", action="store_true", help="Apply without asking.")
        parser.add_argument("--plan", action="store_true", help="Show the plan and stop: nothing is written.")

    def handle(self, *args: Any, **options: Any) -> None:
        text = sys.stdin.read() if options["file"] == "-" else self._read(options["file"])
        try:
            wanted = parse(text)
        except DocumentError as error:
            raise CommandError(f"{options['file']}: {error}") from error
        actor = User.objects.filter(username=options["actor"], is_active=True).first()
        if actor is None:
            raise CommandError(f"No active user {options['actor']!r} (--as).")
        with audit_source(SOURCE), transaction.atomic():
            # Every tenant's roles and policies, and every live token for the what-if: entered here.
            tenancy.enter(tenant_ids=Tenant.objects.values_list("pk", flat=True))
            try:
                result = planning.plan(wanted, current())
            except planning.Refused as refused:
                raise CommandError(self._refusal(refused.reasons)) from refused
            if result.empty:
                self.stdout.write("No changes: the database already matches the document.")
                return
            self._show(result)
            rehearsal = planning.rehearse(result, actor)
            if rehearsal.refusals:
                raise CommandError(self._refusal(rehearsal.refusals))
            assert rehearsal.rights is not None
            self.stdout.write("What it does to people's rights now (judged by the API's own decision):")
            for line in rights_lines(rehearsal.rights):
                self.stdout.write(line)
            if options["plan"] or not self._confirmed(options["yes"]):
                self.stdout.write("Nothing was changed.")
                return
            try:
                messages = planning.execute(result, actor)
            except planning.Refused as refused:
                raise CommandError(self._refusal(refused.reasons)) from refused
        for message in messages:
            self.stdout.write(message)
        counts = result.counts()
        self.stdout.write(
            self.style.SUCCESS(
                f"Applied: {counts['add']} added, {counts['change']} changed, {counts['remove']} removed."
            )
        )

    def _read(self, path: str) -> str:
        try:
            return Path(path).read_text()
        except OSError as error:
            raise CommandError(f"{path}: {error.strerror}") from error

    def _show(self, result: planning.Plan) -> None:
        counts = result.counts()
        self.stdout.write(
            f"Plan: {counts['add']} to add, {counts['change']} to change, {counts['remove']} to remove."
        )
        for change in result.changes:
            self.stdout.write(f"  {change.line}")
        for note in result.notes:
            self.stdout.write(f"  ({note})")

    def _refusal(self, reasons: list[str]) -> str:
        return "The document was refused; nothing was changed:\n  " + "\n  ".join(reasons)

    def _confirmed(self, yes: bool) -> bool:
        if yes:
            return True
        if not sys.stdin.isatty():
            self.stdout.write("Not applied: run it again with --yes, or in a terminal to be asked.")
            return False
        return input("Apply these changes? Type yes to apply: ").strip().lower() == "yes"
