"""Get an access token from a running server through the real authorization code flow, from a shell.

What a browser and an app would do, over HTTP, so nobody has to write PKCE by hand to try the API:
sign in as USERNAME on /account/login/, open /o/authorize/ with a fresh PKCE pair (S256) and state,
answer the consent page as a person would (allow what it offers, ticked as it shows it, and the
albums named with --album), catch the redirect to the client's callback (nothing needs to listen
there), check the state and exchange the code at /o/token/.

It talks only to the server: no database, no settings beyond the defaults. Everything the server
enforces applies (the role cap, greyed scopes, the tenant's app policy, rate limits). Prints the
access token, or with --json the token response exactly as the server sent it.
"""

from __future__ import annotations

import base64
import getpass
import hashlib
import http.cookiejar
import json
import os
import secrets
import sys
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass, field
from html.parser import HTMLParser
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

DEFAULT_CLIENT = "demo-photos-client"
DEFAULT_REDIRECT = "http://127.0.0.1:8765/callback"
TIMEOUT = 30


def default_server() -> str:
    """Where `make run` serves: RUN_ADDRESS (README, "Configuration"), else 127.0.0.1:8000."""
    address = os.environ.get("RUN_ADDRESS", "") or "127.0.0.1:8000"
    return address if "://" in address else f"http://{address}"


@dataclass
class Form:
    """One HTML form: where it posts, its fields as a browser would send them, and its buttons."""

    action: str
    method: str
    fields: list[tuple[str, str]] = field(default_factory=list)
    checkboxes: list[tuple[str, str, bool, bool]] = field(
        default_factory=list
    )  # name, value, checked, disabled
    buttons: list[tuple[str, str]] = field(default_factory=list)


class FormParser(HTMLParser):
    """The forms of a page, and its error and notice texts (what a person reads when it refuses)."""

    def __init__(self) -> None:
        super().__init__()
        self.forms: list[Form] = []
        self.messages: list[str] = []
        self._form: Form | None = None
        self._message_depth = 0
        self._text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: v or "" for k, v in attrs}
        if tag == "form":
            self._form = Form(action=a.get("action", ""), method=a.get("method", "get").lower())
            self.forms.append(self._form)
        elif tag == "input" and self._form is not None and a.get("name"):
            kind = a.get("type", "text")
            if kind == "checkbox":
                self._form.checkboxes.append(
                    (a["name"], a.get("value", "on"), "checked" in a, "disabled" in a)
                )
            elif kind not in ("submit", "button", "file"):
                self._form.fields.append((a["name"], a.get("value", "")))
        elif tag == "button" and self._form is not None and a.get("name"):
            self._form.buttons.append((a["name"], a.get("value", "")))
        elif tag == "select" and self._form is not None and a.get("name"):
            self._form.fields.append((a["name"], ""))
        elif tag == "option" and self._form is not None and "selected" in a and self._form.fields:
            name, _ = self._form.fields[-1]
            self._form.fields[-1] = (name, a.get("value", ""))
        if self._message_depth:
            self._message_depth += 1
        elif {"error", "why"} & set(a.get("class", "").split()):
            self._message_depth = 1
            self._text = []

    def handle_endtag(self, tag: str) -> None:
        if tag == "form":
            self._form = None
        if self._message_depth:
            self._message_depth -= 1
            if not self._message_depth:
                self.messages.append(" ".join("".join(self._text).split()))

    def handle_data(self, data: str) -> None:
        if self._message_depth:
            self._text.append(data)


def parse_forms(html: str) -> FormParser:
    parser = FormParser()
    parser.feed(html)
    return parser


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    # Every redirect is looked at: the last one goes to the client's callback, where nothing listens.
    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None


@dataclass
class Answer:
    status: int
    location: str
    body: str


class Browser:
    """Cookies and CSRF like a browser's, redirects returned rather than followed."""

    def __init__(self, server: str) -> None:
        if urllib.parse.urlsplit(server).scheme not in ("http", "https"):
            raise CommandError(f"--server must be an http:// or https:// address, not {server!r}.")
        self.server = server.rstrip("/")
        self.jar = http.cookiejar.CookieJar()
        self.opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(self.jar), _NoRedirect)

    def url(self, path_or_url: str) -> str:
        return urllib.parse.urljoin(self.server + "/", path_or_url)

    def send(self, method: str, path_or_url: str, data: list[tuple[str, str]] | None = None) -> Answer:
        url = self.url(path_or_url)
        body = urllib.parse.urlencode(data).encode() if data is not None else None
        if not url.startswith(self.server + "/"):  # a redirect elsewhere is never followed
            raise CommandError(f"The server sent us to another site: {url}")
        request = urllib.request.Request(url, data=body, method=method)  # noqa: S310  (http(s), checked above)
        request.add_header("Referer", url)  # Django checks it on HTTPS posts
        try:
            with self.opener.open(request, timeout=TIMEOUT) as response:
                return Answer(response.status, response.headers.get("Location", ""), response.read().decode())
        except urllib.error.HTTPError as error:
            return Answer(
                error.code, error.headers.get("Location", ""), error.read().decode(errors="replace")
            )
        except urllib.error.URLError as error:
            raise CommandError(
                f"No server answers at {self.server}: {error.reason}. Is `make run` running?"
            ) from error

    def follow(self, path_or_url: str, stop_at: str) -> Answer:
        """GET, following redirects on the server until one leaves it for `stop_at` (the callback)."""
        answer = self.send("GET", path_or_url)
        for _ in range(10):
            if answer.status not in (301, 302, 303) or answer.location.startswith(stop_at):
                return answer
            answer = self.send("GET", answer.location)
        raise CommandError("Too many redirects.")


