"""Request parsers for the API: DRF's, made to answer every malformed body with a 400."""

from __future__ import annotations

from typing import Any

from rest_framework import parsers
from rest_framework.exceptions import ParseError


class JSONParser(parsers.JSONParser):
    """DRF's JSON parser; a document nested deeper than Python's decoder can follow is a 400.

    `json.loads` raises RecursionError (not ValueError) on `[[[[...]]]]` a few thousand levels
    deep; DRF catches only ValueError, so such a body, well under the size limit, was a 500.
    """

    def parse(self, stream: Any, media_type: str | None = None, parser_context: Any = None) -> Any:
        try:
            return super().parse(stream, media_type, parser_context)
        except RecursionError as exc:
            raise ParseError("JSON parse error - the document is nested too deeply.") from exc
