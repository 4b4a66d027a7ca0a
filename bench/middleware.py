"""Counts the SQL statements each request runs, for the benchmark's report."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.db import connection
from django.http import HttpRequest, HttpResponse


def count_sql(get_response: Callable[[HttpRequest], HttpResponse]) -> Callable[[HttpRequest], HttpResponse]:
    """Adds `X-Bench-SQL: <statements>` to every response (the three variants alike)."""

    def middleware(request: HttpRequest) -> HttpResponse:
        statements = 0

        def count(execute: Callable[..., Any], sql: str, params: Any, many: bool, context: Any) -> Any:
            nonlocal statements
            statements += 1
            return execute(sql, params, many, context)

        with connection.execute_wrapper(count):
            response = get_response(request)
        response["X-Bench-SQL"] = str(statements)
        return response

    return middleware
