"""The benchmark's machinery: database roles, gunicorn and Redis servers, the revoker, the machine."""

from __future__ import annotations

import argparse
import json
import os
import platform
import secrets
import subprocess
import sys
import time
import warnings
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from bench.load import get
from bench.seed import WORK

ROOT = Path(__file__).resolve().parent.parent


RESULTS = ROOT / "bench" / "results.json"


PAGE = "?page_size=20"


VARIANTS = {
    "plain": "/bench/bare/t/{slug}/photos/",  # bare's view, on the second server (bench.settings_plain)
    "bare": "/bench/bare/t/{slug}/photos/",
    "dot": "/bench/dot/t/{slug}/photos/",
    "diy": "/bench/diy/t/{slug}/photos/",
    "ours": "/api/t/{slug}/photos/",
}
PLAIN_SETTINGS = "bench.settings_plain"


TARGET_RATIO = 0.9  # issue 10: ours >= 0.9 x bare
# Issue 26's targets, by server CPU per request (the median of the paired rounds).
TARGETS = {
    "warm": 0.95,  # ours/bare, the plain list page
    "cold": 0.9,
    "albums": 0.95,
    "revocations": 0.9,
    "dot": 1.5,  # ours/stock DOT
    "diy": 1.5,  # ours/the do-it-yourself stack
    "plain": 0.9,  # bare/plain: the project's own stack
    "oauth": 0.9,  # each OAuth endpoint, ours/stock DOT
}


QUICK = os.environ.get("BENCH_QUICK") == "1"


@dataclass
class Roles:
    superuser_url: str  # creates the roles and the database
    owner: str
    runtime: str
    owner_url: str
    runtime_url: str
    database: str


def as_role(url: str, role: str) -> str:
    """The same server and database, connecting as `role` (trust authentication on loopback)."""
    parsed = urlparse(url)
    return parsed._replace(netloc=f"{role}@{parsed.hostname or '127.0.0.1'}:{parsed.port or 5432}").geturl()


def roles_for(url: str) -> Roles:
    parsed = urlparse(url)
    name = parsed.path.lstrip("/")
    if not name.startswith("gp_bench") or not name.replace("_", "").isalnum():
        sys.exit(f"Refusing to recreate {name!r}: the benchmark's database name must start with gp_bench.")
    if parsed.hostname not in {"127.0.0.1", "localhost", "::1"}:
        sys.exit("The benchmark talks to PostgreSQL on loopback only.")
    owner, runtime = f"{name}_owner", f"{name}_app"
    return Roles(url, owner, runtime, as_role(url, owner), as_role(url, runtime), name)


def configure(args: argparse.Namespace, roles: Roles) -> dict[str, str]:
    """Sets this process's environment (the owner) and returns the server side's (the runtime role)."""
    common = {
        "DJANGO_SETTINGS_MODULE": "bench.settings",
        "REDIS_URL": args.redis_url,
        "CACHE_KEY_PREFIX": roles.database.replace("_", "-"),
        # Persistent connections, as any production deployment sets (the product's default is 0),
        # kept for longer than the whole bench: production's 600 s would replace every worker's
        # connection about ten minutes in, in the middle of a round, and the meter cannot read the
        # CPU of a backend that has gone (bench.load.CpuMeter). Two runs of 8 December 2026 charged
        # one client-credentials round 0.00 ms of database CPU that way. A reconnect every ten
        # minutes costs a request nothing measurable.
        "DB_CONN_MAX_AGE": "86400",
        "SECRET_KEY": "bench-only-" + secrets.token_hex(16),
        "AUDIT_SECRET_KEY": "bench-only-" + secrets.token_hex(16),
        "DEBUG": "0",
        "HTTPS_ONLY": "0",  # plain HTTP on loopback
        "ALLOWED_HOSTS": "127.0.0.1,testserver",
        "ENV_FILE": "",
        "LOG_LEVEL": "ERROR",
        # The client-credentials phase mints thousands of tokens for one client within the hour: the
        # cap is lifted, the counting (one Redis write per issued token) stays.
        "RATE_LIMIT_TOKEN_ISSUE_CLIENT": "1000000000/3600",
        # whitenoise's note that `collectstatic` never ran: the benchmark serves no static files.
        "PYTHONWARNINGS": "ignore:No directory at",
    }
    # This process migrates, seeds and reads plans as the owner (row-level security does not
    # apply to it); it enters the runtime role explicitly where it times what the server runs.
    os.environ.update(common, DATABASE_URL=roles.owner_url, MIGRATION_DATABASE_URL=roles.owner_url)
    warnings.filterwarnings("ignore", "No directory at")  # this process too (EXPLAIN, seeding)
    server = {
        k: v for k, v in os.environ.items() if k not in {"MIGRATION_DATABASE_URL", "DATABASE_RUNTIME_ROLE"}
    }
    return {**server, **common, "DATABASE_URL": roles.runtime_url}


def create_database(roles: Roles) -> None:
    """Roles as deployed (docs/security.md): an owner that migrates, a runtime role that owns nothing."""
    import psycopg

    admin = urlparse(roles.superuser_url)._replace(path="/postgres").geturl()
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{roles.database}" WITH (FORCE)')
        for role in (roles.owner, roles.runtime):
            conn.execute(
                f"DO $$ BEGIN CREATE ROLE {role} LOGIN; EXCEPTION WHEN duplicate_object THEN NULL; END $$"
            )
        # The owner may SET ROLE to the runtime role: the runner times the page query as it.
        conn.execute(f"GRANT {roles.runtime} TO {roles.owner}")
        conn.execute(f'CREATE DATABASE "{roles.database}" OWNER {roles.owner}')


