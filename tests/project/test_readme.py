"""The README runs as written: `make run` on a fresh database, then every command session, in order.

`bin/run` (what `make run` runs) starts on a spare port (`RUN_ADDRESS`) with a new SQLite database
in a temporary directory, exactly as on a fresh clone; the URLs it prints must all answer. Then
every ```console block of the README runs, in order, in one bash from the repository's root, and
each output must match the README's (tests/readme.py says how outputs are compared). The steps a
reader does in a browser (the admin, /account/tokens/) are done here as that person would, over
HTTP with their password, through the same pages.

On the PostgreSQL leg only: the quick start is SQLite by definition, so the SQLite leg would run
the very same thing a second time.
"""

from __future__ import annotations

import re
import sqlite3
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from photos.demo import DEMO_PASSWORD
from scopes.management.commands.oauth_token import Browser, parse_forms
from tests import readme
from tests.servers import QuickStart

pytestmark = pytest.mark.postgresql_leg

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def quick_start() -> Iterator[QuickStart]:
    server = QuickStart().start()
    try:
        yield server
    finally:
        server.remove()


class Person:
    """A browser signed in as one of the demo's people: what a reader does in a page, over HTTP."""

    def __init__(self, server: QuickStart, username: str, *, admin: bool = False) -> None:
        self.browser = Browser(server.base)
        login = "/admin/login/" if admin else "/account/login/"
        self.post(login, {"username": username, "password": DEMO_PASSWORD}, expect=302)

    def post(self, path: str, data: dict[str, str | list[str]], *, expect: int = 200) -> str:
        """Open the page at `path`, then send its form with `data` (and its CSRF token)."""
        page = self.browser.send("GET", path)
        assert page.status == 200, (path, page.status, page.body[:500])
        token = next(
            v for form in parse_forms(page.body).forms for k, v in form.fields if k == "csrfmiddlewaretoken"
        )
        fields = [("csrfmiddlewaretoken", token)]
        for name, value in data.items():
            fields += [(name, v) for v in ([value] if isinstance(value, str) else value)]
        answer = self.browser.send("POST", path, fields)
        assert answer.status == expect, (path, answer.status, answer.body[:2000])
        return answer.body


def _ids(server: QuickStart, table: str, column: str, *values: str) -> list[str]:
    """Row ids of the README's database, looked up as a person would by reading the page's choices."""
    with sqlite3.connect(server.directory / "db.sqlite3") as db:
        found = dict(
            db.execute(
                f"SELECT {column}, id FROM {table} WHERE {column} IN ({','.join('?' * len(values))})", values
            )
        )
    return [str(found[v]) for v in values]


def _global_role(server: QuickStart, name: str) -> str:
    with sqlite3.connect(server.directory / "db.sqlite3") as db:
        return str(
            db.execute(
                "SELECT id FROM accounts_role WHERE name = ? AND tenant_id IS NULL", [name]
            ).fetchone()[0]
        )


def _add_service_account(server: QuickStart) -> dict[str, str]:
    (acme,) = _ids(server, "accounts_tenant", "slug", "acme")
    body = Person(server, "acme-admin", admin=True).post(
        "/admin/scopes/serviceaccount/add/",
        {
            "tenant": acme,
            "name": "Nightly import",
            "role": _global_role(server, "Member"),
            "scopes": _ids(server, "scopes_scope", "name", "photos.write", "albums.read"),
        },
    )
    client_id = re.search(r'<code id="client-id">([^<]+)</code>', body)
    secret = re.search(r'<code id="client-secret">([^<]+)</code>', body)
    assert client_id and secret, body[:3000]
    return {"CLIENT_ID": client_id.group(1), "CLIENT_SECRET": secret.group(1)}


def _personal_token(server: QuickStart) -> dict[str, str]:
    body = Person(server, "acme-member").post(
        "/account/tokens/",
        {"tenant": "acme", "name": "scanner", "days": "30", "scope": ["photos.read", "photos.upload"]},
    )
    value = re.search(r'<code id="new-token">([^<]+)</code>', body)
    assert value, body[:3000]
    return {"PAT": value.group(1)}


def _token_policy(server: QuickStart, mode: str) -> None:
    person = Person(server, "acme-admin", admin=True)
    (acme,) = _ids(server, "accounts_tenant", "slug", "acme")
    with sqlite3.connect(server.directory / "db.sqlite3") as db:
        row = db.execute("SELECT id FROM scopes_tokenpolicy WHERE tenant_id = ?", [acme]).fetchone()
    if row is None:
        person.post(
            "/admin/scopes/tokenpolicy/add/",
            {"tenant": acme, "personal_tokens": mode, "max_days": "365"},
            expect=302,
        )
    else:
        person.post(
            f"/admin/scopes/tokenpolicy/{row[0]}/change/",
            {"personal_tokens": mode, "max_days": "365"},
            expect=302,
        )


