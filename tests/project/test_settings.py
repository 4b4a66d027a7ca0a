"""The settings module reads the environment and fails loudly on what it cannot use."""

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _load_settings(env: dict[str, str]) -> subprocess.CompletedProcess:
    clean = {
        k: v for k, v in os.environ.items() if k not in {"SECRET_KEY", "DEBUG", "DATABASE_URL", "REDIS_URL"}
    }
    clean.update({"ENV_FILE": ""}, **env)
    code = (
        "import django, os; os.environ['DJANGO_SETTINGS_MODULE']='project.settings';"
        "from django.conf import settings;"
        "print(settings.DATABASES['default']['ENGINE'], settings.CACHES['default']['BACKEND'],"
        " settings.DEFAULT_AUTO_FIELD)"
    )
    return subprocess.run(
        [sys.executable, "-c", code], env={**clean, "PYTHONPATH": str(ROOT)}, capture_output=True, text=True
    )


def test_secret_key_is_required_when_debug_is_off():
    result = _load_settings({"DEBUG": "0"})
    assert result.returncode != 0
    assert "SECRET_KEY must be set" in result.stderr


def _manage_without_keys(*args: str) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k not in {"SECRET_KEY", "AUDIT_SECRET_KEY", "DEBUG"}}
    env.update({"ENV_FILE": "", "DATABASE_URL": "sqlite:///:memory:"})
    return subprocess.run(
        [sys.executable, "manage.py", *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120
    )


def test_commands_that_only_read_models_need_no_keys_and_the_rest_still_do():
    """`makemigrations --check` runs where the secrets are not (a lint step); `check`, like every
    command that could sign, seal or serve, still refuses to start without them (manage.py)."""
    assert _manage_without_keys("makemigrations", "--check", "--dry-run").returncode == 0
    refused = _manage_without_keys("check")
    assert refused.returncode != 0 and "SECRET_KEY must be set" in refused.stderr


def test_bad_boolean_fails_loudly():
    result = _load_settings({"DEBUG": "maybe", "SECRET_KEY": "x"})
    assert result.returncode != 0
    assert "DEBUG='maybe' is not a boolean" in result.stderr


def test_database_and_cache_come_from_the_environment():
    result = _load_settings(
        {
            "SECRET_KEY": "x",
            "DATABASE_URL": "postgres://postgres@127.0.0.1:5432/x",
            "REDIS_URL": "redis://127.0.0.1:6379/0",
        }
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == [
        "django.db.backends.postgresql",
        "project.cache.RedisCache",
        "django.db.models.BigAutoField",
    ]


def test_sqlite_is_the_embedded_default():
    result = _load_settings({"SECRET_KEY": "x"})
    assert result.returncode == 0, result.stderr
    assert result.stdout.split()[0] == "django.db.backends.sqlite3"