def pkce_pair() -> tuple[str, str]:
    """A PKCE code verifier and its S256 challenge (RFC 7636)."""
    verifier = secrets.token_urlsafe(48)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    return verifier, challenge


class Command(BaseCommand):
    help = (
        "Sign in to a running server as USERNAME, approve the consent page, and print the access token "
        "(the authorization code flow with PKCE, as an app would run it)."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("username")
        parser.add_argument(
            "--password",
            default=os.environ.get("OAUTH_TOKEN_PASSWORD"),
            help="The person's password (default: $OAUTH_TOKEN_PASSWORD, else asked for).",
        )
        parser.add_argument("--scope", required=True, help='Space-separated scopes, e.g. "photos.read".')
        parser.add_argument("--tenant", help="The organisation to pick on the consent page (its slug).")
        parser.add_argument(
            "--client", default=DEFAULT_CLIENT, help=f"The client id (default {DEFAULT_CLIENT})."
        )
        parser.add_argument(
            "--redirect-uri",
            default=DEFAULT_REDIRECT,
            help=f"A registered redirect URI (default {DEFAULT_REDIRECT}).",
        )
        parser.add_argument(
            "--server",
            default=default_server(),
            help="The server (default: RUN_ADDRESS, else 127.0.0.1:8000).",
        )
        parser.add_argument(
            "--authorization-details",
            help='RFC 9396 details, e.g. \'[{"type":"album","actions":["photos.read"]}]\'.',
        )
        parser.add_argument(
            "--album",
            action="append",
            default=[],
            help="An album id to tick on the consent page (repeatable).",
        )
        parser.add_argument("--json", action="store_true", help="Print the whole token response.")

    def handle(self, *args: Any, **options: Any) -> None:
        password = options["password"]
        if password is None:
            if not sys.stdin.isatty():
                raise CommandError("Give --password (or OAUTH_TOKEN_PASSWORD).")
            password = getpass.getpass(f"Password for {options['username']}: ")
        browser = Browser(options["server"])
        redirect_uri = options["redirect_uri"]
        verifier, challenge = pkce_pair()
        state = secrets.token_urlsafe(16)
        params = {
            "response_type": "code",
            "client_id": options["client"],
            "redirect_uri": redirect_uri,
            "scope": options["scope"],
            "state": state,
            "code_challenge": challenge,
            "code_challenge_method": "S256",
        }
        if options["tenant"]:
            params["tenant"] = options["tenant"]
        if options["authorization_details"]:
            params["authorization_details"] = options["authorization_details"]
        authorize = "/o/authorize/?" + urllib.parse.urlencode(params)
        self._sign_in(browser, options["username"], password, authorize)
        answer = browser.follow(authorize, stop_at=redirect_uri)
        if answer.status == 200:
            answer = self._consent(browser, answer.body, albums=options["album"])
        callback = self._callback(answer, redirect_uri, state)
        token = browser.send(
            "POST",
            "/o/token/",
            [
                ("grant_type", "authorization_code"),
                ("code", callback["code"]),
                ("redirect_uri", redirect_uri),
                ("client_id", options["client"]),
                ("code_verifier", verifier),
            ],
        )
        if token.status != 200:
            raise CommandError(f"The token endpoint answered {token.status}: {token.body}")
        self.stdout.write(token.body if options["json"] else json.loads(token.body)["access_token"])

    def _sign_in(self, browser: Browser, username: str, password: str, next_url: str) -> None:
        page = browser.send("GET", "/account/login/?" + urllib.parse.urlencode({"next": next_url}))
        form = next((f for f in parse_forms(page.body).forms if f.method == "post"), None)
        if page.status != 200 or form is None:
            raise CommandError(f"The sign-in page answered {page.status}.")
        fields = [(k, v) for k, v in form.fields if k not in ("username", "password")]
        answer = browser.send(
            "POST",
            form.action or "/account/login/",
            [*fields, ("username", username), ("password", password)],
        )
        if answer.status != 302:
            messages = parse_forms(answer.body).messages
            raise CommandError("Sign-in refused: " + (" ".join(messages) or f"status {answer.status}."))

    def _consent(self, browser: Browser, html: str, *, albums: list[str]) -> Answer:
        """Answer the consent page as a person who allows what it offers (and ticks `albums`)."""
        page = parse_forms(html)
        form = next((f for f in page.forms if ("decision", "allow") in f.buttons), None)
        if form is None:
            raise CommandError(
                "The consent page offers nothing to allow: "
                + (" ".join(page.messages) or "see it in a browser.")
            )
        data = list(form.fields)
        for name, value, checked, disabled in form.checkboxes:
            if disabled:
                continue
            if (name == "scope" and checked) or (name == "album" and (value in albums or checked)):
                data.append((name, value))
        missing = set(albums) - {v for n, v, _, disabled in form.checkboxes if n == "album" and not disabled}
        if missing:
            raise CommandError(f"The consent page does not offer the albums {', '.join(sorted(missing))}.")
        return browser.send("POST", form.action, [*data, ("decision", "allow")])

    def _callback(self, answer: Answer, redirect_uri: str, state: str) -> dict[str, str]:
        if answer.status not in (301, 302, 303) or not answer.location.startswith(redirect_uri):
            messages = parse_forms(answer.body).messages
            raise CommandError(
                f"The server did not send us back to the app (status {answer.status}): "
                + (" ".join(messages) or answer.body[:300])
            )
        query = dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(answer.location).query))
        if query.get("state") != state:
            raise CommandError("The state in the redirect is not ours.")
        if "code" not in query:
            raise CommandError(
                f"The server answered {query.get('error')}: {query.get('error_description', '')}"
            )
        return query
