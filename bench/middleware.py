"""Counts the SQL statements each request runs, and says how many grants the answering worker
holds, for the benchmark's report; and serves the cold scenario's "nothing held" variant."""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

from django.db import connection
from django.http import HttpRequest, HttpResponse

# This worker's list pages through the product's API (`/api/`, not the holding-nothing variant's
# `/bench/unheld/api/`): how many, and how many read their grant (3 statements or more: the first-use
# probe, the grant's query, the page; a token new here of a grant held here takes 2, a known one 2).
_api_pages = [0, 0]


def count_sql(get_response: Callable[[HttpRequest], HttpResponse]) -> Callable[[HttpRequest], HttpResponse]:
    """Adds `X-Bench-SQL: <statements>` to every response, every variant alike, and `X-Bench-Held:
    <worker pid> <grants it holds> <API list pages> <of them, reading their grant>`
    (scopes.access.cache.grants, `_api_pages`)."""
    from scopes.access import cache

    def middleware(request: HttpRequest) -> HttpResponse:
        statements = 0
        api_page = request.path_info.startswith("/api/") and request.path_info.endswith("/photos/")

        def count(execute: Callable[..., Any], sql: str, params: Any, many: bool, context: Any) -> Any:
            nonlocal statements
            statements += 1
            return execute(sql, params, many, context)

        with connection.execute_wrapper(count):
            response = get_response(request)
        response["X-Bench-SQL"] = str(statements)
        if api_page and response.status_code == 200:
            _api_pages[0] += 1
            _api_pages[1] += statements >= 3
        response["X-Bench-Held"] = f"{os.getpid()} {len(cache.grants)} {_api_pages[0]} {_api_pages[1]}"
        return response

    return middleware


# Scenario (a)'s third variant: ours, as if every request were the first of its grant in the process.
UNHELD_PREFIX = "/bench/unheld"


def forget_held(get_response: Callable[[HttpRequest], HttpResponse]) -> Callable[[HttpRequest], HttpResponse]:
    """`/bench/unheld/<product path>`: the product's path, served as if this process held no token
    context and no grant (scopes.access.cache), so the request pays a grant's first use: the first-use
    probe and the grant's query. The process's own caches are set aside for the request and put back
    after it, untouched: the "ours" variant's runs, interleaved with these, keep what they hold.
    Other paths pass untouched."""

    def middleware(request: HttpRequest) -> HttpResponse:
        if not request.path_info.startswith(UNHELD_PREFIX + "/"):
            return get_response(request)
        from scopes.access import cache

        request.path_info = request.path_info[len(UNHELD_PREFIX) :]
        request.path = request.path[len(UNHELD_PREFIX) :]
        held = cache.contexts, cache.grants
        cache.contexts, cache.grants = type(cache.contexts)(), type(cache.grants)()
        try:
            return get_response(request)
        finally:
            cache.contexts, cache.grants = held

    return middleware
