"""`make bench`: how much the product's authorization costs on its photo list, measured end to end.

1. A fresh PostgreSQL database (its name must start with `gp_bench`) owned by an owner role, which
   migrates it and runs `setup_rls` for a runtime role, as deployed; then seeded with SQL
   (bench/seed.py). The server connects as the runtime role, under row-level security, in every
   variant.
2. gunicorn (2 sync workers) on the product's WSGI app with the benchmark's settings and Redis.
3. wrk (Debian's package; a small Python load generator if wrk is missing) loads the first page
   (20 photos) through (a) bare, (b) stock DOT and (c) ours, in paired rounds (each variant once
   per round, order rotating), after checking they answer the same bytes. Then two scenarios,
   bare against ours: cold (a random token of 100,000 over 1,000 tenants per request) and
   revocations (a token of the main tenant revoked every 100 ms by a side process).
4. p50 of the first and of a deep cursor page for each tenant size, and the page query's plan.
   Scenario (c): ours with an album-limited token (RFC 9396 grants) against bare on the same rows
   (bench/albums.py).
5. A profile by function of what ours adds per request over bare (bench/profile.py).
6. Tables on stdout and the same numbers in bench/results.json.

BENCH_QUICK=1 shrinks every phase (about a minute): a smoke run that everything works end to end,
not a measurement. Every phase is bounded: the run stops by itself.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import secrets
import shutil
import statistics
import subprocess
import sys
import time
import warnings
from collections.abc import Callable
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlparse

from bench.load import CpuMeter, Run, Target, get, measured, python_load, read_tokens, wrk
from bench.seed import MAIN, WORK, Seeded, log, mint_revocable, seed

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results.json"
PAGE = "?page_size=20"
VARIANTS = {
    "bare": "/bench/bare/t/{slug}/photos/",
    "dot": "/bench/dot/t/{slug}/photos/",
    "ours": "/api/t/{slug}/photos/",
}
TARGET_RATIO = 0.9  # issue 10: ours >= 0.9 x bare
QUICK = os.environ.get("BENCH_QUICK") == "1"


# --- Environment: the runner (owner) and the server side (runtime role) differ only in who connects.


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
        # Persistent connections, as any production deployment sets; the product's default is 0.
        "DB_CONN_MAX_AGE": "600",
        "SECRET_KEY": "bench-only-" + secrets.token_hex(16),
        "DEBUG": "0",
        "HTTPS_ONLY": "0",  # plain HTTP on loopback
        "ALLOWED_HOSTS": "127.0.0.1,testserver",
        "ENV_FILE": "",
        "LOG_LEVEL": "ERROR",
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


# --- The server and the side process


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


# --- Paired rounds


@dataclass
class Variant:
    target: Target
    before: Callable[[], None] | None = None  # e.g. the revoker's start
    after: Callable[[], dict[str, float]] | None = None  # its stop, with what it did
    runs: list[Run] = field(default_factory=list)
    side: list[dict[str, float]] = field(default_factory=list)


def interleaved(
    scenario: str,
    variants: dict[str, Variant],
    rounds: int,
    args: argparse.Namespace,
    generator: Any,
    meter: CpuMeter,
) -> None:
    """Each variant once per round, the order rotating, after an unrecorded warm-up of each."""
    for variant in variants.values():
        generator(args.port, variant.target, args.warmup, args.connections)
    names = list(variants)
    for round_no in range(rounds):
        shift = round_no % len(names)
        for name in names[shift:] + names[:shift]:
            variant = variants[name]
            if variant.before:
                variant.before()
            run = measured(generator, meter, args.port, variant.target, args.duration, args.connections)
            side = variant.after() if variant.after else {}
            if run.non_2xx or run.socket_errors:
                sys.exit(
                    f"{scenario} {name}: {run.non_2xx} non-2xx answers, {run.socket_errors} socket errors"
                )
            variant.runs.append(run)
            variant.side.append(side)
            extra = f"  revoked {side['revoked']:.0f} in {side['seconds']:.1f} s" if side else ""
            log(
                f"{scenario} round {round_no + 1} {name:>10}: {run.rps:7.1f} req/s  p50 {run.p50_ms:6.2f} ms  "
                f"p99 {run.p99_ms:6.2f} ms  CPU/request app {run.app_cpu_ms:.2f} db {run.db_cpu_ms:.2f} "
                f"redis {run.cache_cpu_ms:.2f} ms{extra}"
            )


def medians(variant: Variant) -> dict[str, float]:
    runs = variant.runs
    return {
        "rps": round(statistics.median(r.rps for r in runs), 1),
        "p50_ms": round(statistics.median(r.p50_ms for r in runs), 2),
        "p99_ms": round(statistics.median(r.p99_ms for r in runs), 2),
        "app_cpu_ms": round(statistics.median(r.app_cpu_ms for r in runs), 3),
        "db_cpu_ms": round(statistics.median(r.db_cpu_ms for r in runs), 3),
        "cache_cpu_ms": round(statistics.median(r.cache_cpu_ms for r in runs), 3),
    }


def spread(values: list[float]) -> dict[str, Any]:
    """Median, quartiles, range, share of rounds at the target, and a bootstrap 95% interval of the median."""
    ordered = sorted(values)
    n = len(ordered)
    quartiles = statistics.quantiles(ordered, n=4, method="inclusive") if n >= 2 else [ordered[0]] * 3
    chooser = random.Random(0)  # noqa: S311 - resampling, not security
    boots = sorted(statistics.median(chooser.choices(ordered, k=n)) for _ in range(2000))
    return {
        "median": statistics.median(ordered),
        "q1": quartiles[0],
        "q3": quartiles[2],
        "min": ordered[0],
        "max": ordered[-1],
        "at_target": sum(v >= TARGET_RATIO for v in ordered),
        "rounds": n,
        "ci95": (boots[int(0.025 * len(boots))], boots[int(0.975 * len(boots)) - 1]),
        "per_round": [round(v, 3) for v in values],
    }


def paired(numerator: Variant, denominator: Variant) -> dict[str, dict[str, Any]]:
    """numerator/denominator per round: by throughput, and by server CPU per request (den CPU / num CPU)."""
    pairs = list(zip(numerator.runs, denominator.runs, strict=True))
    return {
        "throughput": spread([n.rps / d.rps for n, d in pairs]),
        "cpu": spread([d.cpu_ms / n.cpu_ms for n, d in pairs if n.cpu_ms > 0]),
    }


def ratio_line(label: str, ratio: dict[str, dict[str, Any]], target: float | None = None) -> str:
    parts = []
    for kind, title in (("throughput", "by throughput"), ("cpu", "by server CPU per request")):
        s = ratio[kind]
        at = f", {s['at_target']}/{s['rounds']} rounds >= {TARGET_RATIO}" if target == TARGET_RATIO else ""
        parts.append(
            f"{title} {s['median']:.2f} (quartiles {s['q1']:.2f}-{s['q3']:.2f}, range {s['min']:.2f}-{s['max']:.2f}"
            f"{at}; 95% interval of the median {s['ci95'][0]:.2f}-{s['ci95'][1]:.2f})"
        )
    goal = f" [target >= {target}]" if target else ""
    per_round = ", ".join(f"{v:.2f}" for v in ratio["throughput"]["per_round"])
    return f"{label}{goal}: " + "; ".join(parts) + f"\n  per round, by throughput: {per_round}"


# --- Phases


def probe(port: int, seeded: Seeded) -> dict[str, dict[str, Any]]:
    """Every variant answers 200 with the same page; SQL per request warm, then cold for ours."""
    token = seeded.tokens[MAIN]
    pages: dict[str, dict[str, Any]] = {}
    sql: dict[str, dict[str, Any]] = {}
    for name, template in VARIANTS.items():
        path = template.format(slug=MAIN) + PAGE
        counts = []
        for _ in range(20):
            status, headers, body = get(port, path, token)
            if status != 200:
                sys.exit(f"{name}: {path} answered {status}: {body[:300]!r}")
            counts.append(int(headers["x-bench-sql"]))
        pages[name] = json.loads(body)
        if name == "ours" and not headers.get("x-oauth-scopes"):
            sys.exit("The product's answer lacks X-OAuth-Scopes.")
        # A worker's first request may build its registry copy: the steady state is the most common count.
        sql[name] = {"warm": statistics.mode(counts)}
    # A token never used before, in a worker whose registry is warm: what a cold authorization costs.
    path = VARIANTS["ours"].format(slug=MAIN) + PAGE
    sql["ours"]["cold"] = max(int(get(port, path, spare)[1]["x-bench-sql"]) for spare in seeded.spare_tokens)
    # Usage by day (scopes.usage): a key's first call of the day in a worker writes one upsert (part of
    # "cold" above); once recorded, the token's calls are warm again, with no statement for usage.
    spare = seeded.spare_tokens[0]
    sql["ours"]["after first use"] = statistics.mode(
        int(get(port, path, spare)[1]["x-bench-sql"]) for _ in range(20)
    )
    # The same rows, serialized the same, and the same next cursor; only the links' paths differ.
    same_page(pages, "the three variants")
    log(f"probe: the three variants answer the same {len(pages['ours']['results'])} rows and next cursor")
    return sql


def same_page(pages: dict[str, dict[str, Any]], who: str) -> None:
    shapes = {
        json.dumps([page["results"], parse_qs(urlparse(page["next"]).query)["cursor"]])
        for page in pages.values()
    }
    if len(shapes) != 1:
        sys.exit(f"{who} did not answer the same page: the comparison would be unfair.")


def probe_tokens(port: int, targets: dict[str, Target], samples: int = 3) -> dict[str, int]:
    """A few lines of a token file: both variants answer the same page; SQL of a first use of the token."""
    pairs = {name: read_tokens(target) for name, target in targets.items()}
    chooser = random.Random(1)  # noqa: S311 - sampling, not security
    sql: dict[str, int] = {}
    for index in chooser.sample(range(len(next(iter(pairs.values())))), samples):
        pages = {}
        for name, lines in pairs.items():
            path, token = lines[index]
            status, headers, body = get(port, path, token)
            if status != 200:
                sys.exit(f"{name}: {path} answered {status}: {body[:300]!r}")
            pages[name] = json.loads(body)
            sql[name] = max(sql.get(name, 0), int(headers["x-bench-sql"]))
        same_page(pages, "bare and ours, on a token file's line,")
    return sql


def album_phase(
    args: argparse.Namespace, seeded: Seeded, generator: Any, meter: CpuMeter
) -> dict[str, Variant]:
    """Scenario (c) (bench/albums.py): same rows checked, then paired rounds; the album emptied after."""
    from bench import albums as album_scenario  # imports Django views: after django.setup()

    album_id, token = album_scenario.prepare(seeded)
    try:
        targets = {
            "bare": Target(
                path=album_scenario.BARE_PATH.format(slug=MAIN) + PAGE + f"&album={album_id}",
                token=seeded.tokens[MAIN],
            ),
            "ours": Target(path=VARIANTS["ours"].format(slug=MAIN) + PAGE, token=token),
        }
        pages = {}
        for name, target in targets.items():
            status, _headers, body = get(args.port, target.path, target.token)
            if status != 200:
                sys.exit(f"albums {name}: {target.path} answered {status}: {body[:300]!r}")
            pages[name] = json.loads(body)
        same_page(pages, "bare and the album-limited token")
        log(f"albums: both answer the same {len(pages['ours']['results'])} rows of album {album_id}")
        variants = {name: Variant(target) for name, target in targets.items()}
        interleaved("(c) albums", variants, args.album_rounds, args, generator, meter)
        return variants
    finally:
        album_scenario.finish(album_id)


def deep_page(slug: str, depth: int) -> str:
    """The product's URL of the page that starts `depth` photos down the tenant's list."""
    from rest_framework.pagination import Cursor

    from accounts.models import Tenant
    from photos.api.views import NewestFirstCursorPagination
    from photos.models import Photo

    tenant = Tenant.objects.get(slug=slug)
    created = (
        Photo.objects.for_tenant(tenant).order_by("-created", "-id").values_list("created", flat=True)[depth]
    )
    pagination = NewestFirstCursorPagination()
    pagination.base_url = VARIANTS["ours"].format(slug=slug) + PAGE
    return pagination.encode_cursor(Cursor(offset=0, reverse=False, position=str(created)))


def scale(port: int, seeded: Seeded, args: argparse.Namespace, generator: Any) -> list[dict[str, Any]]:
    """p50 of one request at a time, first and deep page, every size once per round."""
    pages: list[tuple[str, int, str, str]] = []
    for slug, size in sorted(seeded.sizes.items(), key=lambda item: item[1]):
        for label, path in (
            ("first", VARIANTS["ours"].format(slug=slug) + PAGE),
            ("deep", deep_page(slug, int(size * 0.9))),
        ):
            status, _, body = get(port, path, seeded.tokens[slug])
            if status != 200 or len(json.loads(body)["results"]) != 20:
                sys.exit(f"{slug} {label} page: {status} {body[:200]!r}")
            pages.append((slug, size, label, path))
    p50s: dict[tuple[str, str], list[float]] = {(slug, label): [] for slug, _, label, _ in pages}
    for _ in range(args.scale_rounds):
        for slug, _, label, path in pages:
            target = Target(path=path, token=seeded.tokens[slug])
            p50s[(slug, label)].append(generator(port, target, args.scale_duration, 1).p50_ms)
    rows = []
    for slug, size in sorted(seeded.sizes.items(), key=lambda item: item[1]):
        row = {
            "tenant": slug,
            "photos": size,
            "deep_depth": int(size * 0.9),
            "first_p50_ms": round(statistics.median(p50s[(slug, "first")]), 2),
            "deep_p50_ms": round(statistics.median(p50s[(slug, "deep")]), 2),
        }
        rows.append(row)
        log(
            f"scale {size:>9,}: first page p50 {row['first_p50_ms']} ms, deep page p50 {row['deep_p50_ms']} ms"
        )
    return rows


def page_sql(path: str, token: str) -> str:
    """The exact page query the product runs for `path` (captured from an in-process request)."""
    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext

    with CaptureQueriesContext(connection) as queries:
        response = Client().get(path, HTTP_AUTHORIZATION=f"Bearer {token}")
    assert response.status_code == 200, response.content[:300]
    return next(q["sql"] for q in queries.captured_queries if '"photos_photo"' in q["sql"])


def tenant_id(slug: str) -> int:
    from accounts.models import Tenant

    return Tenant.objects.get(slug=slug).pk


def query_p50(roles: Roles, seeded: Seeded, rows: list[dict[str, Any]], repeats: int) -> None:
    """The page query alone, as the runtime role in its tenant, timed from this process: p50 per size."""
    for row in rows:
        slug, token = row["tenant"], seeded.tokens[row["tenant"]]
        statements = {
            "first": page_sql(VARIANTS["ours"].format(slug=slug) + PAGE, token),
            "deep": page_sql(deep_page(slug, row["deep_depth"]), token),
        }
        timings: dict[str, list[float]] = {key: [] for key in statements}
        with as_runtime(roles, tenant_id(slug)) as cursor:
            for _ in range(repeats):
                for key, sql in statements.items():
                    start = time.perf_counter()
                    cursor.execute(sql)
                    if len(cursor.fetchall()) != 21:
                        sys.exit(f"{slug}: the page query as the runtime role did not return 21 rows")
                    timings[key].append(time.perf_counter() - start)
        for key, values in timings.items():
            row[f"{key}_sql_p50_ms"] = round(statistics.median(values) * 1000, 3)


def explain(roles: Roles, seeded: Seeded) -> str:
    """The plan of the page query the product runs for a deep page of the largest tenant, under its policy."""
    slug = max(seeded.sizes, key=lambda s: seeded.sizes[s])
    sql = page_sql(deep_page(slug, int(seeded.sizes[slug] * 0.9)), seeded.tokens[slug])
    with as_runtime(roles, tenant_id(slug)) as cursor:
        cursor.execute("EXPLAIN (ANALYZE, BUFFERS, COSTS OFF, TIMING OFF) " + sql)
        plan = "\n".join(row[0] for row in cursor.fetchall())
    if "Index Scan using photo_tenant_created_idx" not in plan and "Index Only Scan" not in plan:
        log("WARNING: the page query does not use the index that leads with tenant_id")
    return f"-- {slug} ({seeded.sizes[slug]:,} photos), the page at 90% depth, as {roles.runtime}\n{sql}\n\n{plan}"


def profile(server_env: dict[str, str], seeded: Seeded, args: argparse.Namespace) -> dict[str, Any]:
    """bench/profile.py in the server's environment, with nothing else loading the machine from here."""
    spec = {
        "variants": {name: VARIANTS[name].format(slug=MAIN) + PAGE for name in ("bare", "ours")},
        "token": seeded.tokens[MAIN],
        "warmup": 10 if QUICK else 50,
        "batches": args.profile_batches,
        "per_batch": args.profile_requests,
        "profiled": args.profile_requests * args.profile_batches // 2,
    }
    done = subprocess.run(  # noqa: S603 (our argv)
        [sys.executable, "-m", "bench.profile", json.dumps(spec)],
        cwd=ROOT,
        env=server_env,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    line = next((x for x in done.stdout.splitlines() if x.startswith("PROFILE_JSON ")), None)
    if done.returncode or line is None:
        sys.exit(f"the profile failed:\n{done.stdout[-2000:]}\n{done.stderr[-3000:]}")
    return json.loads(line.removeprefix("PROFILE_JSON "))


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


# --- Report


def variant_table(rows: list[tuple[str, Variant, str]]) -> list[str]:
    lines = [
        "| variant | requests/s | p50 ms | p99 ms | SQL per request | CPU ms/request: app | DB | Redis |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for label, variant, sql in rows:
        m = medians(variant)
        lines.append(
            f"| {label} | {m['rps']:,.0f} | {m['p50_ms']} | {m['p99_ms']} | {sql} | "
            f"{m['app_cpu_ms']:.2f} | {m['db_cpu_ms']:.2f} | {m['cache_cpu_ms']:.2f} |"
        )
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    q = QUICK  # smaller defaults for the smoke run
    parser.add_argument(
        "--photos", type=int, default=5_000 if q else 100_000, help="photos in the main tenant"
    )
    parser.add_argument(
        "--sizes",
        default="1000,5000" if q else "1000,100000,1000000",
        help="tenant sizes for the scale check (drop 1000000 to save ~30 s)",
    )
    parser.add_argument("--duration", type=float, default=1 if q else 3, help="seconds per load run")
    parser.add_argument(
        "--warmup", type=float, default=1 if q else 2, help="seconds of unrecorded load per variant"
    )
    parser.add_argument(
        "--rounds", type=int, default=2 if q else 15, help="paired rounds of bare, DOT and ours"
    )
    parser.add_argument(
        "--cold-rounds", type=int, default=2 if q else 8, help="paired rounds of scenario (a)"
    )
    parser.add_argument(
        "--cold-tenants", type=int, default=50 if q else 1_000, help="tenants in scenario (a)"
    )
    parser.add_argument(
        "--cold-tokens", type=int, default=2_000 if q else 100_000, help="tokens in scenario (a)"
    )
    parser.add_argument("--revocation-rounds", type=int, default=1 if q else 6, help="rounds of scenario (b)")
    parser.add_argument("--revocation-interval", type=float, default=0.1, help="seconds between revocations")
    parser.add_argument(
        "--pool-tokens", type=int, default=100, help="main-tenant tokens the load uses in (b)"
    )
    parser.add_argument(
        "--album-rounds", type=int, default=2 if q else 8, help="paired rounds of scenario (c)"
    )
    parser.add_argument("--connections", type=int, default=4, help="concurrent connections")
    parser.add_argument("--scale-duration", type=float, default=1, help="seconds per scale run")
    parser.add_argument(
        "--scale-rounds", type=int, default=1 if q else 3, help="interleaved rounds of the scale runs"
    )
    parser.add_argument(
        "--profile-batches", type=int, default=4 if q else 20, help="timed batches per variant"
    )
    parser.add_argument("--profile-requests", type=int, default=20 if q else 100, help="requests per batch")
    parser.add_argument("--workers", type=int, default=2, help="gunicorn sync workers")
    parser.add_argument("--port", type=int, default=0, help="loopback port for gunicorn (0: a free one)")
    parser.add_argument(
        "--skip",
        default="",
        help="comma-separated phases to leave out: main, cold, revocations, albums, scale, profile",
    )
    parser.add_argument("--reuse", action="store_true", help="keep the database of the previous run")
    parser.add_argument(
        "--database-url",
        default=os.environ.get("BENCH_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/gp_bench"),
        help="a superuser URL; the database (name starting gp_bench) is recreated, with roles <name>_owner/_app",
    )
    parser.add_argument(
        "--redis-url",
        default=os.environ.get("BENCH_REDIS_URL", ""),
        help="a shared Redis to use instead of the benchmark's own redis-server (its CPU is then not metered)",
    )
    args = parser.parse_args()
    skip = {s.strip() for s in args.skip.split(",") if s.strip()}
    sizes = [int(s) for s in args.sizes.split(",") if s.strip()]
    args.port = args.port or free_port()
    began = time.monotonic()

    roles = roles_for(args.database_url)
    cache_server = None if args.redis_url else RedisServer()
    if cache_server is not None:
        args.redis_url = cache_server.url
    try:
        run(args, roles, cache_server, skip, sizes, began)
    finally:
        if cache_server is not None:
            cache_server.stop()


def run(
    args: argparse.Namespace,
    roles: Roles,
    cache_server: RedisServer | None,
    skip: set[str],
    sizes: list[int],
    began: float,
) -> None:
    server_env = configure(args, roles)
    if not args.reuse:
        log(f"creating {roles.database} (owner {roles.owner}, runtime role {roles.runtime})")
        create_database(roles)
    import django

    django.setup()

    seeded_file = ROOT / "bench" / ".seeded.json"
    if args.reuse:
        seeded = Seeded(**json.loads(seeded_file.read_text()))
    else:
        migrate(roles)
        log("migrated as the owner; setup_rls granted the runtime role")
        seeded = seed(args.photos, sizes, args.cold_tenants, args.cold_tokens, args.pool_tokens)
        seeded_file.write_text(json.dumps(asdict(seeded)))
    clear_cache()
    info = machine()

    generator = wrk if shutil.which("wrk") else python_load
    log(
        f"load generator: {'wrk' if generator is wrk else 'Python threads (wrk not found)'}; port {args.port}"
    )
    main_targets = {
        name: Target(path=template.format(slug=MAIN) + PAGE, token=seeded.tokens[MAIN])
        for name, template in VARIANTS.items()
    }

    def tokens_target(name: str, token_file: str) -> Target:
        prefix, _, suffix = VARIANTS[name].partition("{slug}")
        return Target(path=prefix, token_file=token_file, suffix=suffix + PAGE)

    cold_targets = {name: tokens_target(name, seeded.cold_file) for name in ("bare", "ours")}
    pool_targets = {name: tokens_target(name, seeded.pool_file) for name in ("bare", "ours")}

    server = Gunicorn(server_env, args.workers, args.port)
    revoker: Revoker | None = None
    plain: dict[str, Variant] = {}
    cold: dict[str, Variant] = {}
    revoking: dict[str, Variant] = {}
    revoked_after: dict[str, int] = {}
    limited: dict[str, Variant] = {}
    scale_rows: list[dict[str, Any]] = []
    try:
        server.wait(main_targets["bare"].path)
        sql = probe(args.port, seeded)
        sql["cold scenario"] = probe_tokens(args.port, cold_targets)
        probe_tokens(args.port, pool_targets)
        meter = CpuMeter(
            server.process.pid, roles.runtime, cache_server.process.pid if cache_server else None
        )
        if "main" not in skip:
            plain = {name: Variant(target) for name, target in main_targets.items()}
            interleaved("plain", plain, args.rounds, args, generator, meter)
        if "cold" not in skip:
            cold = {name: Variant(target) for name, target in cold_targets.items()}
            interleaved("(a) cold", cold, args.cold_rounds, args, generator, meter)
        if "revocations" not in skip:
            per_run = (args.duration + 1) / args.revocation_interval
            minted = mint_revocable(seeded, int(per_run * 2 * args.revocation_rounds * 1.5) + 50)
            revoker = Revoker(
                server_env, seeded.main_tenant_id, [pk for pk, _ in minted], args.revocation_interval
            )
            meter.exclude.add(revoker.backend_pid)
            # The first token to be revoked is used once per worker first, so that the check after
            # the scenario proves a cached token was refused, not merely an unknown one.
            path = main_targets["ours"].path
            first = minted[0][1]
            for _ in range(args.workers * 2):
                if get(args.port, path, first)[0] != 200:
                    sys.exit("a token minted for revocation was refused before its revocation")
            revoking = {
                "bare (b)": Variant(pool_targets["bare"], revoker.start, revoker.finish),
                "ours (b)": Variant(pool_targets["ours"], revoker.start, revoker.finish),
                "ours quiet": Variant(pool_targets["ours"]),
            }
            interleaved("(b) revocations", revoking, args.revocation_rounds, args, generator, meter)
            # The revocations took effect: ours refuses the first token revoked (cached above).
            revoked_after = {"checked": 0, "refused": 0}
            for _ in range(args.workers * 2):
                revoked_after["checked"] += 1
                revoked_after["refused"] += get(args.port, path, first)[0] == 401
            if revoked_after["refused"] != revoked_after["checked"]:
                sys.exit(f"a revoked token was still served: {revoked_after}")
        if "albums" not in skip:
            limited = album_phase(args, seeded, generator, meter)
        if "scale" not in skip:
            scale_rows = scale(args.port, seeded, args, generator)
    finally:
        if revoker is not None:
            revoker.stop()
        server.stop()
    if scale_rows:
        query_p50(roles, seeded, scale_rows, repeats=50 if QUICK else 200)
    plan = explain(roles, seeded) if "scale" not in skip else ""
    clear_cache()
    profiled = profile(server_env, seeded, args) if "profile" not in skip else None
    clear_cache()

    lines: list[str] = []
    summary: dict[str, Any] = {"settings": vars(args) | {"quick": QUICK}, "machine": info, "sql": sql}
    if plain:
        lines += variant_table(
            [
                ("(a) bare: no authentication or permission", plain["bare"], f"{sql['bare']['warm']}"),
                (
                    "(b) stock DOT: OAuth2Authentication + TokenHasScope",
                    plain["dot"],
                    f"{sql['dot']['warm']}",
                ),
                (
                    "(c) ours: /api/t/&lt;slug&gt;/photos/",
                    plain["ours"],
                    f"{sql['ours']['warm']} warm, {sql['ours']['cold']} cold, "
                    f"{sql['ours']['after first use']} warm after a first use (usage recorded)",
                ),
            ]
        )
        c_a, c_b = paired(plain["ours"], plain["bare"]), paired(plain["ours"], plain["dot"])
        lines += [
            "",
            ratio_line("c/a (ours/bare)", c_a, TARGET_RATIO),
            ratio_line("c/b (ours/stock DOT)", c_b, 1.5),
        ]
        summary["plain"] = {
            name: {**medians(v), "runs": [asdict(r) for r in v.runs]} for name, v in plain.items()
        }
        summary["plain_ratios"] = {"c_over_a": c_a, "c_over_b": c_b}
    if cold:
        n_tenants, n_tokens = seeded.cold_tenants, seeded.cold_tokens
        lines += [
            "",
            f"Scenario (a), cold: {n_tokens:,} live tokens over {n_tenants:,} tenants, a random one per request",
            *variant_table(
                [
                    ("bare: enters the URL's tenant", cold["bare"], f"{sql['cold scenario']['bare']}"),
                    ("ours", cold["ours"], f"{sql['cold scenario']['ours']} on a token's first use"),
                ]
            ),
            "",
            ratio_line("ours/bare, cold", paired(cold["ours"], cold["bare"]), TARGET_RATIO),
        ]
        summary["cold"] = {
            name: {**medians(v), "runs": [asdict(r) for r in v.runs]} for name, v in cold.items()
        }
        summary["cold_ratio"] = paired(cold["ours"], cold["bare"])
    if revoking:
        sides = [s for v in revoking.values() for s in v.side if s]
        revoked = sum(s["revoked"] for s in sides)
        seconds = sum(s["seconds"] for s in sides)
        slowest = max(s["slowest_ms"] for s in sides)
        quiet, noisy = revoking["ours quiet"], revoking["ours (b)"]
        p99_rounds = [n.p99_ms / q.p99_ms for n, q in zip(noisy.runs, quiet.runs, strict=True)]
        p99_vs_quiet = medians(noisy)["p99_ms"] / medians(quiet)["p99_ms"]
        lines += [
            "",
            f"Scenario (b), revocations: {revoked} tokens of the main tenant revoked in {seconds:.0f} s of load "
            f"({revoked / seconds:.1f}/s, slowest {slowest:.0f} ms), never a token the load uses; the load picks "
            f"one of {args.pool_tokens} tokens of that tenant per request",
            *variant_table(
                [
                    ("bare, revoking", revoking["bare (b)"], "-"),
                    ("ours, revoking", noisy, "-"),
                    ("ours, same load, no revocation", quiet, "-"),
                ]
            ),
            "",
            ratio_line("ours/bare, revoking", paired(noisy, revoking["bare (b)"]), TARGET_RATIO),
            f"p99 of ours revoking / not revoking: {p99_vs_quiet:.2f} (medians; per round "
            + ", ".join(f"{r:.2f}" for r in p99_rounds)
            + ") [target <= 1.5]",
        ]
        if plain:
            lines.append(
                f"p99 of ours revoking / the plain run's: {medians(noisy)['p99_ms'] / medians(plain['ours'])['p99_ms']:.2f}"
            )
        lines.append(
            f"the first token revoked, used before the scenario, then got 401 from ours "
            f"{revoked_after['refused']}/{revoked_after['checked']} times"
        )
        summary["revocations"] = {
            name: {**medians(v), "runs": [asdict(r) for r in v.runs], "side": v.side}
            for name, v in revoking.items()
        }
        summary["revocation_ratio"] = paired(noisy, revoking["bare (b)"])
        summary["revocation_p99_over_quiet"] = p99_vs_quiet
    if limited:
        lines += [
            "",
            "Scenario (c), album-limited token: half the main tenant's photos in one album; ours lists them "
            "with a token limited to that album, bare with a plain album filter (the same rows)",
            *variant_table(
                [
                    ("bare, ?album=<id>", limited["bare"], "-"),
                    ("ours, album-limited token", limited["ours"], "-"),
                ]
            ),
            "",
            ratio_line("ours/bare, album-limited", paired(limited["ours"], limited["bare"]), TARGET_RATIO),
        ]
        summary["albums"] = {
            name: {**medians(v), "runs": [asdict(r) for r in v.runs]} for name, v in limited.items()
        }
        summary["album_ratio"] = paired(limited["ours"], limited["bare"])
    if scale_rows:
        lines += [
            "",
            "| photos in the tenant | first page p50 ms | deep page p50 ms (cursor at 90%) "
            "| page query alone p50 ms: first / deep |",
            "|---:|---:|---:|---:|",
        ]
        lines += [
            f"| {r['photos']:,} | {r['first_p50_ms']} | {r['deep_p50_ms']} | "
            f"{r['first_sql_p50_ms']} / {r['deep_sql_p50_ms']} |"
            for r in scale_rows
        ]
        if len(scale_rows) > 1:
            small, large = scale_rows[0], scale_rows[-1]  # sorted by size
            first = large["first_p50_ms"] / small["first_p50_ms"]
            deep = large["deep_p50_ms"] / small["deep_p50_ms"]
            lines.append(
                f"\np50, largest / smallest tenant: first page {first:.2f}, deep page {deep:.2f} (target <= 1.2)"
            )
        summary["scale"] = scale_rows
        summary["plan"] = plan
    if profiled:
        from bench.profile import table

        lines += [
            "",
            "What ours adds per request over bare, by function (warm, the plain run's request):",
            "",
        ]
        lines.append(table(profiled))
        summary["profile"] = profiled
    report = "\n".join(lines)
    summary["table"] = report
    summary["seconds"] = round(time.monotonic() - began, 1)
    RESULTS.write_text(json.dumps(summary, indent=2, default=str))

    print()
    print(
        f"Machine: {info['nproc']} CPUs ({info['cpu']}), {info['memory_gib']} GiB RAM, PostgreSQL {info['postgresql']}"
    )
    print(f"Load average at start: {' '.join(f'{x:.2f}' for x in info['load_average_at_start'])}; now: "
          f"{' '.join(f'{x:.2f}' for x in os.getloadavg())}")  # fmt: skip
    redis = "its own redis-server (metered)" if cache_server else f"{args.redis_url} (shared: not metered)"
    print(f"Redis: {redis}")
    print(
        f"gunicorn: {args.workers} sync workers as {roles.runtime} (row-level security); load: {args.connections} "
        f"connections; medians of paired rounds of {args.duration:g} s{' (BENCH_QUICK: a smoke run)' if QUICK else ''}"
    )
    print()
    print(report)
    if plan:
        print()
        print(plan)
    print()
    log(f"done in {summary['seconds']} s; results in {RESULTS.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
