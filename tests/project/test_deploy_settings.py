"""Production settings come from the environment, and `check --deploy` has nothing to say about them."""

from __future__ import annotations

import os
import secrets
import subprocess
import sys
from pathlib import Path

import pytest
from django.db import connection
from django.test import Client, override_settings

from tests.servers import database_url, sqlite_file

ROOT = Path(__file__).resolve().parents[2]
# Everything the test run itself sets that a production environment would not.
INHERITED = {
    "SECRET_KEY",
    "AUDIT_SECRET_KEY",
    "DEBUG",
    "DATABASE_URL",
    "REDIS_URL",
    "HTTPS_ONLY",
    "ALLOWED_HOSTS",
    "MIGRATION_DATABASE_URL",
    "DJANGO_ALLOW_ASYNC_UNSAFE",  # the test run sets it for Playwright
    "RATE_LIMIT_LOGIN_ACCOUNT",
}


def _manage(*args: str, **env: str) -> subprocess.CompletedProcess:
    clean = {k: v for k, v in os.environ.items() if k not in INHERITED and not k.startswith("SECURE_")}
    clean.update(ENV_FILE="", PYTHONPATH=str(ROOT), **env)
    return subprocess.run(
        [sys.executable, str(ROOT / "manage.py"), *args], env=clean, capture_output=True, text=True, cwd=ROOT
    )


PRODUCTION = {
    "DEBUG": "0",
    "SECRET_KEY": secrets.token_urlsafe(50),
    "AUDIT_SECRET_KEY": secrets.token_urlsafe(32),
    "ALLOWED_HOSTS": "photos.example.com",
    "SECURE_PROXY_SSL_HEADER": "X-Forwarded-Proto=https",
}


@pytest.fixture(scope="module")
def production(django_db_setup, tmp_path_factory) -> dict[str, str]:
    """The production environment over a migrated database (the API schema check reads the registry):
    this run's test database on PostgreSQL, a copy of the migrated template on SQLite."""
    if connection.vendor == "postgresql":
        url = database_url()
    else:
        url = sqlite_file(tmp_path_factory.mktemp("deploy") / "db.sqlite3")
    return {**PRODUCTION, "DATABASE_URL": url}


def test_check_deploy_is_clean_with_production_environment(production):
    result = _manage("check", "--deploy", "--fail-level", "WARNING", **production)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "System check identified no issues" in result.stdout


def test_check_deploy_speaks_up_when_https_is_switched_off(production):
    result = _manage("check", "--deploy", "--fail-level", "WARNING", **{**production, "HTTPS_ONLY": "0"})
    assert result.returncode != 0
    for warning in [
        "security.W004",
        "security.W008",
        "security.W012",
        "security.W016",
        "oauth2_provider.W008",
    ]:
        assert warning in result.stderr + result.stdout


def test_a_malformed_proxy_header_fails_loudly():
    result = _manage("check", **{**PRODUCTION, "SECURE_PROXY_SSL_HEADER": "X-Forwarded-Proto"})
    assert result.returncode != 0
    assert "SECURE_PROXY_SSL_HEADER" in result.stderr


def test_a_malformed_rate_fails_loudly():
    result = _manage("check", **{**PRODUCTION, "RATE_LIMIT_LOGIN_ACCOUNT": "five"})
    assert result.returncode != 0
    assert "RATE_LIMIT_LOGIN_ACCOUNT='five' is not a rate" in result.stderr


@pytest.mark.django_db
@override_settings(
    SECURE_SSL_REDIRECT=True,
    SECURE_PROXY_SSL_HEADER=("HTTP_X_FORWARDED_PROTO", "https"),
    SECURE_HSTS_SECONDS=31536000,
)
def test_plain_http_is_redirected_and_the_proxys_https_is_believed():
    client = Client()
    plain = client.get("/account/login/")
    assert plain.status_code == 301 and plain["Location"] == "https://testserver/account/login/"
    proxied = client.get("/account/login/", HTTP_X_FORWARDED_PROTO="https")
    assert proxied.status_code == 200
    assert proxied["Strict-Transport-Security"].startswith("max-age=31536000")
