#!/usr/bin/env python
"""Django's command-line entry point."""

import os
import sys

# Commands that only read the models and the migration files: they sign nothing, seal nothing and
# serve nothing, so they run on a machine without the secrets (a CI lint step, a developer's
# `makemigrations --check`). Every other command still needs SECRET_KEY and AUDIT_SECRET_KEY
# outside DEBUG (project/settings.py).
_KEYLESS_COMMANDS = {"makemigrations", "showmigrations", "sqlmigrate"}


def main() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "project.settings")
    if len(sys.argv) > 1 and sys.argv[1] in _KEYLESS_COMMANDS:
        os.environ.setdefault("SECRET_KEY", "offline-command-not-a-secret")
        os.environ.setdefault("AUDIT_SECRET_KEY", "offline-command-not-a-secret-0123456789abcdef")
    from django.core.management import execute_from_command_line

    execute_from_command_line(sys.argv)


if __name__ == "__main__":
    main()
