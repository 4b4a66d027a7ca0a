"""Request parsers for the API: DRF's, made to answer every malformed body with a 400."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from rest_framework import exceptions, parsers, status
from rest_framework.exceptions import ParseError

from accounts.untrusted import UntrustedInput, loads_bounded


class RequestTooLarge(exceptions.APIException):
    """The body is larger than the endpoint will ever accept: refused before it is read.

    Here, not in `api.exceptions`, because DRF imports this module while `rest_framework.views`
    (which `api.exceptions` imports) reads its parser settings: the other way round is a cycle.
    """

    status_code = status.HTTP_413_REQUEST_ENTITY_TOO_LARGE
    default_code = "too_large"
    default_detail = "The request body is too large."


class JSONParser(parsers.JSONParser):
    """DRF's JSON parser through `accounts.untrusted.loads_bounded`: bounded size and depth, never a 500.

    `json.loads` raises RecursionError (not ValueError) on `[[[[...]]]]` a few thousand levels
    deep, and DRF catches only ValueError; DRF also reads a JSON body whatever its length
    (Django's DATA_UPLOAD_MAX_MEMORY_SIZE counts only form bodies). Here a body longer than that
    setting is a 413 and anything else the decoder cannot use a 400, both before any view runs.
    """

    def parse(self, stream: Any, media_type: str | None = None, parser_context: Any = None) -> Any:
        limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE or 2_621_440
        raw = stream.read(limit + 1) if stream is not None else b""
        if len(raw) > limit:
            raise RequestTooLarge(f"A JSON body may be at most {limit} bytes.")
        try:
            return loads_bounded(raw, max_size=limit)
        except UntrustedInput as error:
            raise ParseError(f"JSON parse error - {error}") from error
