"""The project's WSGI application, loaded after a warning and followed by another (for the JSON-log test).

The first warning is raised before Django is set up (what a library warns at import), the second
after (what a middleware warns at start-up); both carry text a log line must keep inside a string.
"""

from __future__ import annotations

import os
import warnings

ODD = os.environ.get("GP_TEST_WARNING_TEXT", "")

warnings.warn(f"before setup: {ODD}", UserWarning, stacklevel=1)

from project.wsgi import application  # noqa: E402

warnings.warn(f"after setup: {ODD}", UserWarning, stacklevel=1)

__all__ = ["application"]