def _sam_made_guest(server: QuickStart) -> None:
    with sqlite3.connect(server.directory / "db.sqlite3") as db:
        (membership,) = db.execute(
            "SELECT m.id FROM accounts_membership m JOIN accounts_user u ON u.id = m.user_id "
            "JOIN accounts_tenant t ON t.id = m.tenant_id WHERE u.username = 'sam' AND t.slug = 'acme'"
        ).fetchone()
    Person(server, "acme-admin", admin=True).post(
        f"/admin/accounts/membership/{membership}/change/",
        {"role": _global_role(server, "Guest"), "_preview_confirmed": "1", "_save": "Save"},
        expect=302,
    )


# What a reader does outside the shell, keyed by the README's words for it.
PAGE_STEPS: dict[str, Callable[[QuickStart], dict[str, str] | None]] = {
    'shown once when acme-admin added the service account "Nightly import" in the admin': _add_service_account,
    "shown once on /account/tokens/ (acme-member: photos.read photos.upload, 30 days)": _personal_token,
    "after acme-admin set acme's token policy to forbidden (admin, Token policies):": lambda s: _token_policy(
        s, "forbidden"
    ),
    "after acme-admin set it back to allowed:": lambda s: _token_policy(s, "allowed"),
    "after acme-admin made sam a Guest in acme (admin, Memberships):": _sam_made_guest,
}


def test_make_run_prints_only_urls_that_answer(quick_start):
    printed = re.findall(rf"^  ({re.escape(quick_start.base)}/\S*)", quick_start.output(), re.M)
    assert len(printed) >= 5, quick_start.output()
    answers = {url: Browser(quick_start.base).follow(url, stop_at="-").status for url in printed}
    assert answers == dict.fromkeys(printed, 200)
    assert f"Starting the server on {quick_start.base}/" in quick_start.output()


def test_the_console_shows_each_request_once(quick_start):
    """One line per request in `make run`'s console (ours, with the request id), not runserver's too."""
    marker = uuid.uuid4().hex
    answer = Browser(quick_start.base)
    answer.opener.addheaders = [("X-Request-ID", marker)]
    assert answer.send("GET", f"/account/login/?once={marker}").status == 200
    deadline = time.monotonic() + 10
    while marker not in quick_start.output() and time.monotonic() < deadline:
        time.sleep(0.1)
    lines = [line for line in quick_start.output().splitlines() if marker in line]
    assert len(lines) == 1, lines


def test_every_session_in_the_readme_runs_as_written(quick_start):
    text = (
        (ROOT / "README.md")
        .read_text()
        .replace(readme.README_ADDRESS, quick_start.environment["RUN_ADDRESS"])
    )
    shell = readme.Shell(ROOT, quick_start.environment)
    used: set[str] = set()
    failures: list[str] = []
    previous = ""
    try:
        for session in readme.sessions(text):
            for step in session:
                where = f"README.md:{step.line}"
                if step.command is None:
                    if step.comment in PAGE_STEPS:
                        PAGE_STEPS[step.comment](quick_start)
                        used.add(step.comment)
                    continue
                command = step.command
                if step.placeholders:
                    if step.comment.startswith("the ") and step.comment.endswith(" above"):
                        field = step.comment[len("the ") : -len(" above")]
                        values = {step.placeholders[0]: readme.json_field(previous, field)}
                    else:
                        assert step.comment in PAGE_STEPS, f"{where}: no step for {step.comment!r}"
                        values = PAGE_STEPS[step.comment](quick_start) or {}
                        used.add(step.comment)
                    assert set(values) == set(step.placeholders), (where, values)
                    command = "export " + " ".join(f"{name}='{values[name]}'" for name in step.placeholders)
                output = shell.run(command)
                problems = readme.differences(step.expected, output)
                if problems:
                    failures.append(
                        f"{where}: $ {step.command}\n  " + "\n  ".join(problems) + f"\n--- output:\n{output}"
                    )
                previous = output
    finally:
        shell.close()
    assert not failures, "\n\n".join(failures)
    assert used == set(PAGE_STEPS), f"README steps no longer there: {set(PAGE_STEPS) - used}"
