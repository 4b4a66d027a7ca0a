"""Comparing answers: every error body carries its own request id (project/observability.py)."""

from __future__ import annotations

import json
import re
from typing import Any


def json_body(response: Any) -> Any:
    """The JSON body less `request_id`, which differs from one request to the next by design."""
    data = json.loads(response.content)
    if isinstance(data, dict):
        data.pop("request_id", None)
    return data


def bearer_challenge(response: Any) -> str | None:
    """`WWW-Authenticate` less its `resource_metadata` parameter (RFC 9728), which every API 401 and
    403 carries (tests/api/test_resource_metadata.py checks it); None when there is no challenge."""
    headers = getattr(response, "headers", response)
    value = headers.get("WWW-Authenticate")
    return None if value is None else re.sub(r', resource_metadata="[^"]*"', "", value)
