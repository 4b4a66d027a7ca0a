"""Reading what a request sends: JSON with bounds, and the control characters no text may carry.

Two rules of docs/security.md, "Input bounds":

- Untrusted JSON is parsed only through `loads_bounded`: a size limit, a nesting limit checked
  before the decoder runs (Python's decoder recurses, so `[[[[...]]]]` a few thousand levels deep
  raised RecursionError, which callers catching ValueError turned into a 500), and every failure
  of the decoder, whatever its type, is one `UntrustedInput` error the caller answers with its
  documented 4xx.
- `control_character_in` is the one definition of the characters refused in text from a request
  (`project.middleware.ControlCharacterMiddleware` applies it to every request).
"""

from __future__ import annotations

import json
import re
from typing import Any

from django.conf import settings

# Deep enough for any document this project reads (the API's bodies are flat objects; an
# authorization_details entry is three levels), shallow enough for any decoder.
MAX_DEPTH = 32
# Strings (with their escapes) are skipped when counting brackets: `"[[["` nests nothing.
_STRING = re.compile(r'"[^"\\]*(?:\\.[^"\\]*)*"', re.DOTALL)
_BRACKET = re.compile(r"[\[\]{}]")
# NUL (PostgreSQL cannot store it in text: a DataError, so a 500) and every other C0 control
# character and DEL, except the three that ordinary text holds: tab, line feed, carriage return.
CONTROL_CHARACTERS = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


class UntrustedInput(ValueError):
    """Input that cannot be used as sent; the message says why, for the client."""


def _refuse_constant(name: str) -> Any:
    raise UntrustedInput(f"{name} is not a JSON number.")


def nesting_depth(text: str, *, limit: int) -> int:
    """How deeply `text`'s arrays and objects nest, stopping (UntrustedInput) past `limit`."""
    depth = deepest = 0
    for match in _BRACKET.finditer(_STRING.sub("", text)):
        if match.group() in "[{":
            depth += 1
            if depth > limit:
                raise UntrustedInput(f"The JSON document is nested deeper than {limit} levels.")
            deepest = max(deepest, depth)
        else:
            depth -= 1
    return deepest


def loads_bounded(raw: str | bytes, *, max_size: int, max_depth: int = MAX_DEPTH) -> Any:
    """`raw` (UTF-8 when bytes) as JSON, or `UntrustedInput` saying why it cannot be used.

    `max_size` counts characters of a str and bytes of bytes. NaN and Infinity, which Python
    accepts and JSON does not, are refused too (they would reach the database as invalid JSON).
    """
    if len(raw) > max_size:
        raise UntrustedInput(f"The JSON document is longer than {max_size}.")
    try:
        text = raw.decode("utf-8") if isinstance(raw, bytes) else raw
        nesting_depth(text, limit=max_depth)
        return json.loads(text, parse_constant=_refuse_constant)
    except UntrustedInput:
        raise
    except (ValueError, RecursionError, MemoryError, UnicodeError) as error:
        # JSONDecodeError and UnicodeDecodeError are ValueErrors; RecursionError and MemoryError
        # are what a document the checks above let through could still raise in the decoder.
        raise UntrustedInput("The document is not valid JSON.") from error


def control_character_in(text: str) -> bool:
    """Whether `text` holds a character no text from a request may carry (see CONTROL_CHARACTERS)."""
    return CONTROL_CHARACTERS.search(text) is not None


def upload_limit() -> int:
    """The largest request body any endpoint takes: the largest photo plus the other fields.

    `project.middleware.ControlCharacterMiddleware` reads no multipart body past it, and the
    photo upload refuses one before reading it (`photos.api.views`).
    """
    return int(settings.PHOTO_MAX_BYTES) + (settings.DATA_UPLOAD_MAX_MEMORY_SIZE or 1024 * 1024)
