"""Comparing answers: every error body carries its own request id (project/observability.py)."""

from __future__ import annotations

import json
import re
from typing import Any

from scopes.constants import ScopeName


def json_body(response: Any) -> Any:
    """The JSON body less `request_id`, which differs from one request to the next by design."""
    data = json.loads(response.content)
    if isinstance(data, dict):
        data.pop("request_id", None)
    return data


def bearer_challenge(response: Any) -> str | None:
    """`WWW-Authenticate` less its `resource_metadata` parameter (RFC 9728), which every API 401 and
    403 carries (tests/api/test_resource_metadata.py checks it), and less the sentence an
    `insufficient_scope` challenge carries (`error_description`: tests/api/test_incremental_authorization.py
    checks it); None when there is no challenge."""
    headers = getattr(response, "headers", response)
    value = headers.get("WWW-Authenticate")
    if value is None:
        return None
    return re.sub(r', (resource_metadata|error_description)="[^"]*"', "", value)


# RFC 7230 token, RFC 6750 section 3 value grammars.
TOKEN = r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+"
QUOTED = r'"[\x20\x21\x23-\x5b\x5d-\x7e]*"'  # no DQUOTE, no backslash, no CTLs
CHALLENGE = re.compile(rf"^({TOKEN})(?: ((?:{TOKEN})={QUOTED}(?:, (?:{TOKEN})={QUOTED})*))?$")
PARAM = re.compile(rf'({TOKEN})="([^"]*)"')
SCOPE_TOKEN = r"[\x21\x23-\x5b\x5d-\x7e]+"
BEARER_ERRORS = {"invalid_request", "invalid_token", "insufficient_scope"}


def parse_challenge(value: str) -> tuple[str, dict[str, str]]:
    """One challenge, checked against RFC 7235 and, for Bearer, RFC 6750 section 3 and RFC 9728."""
    assert "\r" not in value and "\n" not in value
    match = CHALLENGE.match(value)
    assert match, f"not an RFC 7235 challenge: {value!r}"
    scheme, params = match.group(1), {}
    for name, raw in PARAM.findall(match.group(2) or ""):
        assert name not in params, f"{name} appears twice in {value!r}"
        params[name] = raw
    if scheme == "Bearer":
        # RFC 6750 section 3, and RFC 9728 section 5.1's pointer to the resource's metadata.
        assert set(params) <= {
            "realm",
            "scope",
            "error",
            "error_description",
            "error_uri",
            "resource_metadata",
        }, value
        if "scope" in params:
            assert re.fullmatch(rf"{SCOPE_TOKEN}(?: {SCOPE_TOKEN})*", params["scope"]), value
            assert set(params["scope"].split()) <= {str(s) for s in ScopeName}
        if "error" in params:
            assert params["error"] in BEARER_ERRORS | {"invalid_client"}, value
    return scheme, params
