"""Comparing answers: every error body carries its own request id (project/observability.py)."""

from __future__ import annotations

import json
from typing import Any


def json_body(response: Any) -> Any:
    """The JSON body less `request_id`, which differs from one request to the next by design."""
    data = json.loads(response.content)
    if isinstance(data, dict):
        data.pop("request_id", None)
    return data
