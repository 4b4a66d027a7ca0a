"""Reading settings from the environment: typed, with clear errors, and a local `.env` for development."""

from __future__ import annotations

import ipaddress
import os
import re
from pathlib import Path

from django.core.exceptions import ImproperlyConfigured

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off", ""}


def env_bool(name: str, default: bool) -> bool:
    """Read a boolean; anything but a clear yes/no is a configuration error."""
    raw = os.environ.get(name)
    if raw is None:
        return default
    value = raw.strip().lower()
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise ImproperlyConfigured(f"{name}={raw!r} is not a boolean; use 1/0, true/false, yes/no or on/off.")


def env_int(name: str, default: int) -> int:
    """Read a whole number, failing loudly on anything else."""
    raw = os.environ.get(name)
    if raw is None or raw.strip() == "":
        return default
    try:
        return int(raw)
    except ValueError as exc:
        raise ImproperlyConfigured(f"{name}={raw!r} is not a whole number.") from exc


def env_list(name: str, default: list[str]) -> list[str]:
    """Read a comma-separated list."""
    raw = os.environ.get(name)
    if raw is None:
        return default
    return [item.strip() for item in raw.split(",") if item.strip()]


_HOST_NAME = re.compile(
    r"(?=.{1,253}$)[A-Za-z0-9]([A-Za-z0-9-]{0,62}[A-Za-z0-9])?(\.[A-Za-z0-9]([A-Za-z0-9-]{0,62}[A-Za-z0-9])?)*"
)


def env_networks(name: str) -> list[str]:
    """Read a comma-separated list of CIDRs (10.0.0.0/8, 127.0.0.1) or host names, failing on junk."""
    entries = env_list(name, [])
    for entry in entries:
        try:
            ipaddress.ip_network(entry, strict=False)
        except ValueError:
            if not _HOST_NAME.fullmatch(entry):
                raise ImproperlyConfigured(
                    f"{name}: {entry!r} is neither a network (10.0.0.0/8, 127.0.0.1) nor a host name."
                ) from None
    return entries


def env_rate(name: str, default: str) -> tuple[int, int]:
    """Read a rate as "count/seconds" (e.g. 5/900: five per fifteen minutes)."""
    raw = os.environ.get(name) or default
    count, sep, seconds = raw.partition("/")
    try:
        rate = (int(count), int(seconds))
    except ValueError:
        rate = (0, 0)
    if not sep or rate[0] < 1 or rate[1] < 1:
        raise ImproperlyConfigured(f"{name}={raw!r} is not a rate; write count/seconds, e.g. 5/900.")
    return rate


def env_proxy_header(name: str) -> tuple[str, str] | None:
    """Read the header a TLS-terminating proxy sets, as "Header-Name=value" (X-Forwarded-Proto=https)."""
    raw = os.environ.get(name, "").strip()
    if not raw:
        return None
    header, sep, value = raw.partition("=")
    header, value = header.strip(), value.strip()
    if not sep or not header or not value or any(c.isspace() for c in header):
        raise ImproperlyConfigured(f"{name}={raw!r}: write Header-Name=value, e.g. X-Forwarded-Proto=https.")
    return "HTTP_" + header.upper().replace("-", "_"), value


def load_dotenv(path: Path) -> None:
    """Read KEY=VALUE lines from a local `.env` (git-ignored); the real environment always wins."""
    if not path.is_file():
        return
    for number, line in enumerate(path.read_text().splitlines(), start=1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        key, sep, value = line.partition("=")
        if not sep or not key.strip():
            raise ImproperlyConfigured(f"{path}:{number}: expected KEY=VALUE, got {line!r}.")
        os.environ.setdefault(key.strip(), value.strip().strip("'\""))