def migrate(roles: Roles) -> None:
    from django.core.management import call_command

    call_command("migrate", database="owner", verbosity=0)
    # Then the benchmark's own permission tables (bench/diy_perms), which have no migrations and
    # point at tables the migrations made.
    call_command("migrate", database="owner", verbosity=0, run_syncdb=True)
    call_command("setup_rls", role=roles.runtime, stdout=open(os.devnull, "w"))  # noqa: SIM115


@contextmanager
def as_runtime(roles: Roles, tenant_id: int) -> Any:
    """A cursor of this (owner) connection acting as the runtime role with one tenant entered."""
    from django.db import connection, transaction
    from psycopg import sql

    from accounts.tenancy import TENANT_IDS_SETTING

    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(sql.SQL("SET LOCAL ROLE {}").format(sql.Identifier(roles.runtime)).as_string(None))
        cursor.execute("SELECT set_config(%s, %s, true)", [TENANT_IDS_SETTING, str(tenant_id)])
        yield cursor


class Gunicorn:
    """gunicorn with a fixed number of sync workers, stopped on exit whatever happens."""

    def __init__(self, env: dict[str, str], workers: int, port: int) -> None:
        self.port = port
        command = [sys.executable, "-m", "gunicorn", "project.wsgi:application"]
        command += ["--workers", str(workers), "--bind", f"127.0.0.1:{port}", "--log-level", "error"]
        self.process = subprocess.Popen(command, cwd=ROOT, env=env)  # noqa: S603 (our argv)

    def wait(self, path: str, deadline: float = 60) -> None:
        start = time.monotonic()
        while time.monotonic() - start < deadline:
            if self.process.poll() is not None:
                sys.exit("gunicorn exited at start")
            try:
                get(self.port, path)
                return
            except OSError:
                time.sleep(0.2)
        sys.exit("gunicorn did not answer in time")

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


class RedisServer:
    """A redis-server of the benchmark's own on a free loopback port: nobody else's traffic in it,
    and its CPU is part of the server side's (ours' cache today lives there)."""

    def __init__(self) -> None:
        self.port = free_port()
        command = ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--save", ""]
        command += ["--appendonly", "no", "--loglevel", "warning"]
        self.process = subprocess.Popen(command, stdout=subprocess.DEVNULL)  # noqa: S603 (our argv)
        self.url = f"redis://127.0.0.1:{self.port}/0"
        import redis

        client = redis.Redis.from_url(self.url)
        for _ in range(100):
            try:
                client.ping()
                return
            except redis.ConnectionError:
                if self.process.poll() is not None:
                    break
                time.sleep(0.05)
        self.stop()
        sys.exit("the benchmark's redis-server did not start")

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


class Revoker:
    """bench/revoker.py as a child process: `start`/`stop` around the runs that revoke."""

    def __init__(self, env: dict[str, str], tenant_id: int, ids: list[int], interval: float) -> None:
        WORK.mkdir(exist_ok=True)
        ids_file = WORK / "revocable-ids.json"
        ids_file.write_text(json.dumps(ids))
        command = [sys.executable, "-m", "bench.revoker", str(tenant_id), str(ids_file), str(interval)]
        self.process = subprocess.Popen(  # noqa: S603 (our argv)
            command, cwd=ROOT, env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
        )
        self.backend_pid = int(self._answer("ready").split()[1])
        self.done: list[dict[str, float]] = []

    def _answer(self, word: str) -> str:
        assert self.process.stdout is not None
        line = self.process.stdout.readline()
        if not line.startswith(word):
            self.stop()
            sys.exit(f"the revoker said {line!r} (expected {word})")
        return line

    def _say(self, command: str) -> None:
        assert self.process.stdin is not None
        self.process.stdin.write(command + "\n")
        self.process.stdin.flush()

    def start(self) -> None:
        self._say("start")

    def finish(self) -> dict[str, float]:
        self._say("stop")
        _, count, seconds, slowest = self._answer("stopped").split()
        result = {"revoked": int(count), "seconds": float(seconds), "slowest_ms": float(slowest)}
        self.done.append(result)
        return result

    def stop(self) -> None:
        if self.process.poll() is None:
            assert self.process.stdin is not None
            self.process.stdin.close()
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def machine() -> dict[str, Any]:
    cpu = "unknown"
    with open("/proc/cpuinfo") as info:
        for line in info:
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    with open("/proc/meminfo") as info:
        memory_kb = int(next(line for line in info if line.startswith("MemTotal")).split()[1])
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SHOW server_version")
        postgres = cursor.fetchone()[0]
    return {
        "nproc": os.cpu_count(),
        "cpu": cpu,
        "memory_gib": round(memory_kb / 1024 / 1024, 1),
        "python": platform.python_version(),
        "postgresql": postgres,
        "load_average_at_start": os.getloadavg(),
    }


def clear_cache() -> None:
    from django.core.cache import cache

    if hasattr(cache, "delete_pattern"):
        cache.delete_pattern("*")  # this prefix's keys only
    else:
        cache.clear()


def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]
