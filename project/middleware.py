"""HTTP wiring every request and response needs: the Content-Security-Policy header, and the
refusal of control characters in anything a request sends.

Django 5.2 sets the other security headers itself (SecurityMiddleware: nosniff, Referrer-Policy,
HSTS, Cross-Origin-Opener-Policy; XFrameOptionsMiddleware: X-Frame-Options DENY).
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Callable, Iterator
from typing import Any
from urllib.parse import unquote_plus

from django.conf import settings
from django.core.exceptions import (
    BadRequest,
    RequestDataTooBig,
    SuspiciousOperation,
    TooManyFieldsSent,
    TooManyFilesSent,
)
from django.http import HttpRequest, HttpResponse, JsonResponse, QueryDict, UnreadablePostError
from django.http.multipartparser import MultiPartParserError

from accounts.untrusted import (
    CONTROL_CHARACTERS,
    UntrustedInput,
    control_character_in,
    loads_bounded,
    upload_limit,
)


class ContentSecurityPolicyMiddleware:
    """Adds `settings.CONTENT_SECURITY_POLICY` to every response that does not set its own."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        if settings.CONTENT_SECURITY_POLICY and "Content-Security-Policy" not in response:
            response["Content-Security-Policy"] = settings.CONTENT_SECURITY_POLICY
        return response


# Paths whose clients are programs: they hear JSON (the API's refusal body under API_PATHS,
# OAuth's error body elsewhere). Everything else is a page for a person.
API_PATHS = ("/api/t/", "/api/schema/")
JSON_PATHS = (
    *API_PATHS,
    "/o/token/",
    "/o/introspect/",
    "/o/revoke_token/",
    "/o/device-authorization/",
    "/o/userinfo/",
    "/o/.well-known/",
    "/.well-known/",
)
FORM = "application/x-www-form-urlencoded"
MULTIPART = "multipart/form-data"


class ControlCharacterMiddleware:
    """Refuses, with the documented 400, any request whose text holds a control character.

    The one place this rule lives (docs/security.md, "Input bounds"): NUL is
    text PostgreSQL cannot store or even compare (a DataError, so a 500 wherever such a value
    reached a query: `/o/logout/?client_id=%00`, `code=c%00` at the token endpoint, a form field),
    and no other C0 control character or DEL belongs in anything this project reads. Tab, line
    feed and carriage return stay allowed: ordinary text (a message, a multi-line title) holds
    them. Checked: the path, every query parameter (names too), cookies, header values, the user
    and password of HTTP Basic (DOT percent-decodes them), every field of a form or multipart body
    (not file contents), and every string and key of a JSON body. It runs before sessions (a
    session cookie is looked up in the database) and before any view, so nothing is written.

    A form body Django cannot read (too large, too many fields, broken multipart, not UTF-8) is
    answered here too, precisely, rather than as Django's HTML 400 or a 500 later.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        # The reasons and sentences are the API's own for the same failures (scopes.api.exceptions).
        try:
            where = self._first_control_character(request)
        except RequestDataTooBig as error:
            return self._refuse(request, 413, "too_large", str(error) or "The request body is too large.")
        except (TooManyFieldsSent, TooManyFilesSent) as error:
            return self._refuse(request, 400, "too_many_fields", str(error))
        except (SuspiciousOperation, BadRequest, MultiPartParserError, UnreadablePostError, ValueError):
            return self._refuse(request, 400, "invalid_body", "The request body cannot be read as sent.")
        if where is not None:
            return self._refuse(
                request,
                400,
                "control_character",
                f"{where} contains a control character, which is not allowed.",
            )
        return self.get_response(request)

    def _first_control_character(self, request: HttpRequest) -> str | None:
        """Where the first control character is ("the query parameter client_id"), or None."""
        if control_character_in(request.path_info):
            return "The path"
        for name, values in request.GET.lists():
            if control_character_in(name) or any(control_character_in(v) for v in values):
                return f"The query parameter {_shown(name)}"
        for name, value in request.COOKIES.items():
            if control_character_in(name) or control_character_in(value):
                return f"The cookie {_shown(name)}"
        for key, value in request.META.items():
            if key.startswith("HTTP_") and isinstance(value, str) and control_character_in(value):
                return f"The header {key[5:].replace('_', '-').title()}"
        if any(control_character_in(part) for part in _basic_credentials(request)):
            return "The Authorization header"
        return self._first_in_body(request)

    def _first_in_body(self, request: HttpRequest) -> str | None:
        content_type = request.content_type or ""
        if content_type in (FORM, MULTIPART):
            length, limit = _content_length(request), upload_limit()
            if content_type == MULTIPART and length > limit:
                # Never spooled to disk: refused as the photo upload refuses it (photos.api.views).
                raise RequestDataTooBig(
                    f"The request body is {length} bytes; an upload may be at most {limit} bytes."
                )
            for name, values in _form_fields(request).lists():
                if control_character_in(name) or any(control_character_in(str(v)) for v in values):
                    return f"The form field {_shown(name)}"
        elif content_type == "application/json" or content_type.endswith("+json"):
            try:
                document = loads_bounded(
                    request.body, max_size=settings.DATA_UPLOAD_MAX_MEMORY_SIZE or 2_621_440
                )
            except UntrustedInput:
                return None  # not JSON: the view's parser answers its own documented 400
            if any(control_character_in(text) for text in _json_texts(document)):
                return "The JSON body"
        return None

    @staticmethod
    def _refuse(request: HttpRequest, status: int, reason: str, message: str) -> HttpResponse:
        if request.path_info.startswith(API_PATHS):  # the API's refusal body (scopes.api.exceptions)
            return JsonResponse(
                {"error": "invalid_request", "reason": reason, "detail": message}, status=status
            )
        if request.path_info.startswith(JSON_PATHS):  # OAuth's error body (RFC 6749 5.2), with the reason
            body = {"error": "invalid_request", "error_description": message, "reason": reason}
            return JsonResponse(body, status=status)
        return HttpResponse(message, status=status, content_type="text/plain; charset=utf-8")


def _shown(name: str) -> str:
    """A parameter's name for the message, without the characters that made it refused."""
    return CONTROL_CHARACTERS.sub("?", name)[:64]


def _content_length(request: HttpRequest) -> int:
    try:
        return int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        return 0


def _form_fields(request: HttpRequest) -> QueryDict:
    """The form's fields as Django parses them; for PUT and PATCH too (DRF then reads the same).

    Django parses a form body only for POST. Parsing it here the same way, under POST, leaves
    `request.POST`/`FILES` set, which DRF's parsers use when the stream has been read.
    """
    if request.method == "POST":
        return request.POST
    method = request.method
    request.method = "POST"
    try:
        return request.POST
    finally:
        request.method = method


def _basic_credentials(request: HttpRequest) -> list[str]:
    """HTTP Basic's user and password as DOT reads them (base64, then percent-decoding), if any."""
    scheme, _, encoded = request.META.get("HTTP_AUTHORIZATION", "").partition(" ")
    if scheme.lower() != "basic":
        return []
    try:
        decoded = base64.b64decode(encoded.strip()).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        return []
    return [unquote_plus(part) for part in decoded.split(":", 1)]


def _json_texts(document: Any) -> Iterator[str]:
    """Every string and key in a JSON document (its depth is already bounded)."""
    stack = [document]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            yield item
        elif isinstance(item, dict):
            yield from item.keys()
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
