"""The one log line format, shared by Django's logging (project/settings.py) and gunicorn's (gunicorn.conf.py).

docs/deployment.md promises one JSON object per line on stderr. gunicorn configures its own loggers
in the master process before Django is loaded, and Python writes warnings straight to stderr
unless they are captured, so both need this format given to them explicitly; keeping it here
means there is one definition of a log line, not two that drift. This module imports nothing from
Django or the project, so gunicorn's configuration file can import it before anything else.

Client text (a request line, a header) only ever reaches a log as a value inside a JSON string:
the formatter escapes quotes, newlines and control characters.
"""

from __future__ import annotations

import logging
import logging.config
from typing import Any

FORMATS = ("json", "text")

# `request_id` is filled in by project.observability.RequestIdFilter during a request; records from
# outside a request (gunicorn's master, start-up warnings) carry it empty.
FORMATTERS: dict[str, dict[str, Any]] = {
    "json": {
        "()": "pythonjsonlogger.json.JsonFormatter",
        "fmt": "%(asctime)s %(levelname)s %(name)s %(message)s %(request_id)s",
        "rename_fields": {"asctime": "time", "levelname": "level", "name": "logger"},
    },
    "text": {
        "format": "%(asctime)s %(levelname)s %(name)s [%(request_id)s] %(message)s",
        "defaults": {"request_id": ""},
    },
}


class NoRequest(logging.Filter):
    """`request_id` for records written outside any request (gunicorn's master, start-up): empty."""

    def filter(self, record: logging.LogRecord) -> bool:
        if not getattr(record, "request_id", ""):
            record.request_id = ""
        return True


def gunicorn_logconfig(*, log_format: str, level: str) -> dict[str, Any]:
    """gunicorn's `logconfig_dict`: its loggers, the root logger and warnings, in the one format.

    gunicorn's access log stays off (the application writes one line per request itself, with the
    request id and the route): with a `logconfig_dict` gunicorn would otherwise log every request.
    """
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"line": FORMATTERS[log_format]},
        "handlers": {
            "stderr": {"class": "logging.StreamHandler", "formatter": "line", "stream": "ext://sys.stderr"}
        },
        "root": {"level": "WARNING", "handlers": ["stderr"]},
        "loggers": {
            "gunicorn.error": {"level": level.upper(), "handlers": [], "propagate": True},
            "gunicorn.access": {"level": "CRITICAL", "handlers": [], "propagate": False},
        },
    }


def capture_warnings() -> None:
    """Python's warnings become records of the `py.warnings` logger, formatted like every other line.

    Django (5.x) no longer does this itself: a warning would be written to stderr as plain text.
    """
    logging.captureWarnings(True)


def configure(config: dict[str, Any]) -> None:
    """settings.LOGGING_CONFIG: Django's dictConfig, and warnings captured, for every entry point
    (gunicorn, runserver, management commands)."""
    logging.config.dictConfig(config)
    capture_warnings()
