"""`make soak`: about two minutes of mixed traffic from two tenants against gunicorn, then a verdict.

1. Drops and creates a fresh PostgreSQL database (SOAK_DATABASE_URL), migrates it, seeds two
   tenants with a user per role and a public client (soak/seed.py), clears this run's cache keys.
2. Starts gunicorn (2 workers) on a free loopback port, with REDIS_URL set and persistent DB
   connections, DEBUG off.
3. Runs one client thread per user (5 per tenant). Each signs in, consents through the real
   authorization-code + PKCE flow, then mixes for SOAK_SECONDS: lists, reads, image bytes,
   uploads, title changes, deletions, albums, other tenants' ids, refresh rotation, refresh-token
   reuse, RFC 7009 revocation, consent narrowing and app revocation on the connected-apps page.
4. Sweeps: every acknowledged, undeleted upload is listed and comes back byte for byte; nothing
   else is listed; every token whose revocation was answered is still refused.
5. Stops gunicorn, drops the database, prints requests by status and checks passed/failed, and
   exits 1 on any violation: a 5xx, another tenant's data in an answer, an acknowledged upload
   missing, a 2xx for a revoked token, or an unexpected decision.

Loopback only, bounded in time (and operations per client), stops by itself. Not run in CI.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from urllib.parse import urlparse

import psycopg
import requests

from soak.actor import Actor
from soak.ledger import DELETING, Ledger
from soak.storage import ObjectStore

ROOT = Path(__file__).resolve().parent.parent
SECONDS = float(os.environ.get("SOAK_SECONDS", "100"))
DATABASE_URL = os.environ.get("SOAK_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/gp_soak")
REDIS_URL = os.environ.get("SOAK_REDIS_URL", "redis://127.0.0.1:6379/0")
# `local` (MEDIA_ROOT on disk) or `s3` (a bucket on an S3-compatible server the soak starts: moto).
STORAGE = os.environ.get("SOAK_STORAGE", "local")
WORKERS = 2
# As deployed (docs/security.md): the owner migrates, the application runs as a role that owns no
# table and cannot bypass row-level security, so the soak exercises PostgreSQL's tenancy wall too.
OWNER_ROLE = "gp_soak_owner"
RUNTIME_ROLE = "gp_soak_app"


def as_role(url: str, role: str) -> str:
    """The same server and database, connecting as `role` (trust authentication on loopback)."""
    parsed = urlparse(url)
    host = parsed.hostname or "127.0.0.1"
    return parsed._replace(netloc=f"{role}@{host}:{parsed.port or 5432}").geturl()


def recreate_database(url: str, *, drop_only: bool = False) -> None:
    """DROP and CREATE the soak's own database through the server's maintenance database."""
    parsed = urlparse(url)
    name = parsed.path.lstrip("/")
    if not name.replace("_", "").isalnum():
        raise SystemExit(f"refusing odd database name {name!r}")
    maintenance = parsed._replace(path="/postgres").geturl()
    with psycopg.connect(maintenance, autocommit=True) as connection:
        connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        if not drop_only:
            for role, options in ((OWNER_ROLE, "LOGIN"), (RUNTIME_ROLE, "LOGIN")):
                connection.execute(
                    f"DO $$ BEGIN CREATE ROLE {role} {options}; EXCEPTION WHEN duplicate_object THEN NULL; END $$"
                )
            connection.execute(f"GRANT {RUNTIME_ROLE} TO {OWNER_ROLE}")
            connection.execute(f'CREATE DATABASE "{name}" OWNER {OWNER_ROLE}')


def free_loopback_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def django(env: dict[str, str], *args: str) -> str:
    done = subprocess.run(  # noqa: S603 - our own interpreter and arguments
        [sys.executable, *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=300
    )
    if done.returncode:
        raise SystemExit(f"{' '.join(args)} failed:\n{done.stdout}\n{done.stderr}")
    return done.stdout


def wait_until_up(base: str, server: subprocess.Popen, seconds: float = 30) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise SystemExit("gunicorn exited during start-up")
        try:
            if requests.get(f"{base}/.well-known/oauth-authorization-server", timeout=2).status_code == 200:
                return
        except requests.RequestException:
            pass
        time.sleep(0.3)
    raise SystemExit("gunicorn did not answer in time")


def sweep(actors: list[Actor], ledger: Ledger) -> None:
    """After the load: exactly the acknowledged, undeleted uploads are there, byte for byte."""
    for owner in (a for a in actors if a.role == "Owner"):
        if not owner.authorize():
            continue
        listed: set[int] = set()
        path = "photos/?page_size=200"
        while path:
            page = owner.api("GET", path)
            if not ledger.check("final_listing", page.status_code == 200, f"{page.status_code}"):
                break
            body = page.json()
            listed |= {row["id"] for row in body["results"]}
            path = body["next"].split(f"/api/t/{owner.tenant}/", 1)[1] if body["next"] else ""
        live = {u.photo_id: u for u in ledger.live(tenant=owner.tenant)}
        with ledger.lock:  # a deletion cut short by a client error may or may not have happened
            unsure = {u.photo_id for u in ledger.uploads.values() if u.state == DELETING}
        ledger.check(
            "final_listing",
            set(live) <= listed and not (listed - set(live) - unsure),
            f"{owner.tenant}: missing {sorted(set(live) - listed)[:10]}, unexpected {sorted(listed - set(live))[:10]}",
        )
        for upload in live.values():
            image = owner.api("GET", f"photos/{upload.photo_id}/image")
            ledger.check(
                "final_retrievable",
                image.status_code == 200 and hashlib.sha256(image.content).hexdigest() == upload.sha256,
                f"photo {upload.photo_id}: {image.status_code}",
            )
    by_tenant = {a.tenant: a for a in actors}
    for token, tenant in ledger.revoked_tokens():
        response = by_tenant[tenant].api("GET", "me/", token=token)
        ledger.check("final_revoked_refused", response.status_code == 401, f"{response.status_code}")


def check_objects(env: dict[str, str], store: ObjectStore, ledger: Ledger) -> None:
    """Object storage: no object without a row (deletions removed theirs on commit, nothing rolled back
    left one), found by the operators' sweep in dry-run mode, run as the application's role."""
    before = store.count()
    out = django(env, "manage.py", "sweep_photo_objects", "--older-than", "0", "--dry-run")
    orphans = [line for line in out.splitlines() if line.startswith("would remove ")]
    ledger.check("final_no_orphan_objects", not orphans, f"{len(orphans)} of {before}: {orphans[:5]}")
    with ledger.lock:
        ledger.events["objects_in_bucket_at_end"] = before


def report(ledger: Ledger, *, seconds: float, clients: int, server_alive: bool) -> None:
    total = sum(ledger.statuses.values())
    print()
    print(
        f"soak: {seconds:.0f} s of load, {clients} clients over 2 tenants, gunicorn with {WORKERS} workers,"
    )
    print(
        f"      PostgreSQL {urlparse(DATABASE_URL).path.lstrip('/')} as {RUNTIME_ROLE} (row-level security),"
        f" Redis {REDIS_URL}, images {'in an S3 bucket (moto)' if STORAGE == 's3' else 'on local disk'}"
    )
    print(f"requests: {total} ({total / seconds:.0f}/s)")
    print("  by status: " + ", ".join(f"{code}: {n}" for code, n in sorted(ledger.statuses.items())))
    print("events:")
    for name, n in sorted(ledger.events.items()):
        print(f"  {n:6d}  {name}")
    print("checks:                          passed   failed")
    for name in sorted(set(ledger.passed) | set(ledger.failed)):
        print(f"  {name:30s} {ledger.passed[name]:7d}  {ledger.failed[name]:7d}")
    if ledger.failures:
        print("first failures:")
        for line in ledger.failures:
            print(f"  - {line}")
    if not server_alive:
        print("gunicorn died during the run")
    verdict = "PASS" if ledger.ok and server_alive else "FAIL"
    print(
        f"result: {verdict} ({sum(ledger.passed.values())} checks passed, {sum(ledger.failed.values())} failed)"
    )


def main() -> int:
    if urlparse(DATABASE_URL).hostname not in {"127.0.0.1", "localhost", "::1"}:
        raise SystemExit("the soak talks to loopback only")
    work = Path(tempfile.mkdtemp(prefix="gp-soak-"))
    port = free_loopback_port()
    base = f"http://127.0.0.1:{port}"
    env = {
        **os.environ,
        "ENV_FILE": "",
        "DEBUG": "0",
        "SECRET_KEY": "soak-only-secret-key-" + os.urandom(8).hex(),
        "AUDIT_SECRET_KEY": "soak-only-audit-secret-key-" + os.urandom(8).hex(),
        "ALLOWED_HOSTS": "127.0.0.1",
        "DATABASE_URL": as_role(DATABASE_URL, RUNTIME_ROLE),
        "MIGRATION_DATABASE_URL": as_role(DATABASE_URL, OWNER_ROLE),
        "DATABASE_RUNTIME_ROLE": RUNTIME_ROLE,
        "HTTPS_ONLY": "0",  # plain HTTP on loopback
        # Ten simulated users share one address and one public client, and replay refresh tokens
        # on purpose: lift the failure limits (tests/accounts/test_rate_limits.py covers them).
        "RATE_LIMIT_TOKEN_CLIENT": "100000/60",
        "RATE_LIMIT_TOKEN_IP": "100000/60",
        "RATE_LIMIT_LOGIN_IP": "100000/60",
        # Two minutes of consent flows by the same ten users: lift the per-person creation limit
        # (tests/scopes/test_creation_limits.py covers it).
        "RATE_LIMIT_CONSENT_USER": "100000/60",
        "DB_CONN_MAX_AGE": "60",
        "REDIS_URL": REDIS_URL,
        "CACHE_KEY_PREFIX": "gp-soak",
        "MEDIA_ROOT": str(work / "media"),
        "LOG_LEVEL": "ERROR",
    }
    if STORAGE not in {"local", "s3"}:
        raise SystemExit("SOAK_STORAGE is local or s3")
    store = ObjectStore() if STORAGE == "s3" else None
    if store is not None:
        env.update(store.environment())
        print(f"soak: images in bucket gp-soak on {store.endpoint} (moto) ...", flush=True)
    print(
        f"soak: fresh database, migrations and seed ({urlparse(DATABASE_URL).path.lstrip('/')}) ...",
        flush=True,
    )
    recreate_database(DATABASE_URL)
    django(env, "manage.py", "migrate", "--database", "owner", "--noinput", "-v0")
    django(env, "manage.py", "setup_rls")
    # Seeding writes rows of both tenants at once: the owner does it, as an operator would.
    world = json.loads(django({**env, "DATABASE_URL": env["MIGRATION_DATABASE_URL"]}, "-m", "soak.seed"))
    print(f"soak: gunicorn ({WORKERS} workers) on {base} ...", flush=True)
    log = open(work / "gunicorn.log", "w")  # noqa: SIM115 - closed in finally
    server = subprocess.Popen(  # noqa: S603 - our own interpreter and arguments
        [sys.executable, "-m", "gunicorn", "project.wsgi:application", "--workers", str(WORKERS),
         "--bind", f"127.0.0.1:{port}", "--timeout", "30", "--graceful-timeout", "5"],
        cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT,
    )  # fmt: skip
    ledger = Ledger()
    try:
        wait_until_up(base, server)
        actors = [
            Actor(base=base, world=world, user=user, ledger=ledger, seed=index)
            for index, user in enumerate(world["users"])
        ]
        print(f"soak: {len(actors)} clients for {SECONDS:.0f} s ...", flush=True)
        started = time.monotonic()
        deadline = started + SECONDS
        threads = [threading.Thread(target=actor.run, args=(deadline,), daemon=True) for actor in actors]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=SECONDS + 60)
        elapsed = time.monotonic() - started
        print("soak: final sweep ...", flush=True)
        sweep(actors, ledger)
        alive = server.poll() is None
        if store is not None:
            check_objects(env, store, ledger)
    finally:
        server.send_signal(signal.SIGTERM)
        try:
            server.wait(timeout=15)
        except subprocess.TimeoutExpired:
            server.kill()
        log.close()
        if store is not None:
            store.stop()
    report(ledger, seconds=elapsed, clients=len(actors), server_alive=alive)
    if not ledger.ok or not alive:
        print(f"gunicorn log (last lines of {work / 'gunicorn.log'}):")
        print("".join((work / "gunicorn.log").read_text().splitlines(keepends=True)[-40:]))
        return 1
    if os.environ.get("SOAK_KEEP_DB") != "1":
        recreate_database(DATABASE_URL, drop_only=True)
    shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
