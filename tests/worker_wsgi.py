"""The project's WSGI application, naming the worker process that answered (for the two-worker test)."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable
from typing import Any

from project.wsgi import application as project_application


def application(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
    def start(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
        return start_response(status, [*headers, ("X-Worker-Pid", str(os.getpid()))], exc_info)

    return project_application(environ, start)
