"""Real servers the tests start themselves on spare loopback ports, the one process harness of the
suite (start, wait until it answers, stop): an S3-compatible store (moto in server mode, a separate
process speaking HTTP, not an in-process mock) and helpers to reach it; a throwaway Redis; a
PostgreSQL cluster of a test's own (to stop and start under requests); the project under gunicorn
with its production configuration (gunicorn.conf.py), its output kept for inspection; and gunicorn
workers on the test database, one per server, so that which process answers is certain."""

from __future__ import annotations

import glob
import http.client
import os
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import IO, Any
from urllib.parse import quote

import boto3
import pytest
import redis
from botocore.config import Config
from django.db import connection

ACCESS_KEY = "test-access-key"
SECRET_KEY = "test-secret-key"
REGION = "us-east-1"
# How long the Redis cache waits before probing a Redis that failed (project/cache.py), in tests.
RETRY_SECONDS = 0.5


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def stop_process(process: subprocess.Popen[bytes], timeout: float = 10) -> None:
    """Ask a process to stop; kill it if it has not within `timeout` seconds."""
    process.terminate()
    try:
        process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


class S3Server:
    """`python -m moto.server` on a loopback port; stop() and start() again on the same port."""

    def __init__(self, port: int | None = None) -> None:
        self.port = port or free_port()
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> S3Server:
        self.process = subprocess.Popen(
            [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(self.port)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 30
        while True:
            try:
                self.client().list_buckets()
                return self
            except Exception:
                if time.monotonic() > deadline or self.process.poll() is not None:
                    self.stop()
                    raise RuntimeError("the S3 server (moto) did not start") from None
                time.sleep(0.1)

    def stop(self) -> None:
        if self.process is not None:
            stop_process(self.process)
            self.process = None

    def client(self) -> Any:
        return boto3.client(
            "s3",
            endpoint_url=self.endpoint,
            region_name=REGION,
            aws_access_key_id=ACCESS_KEY,
            aws_secret_access_key=SECRET_KEY,
            config=Config(connect_timeout=1, read_timeout=5, retries={"max_attempts": 1}),
        )

    def new_bucket(self) -> str:
        name = f"gp-test-{uuid.uuid4().hex[:12]}"
        self.client().create_bucket(Bucket=name)
        return name

    def keys(self, bucket: str) -> list[str]:
        answer = self.client().list_objects_v2(Bucket=bucket)
        return sorted(item["Key"] for item in answer.get("Contents", ()))

    def storages_setting(self, bucket: str, staticfiles: dict[str, Any]) -> dict[str, Any]:
        """settings.STORAGES as project/settings.py builds it with AWS_STORAGE_BUCKET_NAME set."""
        return {
            "default": {
                "BACKEND": "storages.backends.s3.S3Storage",
                "OPTIONS": {
                    "bucket_name": bucket,
                    "endpoint_url": self.endpoint,
                    "region_name": REGION,
                    "access_key": ACCESS_KEY,
                    "secret_key": SECRET_KEY,
                    "default_acl": None,
                    "querystring_auth": True,
                    "file_overwrite": True,
                    "client_config": Config(connect_timeout=1, read_timeout=5, retries={"max_attempts": 1}),
                },
            },
            "staticfiles": staticfiles,
        }

    def environment(self, bucket: str) -> dict[str, str]:
        """The environment a server process needs to use this store (see project/settings.py)."""
        return {
            "AWS_STORAGE_BUCKET_NAME": bucket,
            "AWS_S3_ENDPOINT_URL": self.endpoint,
            "AWS_S3_REGION_NAME": REGION,
            "AWS_ACCESS_KEY_ID": ACCESS_KEY,
            "AWS_SECRET_ACCESS_KEY": SECRET_KEY,
        }


ROOT = Path(__file__).resolve().parents[1]


def postgres_bin(name: str) -> str | None:
    """A PostgreSQL server program (initdb, pg_ctl) from Debian's packages, or None."""
    found = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"))
    return found[-1] if found else shutil.which(name)


class PostgresServer:
    """A throwaway PostgreSQL cluster (initdb, pg_ctl) on a loopback port, trusted local logins.

    PostgreSQL refuses to run as root: as root the cluster belongs to the `postgres` account.
    `stop()` is `pg_ctl stop -m fast` (sessions are terminated, as in a restart); `start()` again
    on the same port and data.
    """

    def __init__(self) -> None:
        self.port = free_port()
        self.directory = Path(tempfile.mkdtemp(prefix="gp-pg-"))
        self.data = self.directory / "data"
        self._as: list[str] = []
        if os.geteuid() == 0:
            self._as = ["runuser", "-u", "postgres", "--"]
            shutil.chown(self.directory, "postgres")

    @staticmethod
    def available() -> bool:
        return bool(postgres_bin("initdb") and postgres_bin("pg_ctl"))

    @property
    def url(self) -> str:
        return f"postgres://postgres@127.0.0.1:{self.port}/postgres"

    def _run(self, *command: str) -> None:
        subprocess.run([*self._as, *command], check=True, capture_output=True, timeout=120)

    def init(self) -> PostgresServer:
        initdb = postgres_bin("initdb")
        assert initdb
        self._run(initdb, "-D", str(self.data), "-U", "postgres", "--auth=trust", "-E", "UTF8", "--no-sync")
        return self

    def start(self) -> PostgresServer:
        pg_ctl = postgres_bin("pg_ctl")
        assert pg_ctl
        options = f"-p {self.port} -k {self.directory} -c listen_addresses=127.0.0.1 -c fsync=off"
        self._run(
            pg_ctl, "-D", str(self.data), "-o", options, "-l", str(self.directory / "log"), "-w", "start"
        )
        return self

    def stop(self) -> None:
        pg_ctl = postgres_bin("pg_ctl")
        if pg_ctl and (self.data / "postmaster.pid").exists():
            self._run(pg_ctl, "-D", str(self.data), "-m", "fast", "-w", "stop")

    def remove(self) -> None:
        self.stop()
        shutil.rmtree(self.directory, ignore_errors=True)


class GunicornServer:
    """The project under gunicorn as deployed: `gunicorn project.wsgi:application`, reading the
    project's gunicorn.conf.py, with the given environment. stdout and stderr go to files, so a
    test can read every line the server wrote."""

    def __init__(
        self, env: dict[str, str], *, workers: int = 2, app: str = "project.wsgi:application"
    ) -> None:
        self.port = free_port()
        self.directory = Path(tempfile.mkdtemp(prefix="gp-gunicorn-"))
        self.env = {
            **{k: v for k, v in os.environ.items() if k not in ("REDIS_URL", "CACHE_KEY_PREFIX")},
            "SECRET_KEY": "gunicorn-test-secret-key",
            "DEBUG": "0",
            "HTTPS_ONLY": "0",
            "ALLOWED_HOSTS": "127.0.0.1",
            "ENV_FILE": "",
            "DJANGO_SETTINGS_MODULE": "project.settings",
            "GUNICORN_BIND": f"127.0.0.1:{self.port}",
            "WEB_CONCURRENCY": str(workers),
            **env,
        }
        self.env.pop("PROMETHEUS_MULTIPROC_DIR", None)  # a directory of this server's own
        self.app = app
        self.process: subprocess.Popen[bytes] | None = None
        self._out: IO[bytes] | None = None
        self._err: IO[bytes] | None = None

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, wait_path: str = "/healthz") -> GunicornServer:
        self._out = (self.directory / "stdout").open("wb")
        self._err = (self.directory / "stderr").open("wb")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "gunicorn", self.app],
            cwd=ROOT,
            env=self.env,
            stdout=self._out,
            stderr=self._err,
        )
        deadline = time.monotonic() + 60
        while True:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=1) as sock:
                    sock.sendall(f"GET {wait_path} HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n".encode())
                    if sock.recv(64).startswith(b"HTTP/1."):
                        return self
            except OSError:
                pass
            if time.monotonic() > deadline or self.process.poll() is not None:
                self.stop()
                raise RuntimeError(f"gunicorn did not start: {self.output()}")
            time.sleep(0.2)

    def stop(self) -> None:
        if self.process is not None:
            stop_process(self.process, timeout=15)
            self.process = None
        for stream in (self._out, self._err):
            if stream is not None:
                stream.close()

    def output(self) -> str:
        """Everything the server wrote so far, stdout then stderr."""
        return "".join(
            (self.directory / name).read_text(errors="replace")
            for name in ("stdout", "stderr")
            if (self.directory / name).exists()
        )

    def remove(self) -> None:
        self.stop()
        shutil.rmtree(self.directory, ignore_errors=True)


class RedisServer:
    """A throwaway redis-server on a loopback port: no persistence, so a restart starts empty."""

    def __init__(self) -> None:
        self.port = free_port()
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        command = ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1"]
        self.process = subprocess.Popen(
            [*command, "--save", "", "--appendonly", "no", "--daemonize", "no"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 10
        while True:
            try:
                if self.client().ping():
                    return
            except redis.ConnectionError:
                if time.monotonic() > deadline or self.process.poll() is not None:
                    raise
                time.sleep(0.05)

    def kill(self) -> None:
        if self.process is not None:
            self.process.kill()
            self.process.wait()
            self.process = None

    def client(self) -> redis.Redis:
        return redis.Redis(port=self.port, socket_timeout=1)


def redis_caches(port: int, timeout: float = 0.5, retry_seconds: float = RETRY_SECONDS) -> dict:
    """The settings' CACHES with REDIS_URL set, pointed at `port` (see project/settings.py)."""
    shared = {
        "BACKEND": "project.cache.RedisCache",
        "LOCATION": f"redis://127.0.0.1:{port}/0",
        "KEY_PREFIX": "gp-outage",
        "OPTIONS": {
            "SOCKET_CONNECT_TIMEOUT": timeout,
            "SOCKET_TIMEOUT": timeout,
            "RETRY_SECONDS": retry_seconds,
        },
    }
    return {"default": shared, "ratelimit": {**shared, "OPTIONS": {**shared["OPTIONS"], "OUTAGE": "local"}}}


def database_url() -> str:
    """The test database as a URL another process can connect to (PostgreSQL)."""
    db = connection.settings_dict
    auth = quote(db["USER"] or "", safe="")
    if db["PASSWORD"]:
        auth += ":" + quote(db["PASSWORD"], safe="")
    return f"postgres://{auth}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}"


def sqlite_file(path: Path) -> str:
    """A migrated SQLite database at `path` that other processes share, as `manage.py migrate`
    leaves one: a copy of this run's template when there is one (tests/databases.py), else migrated
    here. Its URL."""
    from tests.databases import sqlite_template

    url = f"sqlite:///{path}"
    template = sqlite_template()
    if template is not None and template.exists():
        source, target = sqlite3.connect(f"file:{template}?mode=ro", uri=True), sqlite3.connect(path)
        try:
            source.backup(target)
        finally:
            source.close()
            target.close()
    else:
        command = [sys.executable, "manage.py", "migrate", "-v0"]
        subprocess.run(command, cwd=ROOT, env=process_environment(url), check=True, timeout=300)
    return url


def process_environment(database_url: str) -> dict[str, str]:
    """A server's or a writer's environment: this database, local-memory caches only (no Redis)."""
    env = {k: v for k, v in os.environ.items() if k not in ("REDIS_URL", "CACHE_KEY_PREFIX")}
    return {
        **env,
        "DATABASE_URL": database_url,
        "SECRET_KEY": "two-processes-test",
        "DEBUG": "0",
        "HTTPS_ONLY": "0",
        "ALLOWED_HOSTS": "127.0.0.1",
        "ENV_FILE": "",
        "DJANGO_SETTINGS_MODULE": "project.settings",
    }


class Workers:
    """A gunicorn with two sync workers, each with its own per-process cache.

    gunicorn reads the project's gunicorn.conf.py (its working directory is the project's); the
    command line here only overrides the workers, the address and the log level.
    """

    def __init__(self, database_url: str, workers: int = 2, extra_env: dict[str, str] | None = None) -> None:
        self.port = free_port()
        command = [sys.executable, "-m", "gunicorn", "tests.worker_wsgi:application"]
        command += ["--workers", str(workers), "--bind", f"127.0.0.1:{self.port}", "--log-level", "warning"]
        env = {**process_environment(database_url), **(extra_env or {})}
        self.process = subprocess.Popen(command, cwd=ROOT, env=env)

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def get(self, path: str, token: str) -> tuple[int, str]:
        """One request on a new connection (sync workers close it anyway): status and worker pid."""
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
        try:
            conn.request("GET", path, headers={"Authorization": f"Bearer {token}"})
            response = conn.getresponse()
            response.read()
            return response.status, response.getheader("X-Worker-Pid", "")
        finally:
            conn.close()

    def wait_until_up(self, token: str, deadline: float = 30.0) -> None:
        start = time.monotonic()
        while time.monotonic() - start < deadline:
            if self.process.poll() is not None:
                pytest.fail("gunicorn exited at start")
            try:
                self.get("/api/t/acme/me/", token)
                return
            except OSError:
                time.sleep(0.1)
        pytest.fail("gunicorn did not answer in time")

    def answers_from_both(
        self, path: str, token: str, *, each: int = 3, limit: int = 200
    ) -> dict[str, list[int]]:
        """Ask until both workers answered `each` times; statuses by worker pid."""
        seen: dict[str, list[int]] = {}
        for _ in range(limit):
            status, pid = self.get(path, token)
            seen.setdefault(pid, []).append(status)
            if len(seen) == 2 and all(len(statuses) >= each for statuses in seen.values()):
                return seen
        pytest.fail(f"only one worker answered: {seen}")

    def stop(self) -> None:
        stop_process(self.process)


class TwoServers:
    """Two servers of one worker each: which process answers is then certain, not up to the kernel.

    `extra_env` gives both the same shared parts (a Redis, a bucket): two app servers, one system.
    """

    def __init__(self, database_url: str, extra_env: dict[str, str] | None = None) -> None:
        self.servers = [
            Workers(database_url, workers=1, extra_env=extra_env),
            Workers(database_url, workers=1, extra_env=extra_env),
        ]

    def wait_until_up(self, token: str) -> None:
        for server in self.servers:
            server.wait_until_up(token)

    def answers_from_both(self, path: str, token: str, *, each: int = 3) -> dict[str, list[int]]:
        return {
            str(server.port): [server.get(path, token)[0] for _ in range(each)] for server in self.servers
        }

    def stop(self) -> None:
        for server in self.servers:
            server.stop()


class QuickStart:
    """`bin/run` (what `make run` runs) as a newcomer runs it, on a fresh SQLite database of its own.

    Everything it writes goes to a temporary directory: the database (with its signing key), the
    images, the settings file it copies from .env.example (ENV_FILE). `RUN_ADDRESS` puts it on a
    spare port. `environment` is what a shell next to it needs for `manage.py` to use the same
    database (the README's commands run with it).
    """

    def __init__(self) -> None:
        self.port = free_port()
        self.directory = Path(tempfile.mkdtemp(prefix="gp-quickstart-"))
        self.environment = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "HOME": os.environ.get("HOME", str(self.directory)),
            "LANG": "C.UTF-8",
            "ENV_FILE": str(self.directory / ".env"),
            "DATABASE_URL": f"sqlite:///{self.directory / 'db.sqlite3'}",
            "MEDIA_ROOT": str(self.directory / "media"),
            "RUN_ADDRESS": f"127.0.0.1:{self.port}",
        }
        self.process: subprocess.Popen[bytes] | None = None
        self.started_in: float | None = None

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 240) -> QuickStart:
        began = time.monotonic()
        with (self.directory / "run.log").open("wb") as log:
            self.process = subprocess.Popen(
                ["bin/run"],
                cwd=ROOT,
                env=self.environment,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        while True:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=1) as sock:
                    sock.sendall(b"GET /healthz HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n")
                    if sock.recv(64).startswith(b"HTTP/1."):
                        self.started_in = time.monotonic() - began
                        return self
            except OSError:
                pass
            if time.monotonic() - began > timeout or self.process.poll() is not None:
                self.stop()
                raise RuntimeError(f"bin/run did not start a server: {self.output()}")
            time.sleep(0.25)

    def output(self) -> str:
        path = self.directory / "run.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def stop(self) -> None:
        """Stop runserver and its autoreloader child (they share the session bin/run started)."""
        if self.process is None:
            return
        try:
            os.killpg(self.process.pid, signal.SIGTERM)
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait()
        except ProcessLookupError:
            pass
        self.process = None

    def remove(self) -> None:
        self.stop()
        shutil.rmtree(self.directory, ignore_errors=True)
