"""`make bench`: how much the product's authorization costs on its photo list, measured end to end.

1. A fresh PostgreSQL database (its name must start with `gp_bench`), migrated, seeded with SQL:
   tenants of 1,000, 100,000 (the main one) and 1,000,000 photos plus two others, members and tokens.
2. gunicorn (2 sync workers) on the product's WSGI app with the benchmark's settings and Redis.
3. wrk (Debian's package; a small Python load generator if wrk is missing) loads the same first
   page (20 photos) through (a) bare, (b) stock DOT and (c) the product's endpoint, in interleaved
   rounds, after checking the three answer the same bytes. SQL per request comes from a header.
4. p50 of the first and of a deep cursor page for each tenant size, and the page query's plan.
5. A table on stdout and the same numbers in bench/results.json.

Every phase is bounded: the run stops by itself in a few minutes.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import platform
import secrets
import shutil
import statistics
import subprocess
import sys
import threading
import time
import warnings
from dataclasses import asdict, dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlparse

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results.json"
LUA = ROOT / "bench" / "wrk_report.lua"
MAIN = "bench"
OTHER_TENANTS = {"other-1": 5_000, "other-2": 5_000}
OWNERS_PER_TENANT = 20
PAGE = "?page_size=20"
KEY_PREFIX = "gp-bench"
VARIANTS = {
    "bare": "/bench/bare/t/{slug}/photos/",
    "dot": "/bench/dot/t/{slug}/photos/",
    "ours": "/api/t/{slug}/photos/",
}


def log(message: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {message}", flush=True)


# --- Environment: the same for this process (seeding, probes, EXPLAIN) and for gunicorn.


def configure(args: argparse.Namespace) -> dict[str, str]:
    env = {
        "DJANGO_SETTINGS_MODULE": "bench.settings",
        "DATABASE_URL": args.database_url,
        "REDIS_URL": args.redis_url,
        "CACHE_KEY_PREFIX": KEY_PREFIX,
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
    os.environ.update(env)
    warnings.filterwarnings("ignore", "No directory at")  # this process too (EXPLAIN, seeding)
    return env


def create_database(url: str) -> None:
    import psycopg

    parsed = urlparse(url)
    name = parsed.path.lstrip("/")
    if not name.startswith("gp_bench"):
        sys.exit(f"Refusing to recreate {name!r}: the benchmark's database name must start with gp_bench.")
    admin = parsed._replace(path="/postgres").geturl()
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')


# --- Seeding


@dataclass
class Seeded:
    sizes: dict[str, int]  # tenant slug -> photos
    tokens: dict[str, str]  # tenant slug -> raw token of a Member holding photos.read
    spare_tokens: list[str]  # never used before the probe: cold requests in the main tenant


def seed(main_photos: int, sizes: list[int]) -> Seeded:
    """Tenants, members and tokens by the ORM (a few hundred rows); photos by one INSERT ... SELECT."""
    from django.contrib.auth.hashers import make_password
    from django.db import connection, transaction
    from django.utils import timezone
    from oauth2_provider.models import set_token_value

    from accounts.constants import RoleName
    from accounts.models import Membership, Role, Tenant, User
    from scopes.constants import ScopeName
    from scopes.models import AccessToken, Application

    tenant_sizes = {MAIN: main_photos}
    for size in sizes:
        if size != main_photos:
            tenant_sizes[f"size-{size}"] = size
    tenant_sizes.update(OTHER_TENANTS)
    member = Role.objects.get(name=RoleName.MEMBER, tenant=None)
    unusable = make_password(None)
    app = Application.objects.create(
        name="Bench client",
        client_id="bench-client",
        client_type=Application.CLIENT_PUBLIC,
        authorization_grant_type=Application.GRANT_AUTHORIZATION_CODE,
        redirect_uris="http://127.0.0.1:8765/callback",
    )
    tokens: dict[str, str] = {}
    spare: list[str] = []
    expires = timezone.now() + timedelta(days=1)
    scope = f"{ScopeName.PHOTOS_READ} {ScopeName.PROFILE_READ}"

    def mint(user: User, tenant: Tenant) -> str:
        raw = secrets.token_urlsafe(32)
        token = AccessToken(user=user, tenant=tenant, application=app, expires=expires, scope=scope)
        set_token_value(token, raw)
        token.save()
        return raw

    with transaction.atomic():
        for slug, _count in tenant_sizes.items():
            tenant = Tenant.objects.create(slug=slug, name=slug.title())
            users = User.objects.bulk_create(
                User(username=f"{slug}-member-{i}", password=unusable) for i in range(OWNERS_PER_TENANT)
            )
            Membership.objects.bulk_create(Membership(user=u, tenant=tenant, role=member) for u in users)
            tokens[slug] = mint(users[0], tenant)
            if slug == MAIN:
                spare = [mint(users[i], tenant) for i in range(1, 4)]

    started = time.monotonic()
    with connection.cursor() as cursor:
        cursor.execute(
            "CREATE TEMP TABLE bench_owner AS "
            "SELECT m.tenant_id, (row_number() OVER (PARTITION BY m.tenant_id ORDER BY m.user_id) - 1) AS idx, "
            "m.user_id FROM accounts_membership m"
        )
        cursor.execute(
            "CREATE TEMP TABLE bench_size AS SELECT t.id AS tenant_id, s.n FROM accounts_tenant t "
            "JOIN (SELECT * FROM unnest(%s::text[], %s::int[]) AS x(slug, n)) s ON s.slug = t.slug",
            [list(tenant_sizes), list(tenant_sizes.values())],
        )
        # Every tenant's photos spread over the same year, inserted in time order: tenants
        # interleave on disk as uploads would, rather than one tenant per stretch of the table.
        cursor.execute(
            """
            INSERT INTO photos_photo (tenant_id, owner_id, album_id, title, description, image,
                                      content_type, byte_size, width, height, created, updated)
            SELECT s.tenant_id, o.user_id, NULL, 'Photo ' || i, '',
                   'photos/' || s.tenant_id || '/' || i || '.jpg', 'image/jpeg', 100000 + i, 640, 480,
                   now() - interval '1 day' - (i * interval '365 days' / s.n),
                   now() - interval '1 day' - (i * interval '365 days' / s.n)
            FROM bench_size s
            CROSS JOIN LATERAL generate_series(1, s.n) AS i
            JOIN bench_owner o ON o.tenant_id = s.tenant_id AND o.idx = i %% %s
            ORDER BY 11
            """,
            [OWNERS_PER_TENANT],
        )
        cursor.execute("ANALYZE")
    log(f"seeded {sum(tenant_sizes.values()):,} photos in {time.monotonic() - started:.1f} s")
    size_of = {slug: n for slug, n in tenant_sizes.items() if slug not in OTHER_TENANTS}
    return Seeded(sizes=size_of, tokens=tokens, spare_tokens=spare)


# --- The server


class Gunicorn:
    """gunicorn with a fixed number of sync workers, stopped on exit whatever happens."""

    def __init__(self, env: dict[str, str], workers: int, port: int) -> None:
        self.port = port
        command = [sys.executable, "-m", "gunicorn", "project.wsgi:application"]
        command += ["--workers", str(workers), "--bind", f"127.0.0.1:{port}", "--log-level", "error"]
        self.process = subprocess.Popen(command, cwd=ROOT, env={**os.environ, **env})  # noqa: S603 (our argv)

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


def get(port: int, path: str, token: str | None = None) -> tuple[int, dict[str, str], bytes]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        conn.request("GET", path, headers={"Authorization": f"Bearer {token}"} if token else {})
        response = conn.getresponse()
        return response.status, {k.lower(): v for k, v in response.getheaders()}, response.read()
    finally:
        conn.close()


# --- Load


@dataclass
class Run:
    """One load run of one URL, and the CPU the server side spent on it."""

    requests: int
    seconds: float
    rps: float
    p50_ms: float
    p90_ms: float
    p99_ms: float
    non_2xx: int
    socket_errors: int
    app_cpu_ms: float = 0.0  # gunicorn workers' CPU per request
    db_cpu_ms: float = 0.0  # PostgreSQL backends' CPU per request


def wrk(port: int, path: str, token: str, seconds: float, connections: int) -> Run:
    command = [
        "wrk",
        "-t1",
        f"-c{connections}",
        f"-d{max(1, round(seconds))}s",
        "--latency",
        "--timeout",
        "10s",
    ]
    command += ["-H", f"Authorization: Bearer {token}", "-s", str(LUA), f"http://127.0.0.1:{port}{path}"]
    done = subprocess.run(command, capture_output=True, text=True, timeout=seconds + 30, check=True)  # noqa: S603
    line = next(x for x in done.stdout.splitlines() if x.startswith("BENCH_JSON "))
    data = json.loads(line.removeprefix("BENCH_JSON "))
    duration = data["duration_us"] / 1e6
    return Run(
        requests=data["requests"],
        seconds=round(duration, 2),
        rps=round(data["requests"] / duration, 1),
        p50_ms=round(data["p50_us"] / 1000, 2),
        p90_ms=round(data["p90_us"] / 1000, 2),
        p99_ms=round(data["p99_us"] / 1000, 2),
        non_2xx=data["non_2xx"],
        socket_errors=data["socket_errors"],
    )


def python_load(port: int, path: str, token: str, seconds: float, connections: int) -> Run:
    """The fallback when wrk is missing: `connections` threads, one request at a time each."""
    latencies: list[float] = []
    failures = [0, 0]
    lock = threading.Lock()
    stop_at = time.monotonic() + seconds

    def worker() -> None:
        mine: list[float] = []
        bad = errors = 0
        while time.monotonic() < stop_at:
            start = time.perf_counter()
            try:
                status, _, _ = get(port, path, token)
            except OSError:
                errors += 1
                continue
            mine.append(time.perf_counter() - start)
            bad += status >= 300
        with lock:
            latencies.extend(mine)
            failures[0] += bad
            failures[1] += errors

    started = time.monotonic()
    threads = [threading.Thread(target=worker) for _ in range(connections)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    duration = time.monotonic() - started
    latencies.sort()

    def pct(p: float) -> float:
        return round(latencies[min(len(latencies) - 1, int(p / 100 * len(latencies)))] * 1000, 2)

    return Run(
        requests=len(latencies),
        seconds=round(duration, 2),
        rps=round(len(latencies) / duration, 1),
        p50_ms=pct(50),
        p90_ms=pct(90),
        p99_ms=pct(99),
        non_2xx=failures[0],
        socket_errors=failures[1],
    )


class CpuMeter:
    """CPU time of the gunicorn workers and of the benchmark database's backends, from /proc.

    Throughput on a shared two-core machine swings with whatever else runs; the CPU each request
    costs the server side hardly does, so the report gives both.
    """

    def __init__(self, master_pid: int) -> None:
        from django.db import connection

        children = Path(f"/proc/{master_pid}/task/{master_pid}/children")
        self.workers = [int(pid) for pid in children.read_text().split()]
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()"
            )
            self.backends = [row[0] for row in cursor.fetchall()]
        self.tick = os.sysconf("SC_CLK_TCK")

    def _seconds(self, pids: list[int]) -> float:
        total = 0
        for pid in pids:
            try:
                fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            except FileNotFoundError:
                continue
            total += int(fields[11]) + int(fields[12])  # utime, stime
        return total / self.tick

    def sample(self) -> tuple[float, float]:
        return self._seconds(self.workers), self._seconds(self.backends)


# --- Phases


@dataclass
class VariantResult:
    path: str
    sql_per_request: float
    sql_cold: int | None = None
    runs: list[Run] = field(default_factory=list)
    rps: float = 0.0
    p50_ms: float = 0.0
    p99_ms: float = 0.0
    app_cpu_ms: float = 0.0
    db_cpu_ms: float = 0.0


def probe(port: int, seeded: Seeded) -> dict[str, VariantResult]:
    """Every variant answers 200 with the same page; SQL per request warm, then cold for ours."""
    token = seeded.tokens[MAIN]
    pages: dict[str, dict[str, Any]] = {}
    results: dict[str, VariantResult] = {}
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
        results[name] = VariantResult(path=path, sql_per_request=statistics.mode(counts))
    # A token never used before, in a worker whose registry is warm: what a cold authorization costs.
    cold = [int(get(port, results["ours"].path, spare)[1]["x-bench-sql"]) for spare in seeded.spare_tokens]
    results["ours"].sql_cold = max(cold)
    # The same rows, serialized the same, and the same next cursor; only the links' paths differ.
    shapes = {
        json.dumps([page["results"], parse_qs(urlparse(page["next"]).query)["cursor"]])
        for page in pages.values()
    }
    if len(shapes) != 1:
        sys.exit("The three variants did not answer the same page: the comparison would be unfair.")
    log(f"probe: the three variants answer the same {len(pages['ours']['results'])} rows and next cursor")
    return results


def measured(generator: Any, meter: CpuMeter, *run_args: Any) -> Run:
    app0, db0 = meter.sample()
    run: Run = generator(*run_args)
    app1, db1 = meter.sample()
    if run.requests:
        run.app_cpu_ms = round((app1 - app0) * 1000 / run.requests, 3)
        run.db_cpu_ms = round((db1 - db0) * 1000 / run.requests, 3)
    return run


def load(
    port: int,
    results: dict[str, VariantResult],
    token: str,
    args: argparse.Namespace,
    generator: Any,
    meter: CpuMeter,
) -> dict[str, list[float]]:
    """Interleaved rounds (each variant once per round, order rotating); per-round ratios too."""
    for result in results.values():  # warm-up, not recorded
        generator(port, result.path, token, args.warmup, args.connections)
    names = list(results)
    ratios: dict[str, list[float]] = {"c_over_a": [], "c_over_b": []}
    for round_no in range(args.rounds):
        order = names[round_no % len(names) :] + names[: round_no % len(names)]
        this_round: dict[str, Run] = {}
        for name in order:
            run = measured(generator, meter, port, results[name].path, token, args.duration, args.connections)
            if run.non_2xx or run.socket_errors:
                sys.exit(f"{name}: {run.non_2xx} non-2xx answers, {run.socket_errors} socket errors")
            results[name].runs.append(run)
            this_round[name] = run
            log(
                f"round {round_no + 1} {name:>4}: {run.rps:7.1f} req/s  p50 {run.p50_ms:6.2f} ms  "
                f"p99 {run.p99_ms:6.2f} ms  CPU/request app {run.app_cpu_ms:.2f} ms db {run.db_cpu_ms:.2f} ms"
            )
        ratios["c_over_a"].append(this_round["ours"].rps / this_round["bare"].rps)
        ratios["c_over_b"].append(this_round["ours"].rps / this_round["dot"].rps)
    for result in results.values():
        result.rps = round(statistics.median(r.rps for r in result.runs), 1)
        result.p50_ms = round(statistics.median(r.p50_ms for r in result.runs), 2)
        result.p99_ms = round(statistics.median(r.p99_ms for r in result.runs), 2)
        result.app_cpu_ms = round(statistics.median(r.app_cpu_ms for r in result.runs), 3)
        result.db_cpu_ms = round(statistics.median(r.db_cpu_ms for r in result.runs), 3)
    return ratios


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
            p50s[(slug, label)].append(
                generator(port, path, seeded.tokens[slug], args.scale_duration, 1).p50_ms
            )
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


def page_sql(slug: str, path: str, token: str) -> str:
    """The exact page query the product runs for `path` (captured from an in-process request)."""
    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext

    with CaptureQueriesContext(connection) as queries:
        response = Client().get(path, HTTP_AUTHORIZATION=f"Bearer {token}")
    assert response.status_code == 200, response.content[:300]
    return next(q["sql"] for q in queries.captured_queries if '"photos_photo"' in q["sql"])


def query_p50(seeded: Seeded, rows: list[dict[str, Any]], repeats: int = 200) -> None:
    """The page query alone, timed from this process with nothing else of ours running: p50 per size."""
    from django.db import connection

    statements = {}
    for row in rows:
        slug, token = row["tenant"], seeded.tokens[row["tenant"]]
        statements[(slug, "first")] = page_sql(slug, VARIANTS["ours"].format(slug=slug) + PAGE, token)
        statements[(slug, "deep")] = page_sql(slug, deep_page(slug, row["deep_depth"]), token)
    timings: dict[tuple[str, str], list[float]] = {key: [] for key in statements}
    with connection.cursor() as cursor:
        for _ in range(repeats):
            for key, sql in statements.items():
                start = time.perf_counter()
                cursor.execute(sql)
                cursor.fetchall()
                timings[key].append(time.perf_counter() - start)
    for row in rows:
        for label in ("first", "deep"):
            row[f"{label}_sql_p50_ms"] = round(statistics.median(timings[(row["tenant"], label)]) * 1000, 3)


def explain(seeded: Seeded) -> str:
    """The plan of the page query the product runs for a deep page of the largest tenant."""
    from django.db import connection

    slug = max(seeded.sizes, key=lambda s: seeded.sizes[s])
    sql = page_sql(slug, deep_page(slug, int(seeded.sizes[slug] * 0.9)), seeded.tokens[slug])
    with connection.cursor() as cursor:
        cursor.execute("EXPLAIN (ANALYZE, BUFFERS, COSTS OFF, TIMING OFF) " + sql)
        plan = "\n".join(row[0] for row in cursor.fetchall())
    if "Index Scan using photo_tenant_created_idx" not in plan or "Index Cond: ((tenant_id = " not in plan:
        log("WARNING: the page query does not use the index that leads with tenant_id")
    return f"-- {slug} ({seeded.sizes[slug]:,} photos), the page at 90% depth\n{sql}\n\n{plan}"


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


def report(results: dict[str, VariantResult], scale_rows: list[dict[str, Any]], info: dict[str, Any]) -> str:
    bare, dot, ours = results["bare"], results["dot"], results["ours"]

    def row(label: str, r: VariantResult, sql: str) -> str:
        return f"| {label} | {r.rps:,.0f} | {r.p50_ms} | {r.p99_ms} | {sql} | {r.app_cpu_ms:.2f} | {r.db_cpu_ms:.2f} |"

    lines = [
        "| variant | requests/s | p50 ms | p99 ms | SQL per request | app CPU ms/request | DB CPU ms/request |",
        "|---|---:|---:|---:|---:|---:|---:|",
        row("(a) bare: no authentication or permission", bare, f"{bare.sql_per_request:g}"),
        row("(b) stock DOT: OAuth2Authentication + TokenHasScope", dot, f"{dot.sql_per_request:g}"),
        row(
            "(c) ours: /api/t/&lt;slug&gt;/photos/",
            ours,
            f"{ours.sql_per_request:g} warm, {ours.sql_cold} cold",
        ),
        "",
        f"c/a = {info['c_over_a']:.2f} (target >= 0.8; per round: {info['c_over_a_rounds']})",
        f"c/b = {info['c_over_b']:.2f} (target >= 1.5; per round: {info['c_over_b_rounds']})",
        f"CPU per request, app + DB: c/a = {info['cpu_c_over_a']:.2f}, b/c = {info['cpu_b_over_c']:.2f}",
        "",
        "| photos in the tenant | first page p50 ms | deep page p50 ms (cursor at 90%) "
        "| page query alone p50 ms: first / deep |",
        "|---:|---:|---:|---:|",
    ]
    lines += [
        f"| {r['photos']:,} | {r['first_p50_ms']} | {r['deep_p50_ms']} | {r['first_sql_p50_ms']} / {r['deep_sql_p50_ms']} |"
        for r in scale_rows
    ]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--photos", type=int, default=100_000, help="photos in the main tenant")
    parser.add_argument(
        "--sizes",
        default="1000,100000,1000000",
        help="tenant sizes for the scale check (drop 1000000 to save ~30 s)",
    )
    parser.add_argument("--duration", type=float, default=5, help="seconds per load run")
    parser.add_argument("--warmup", type=float, default=2, help="seconds of unrecorded load per variant")
    parser.add_argument("--rounds", type=int, default=5, help="interleaved rounds of the three variants")
    parser.add_argument("--connections", type=int, default=4, help="concurrent connections")
    parser.add_argument("--scale-duration", type=float, default=1, help="seconds per scale run")
    parser.add_argument("--scale-rounds", type=int, default=5, help="interleaved rounds of the scale runs")
    parser.add_argument("--workers", type=int, default=2, help="gunicorn sync workers")
    parser.add_argument("--port", type=int, default=8799)
    parser.add_argument("--reuse", action="store_true", help="keep the database of the previous run")
    parser.add_argument(
        "--database-url",
        default=os.environ.get("BENCH_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/gp_bench"),
    )
    parser.add_argument("--redis-url", default=os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/0"))
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",") if s.strip()]
    began = time.monotonic()

    env = configure(args)
    if not args.reuse:
        log(f"creating {urlparse(args.database_url).path.lstrip('/')}")
        create_database(args.database_url)
    import django

    django.setup()
    from django.core.management import call_command

    seeded_file = ROOT / "bench" / ".seeded.json"
    if args.reuse:
        seeded = Seeded(**json.loads(seeded_file.read_text()))
    else:
        call_command("migrate", verbosity=0)
        seeded = seed(args.photos, sizes)
        seeded_file.write_text(json.dumps(asdict(seeded)))
    clear_cache()
    info = machine()

    generator = wrk if shutil.which("wrk") else python_load
    log(f"load generator: {'wrk' if generator is wrk else 'Python threads (wrk not found)'}")
    server = Gunicorn(env, args.workers, args.port)
    try:
        server.wait(VARIANTS["bare"].format(slug=MAIN))
        results = probe(args.port, seeded)
        meter = CpuMeter(server.process.pid)
        ratios = load(args.port, results, seeded.tokens[MAIN], args, generator, meter)
        scale_rows = scale(args.port, seeded, args, generator)
    finally:
        server.stop()
    query_p50(seeded, scale_rows)
    plan = explain(seeded)
    clear_cache()

    bare, dot, ours = results["bare"], results["dot"], results["ours"]
    info["c_over_a"] = ours.rps / bare.rps
    info["c_over_b"] = ours.rps / dot.rps
    info["c_over_a_rounds"] = ", ".join(f"{r:.2f}" for r in ratios["c_over_a"])
    info["c_over_b_rounds"] = ", ".join(f"{r:.2f}" for r in ratios["c_over_b"])
    # Throughput the server side could reach if CPU were the only limit, relative: a over c, c over b.
    info["cpu_c_over_a"] = (bare.app_cpu_ms + bare.db_cpu_ms) / (ours.app_cpu_ms + ours.db_cpu_ms)
    info["cpu_b_over_c"] = (dot.app_cpu_ms + dot.db_cpu_ms) / (ours.app_cpu_ms + ours.db_cpu_ms)
    table = report(results, scale_rows, info)
    if len(scale_rows) > 1:
        small, large = scale_rows[0], scale_rows[-1]  # sorted by size
        for label in ("first", "deep"):
            info[f"{label}_p50_largest_over_smallest"] = large[f"{label}_p50_ms"] / small[f"{label}_p50_ms"]
    summary = {
        "settings": {
            "photos_main_tenant": args.photos,
            "sizes": sizes,
            "gunicorn_workers": args.workers,
            "connections": args.connections,
            "duration_s": args.duration,
            "rounds": args.rounds,
            "load_generator": "wrk" if generator is wrk else "python",
        },
        "machine": info,
        "variants": {name: asdict(result) for name, result in results.items()},
        "scale": scale_rows,
        "plan": plan,
        "table": table,
        "seconds": round(time.monotonic() - began, 1),
    }
    RESULTS.write_text(json.dumps(summary, indent=2, default=str))
    print()
    print(
        f"Machine: {info['nproc']} CPUs ({info['cpu']}), {info['memory_gib']} GiB RAM, PostgreSQL {info['postgresql']}"
    )
    print(f"Load average at start: {' '.join(f'{x:.2f}' for x in info['load_average_at_start'])}")
    print(
        f"gunicorn: {args.workers} sync workers; load: {args.connections} connections; "
        f"medians of {args.rounds} interleaved rounds of {args.duration:g} s"
    )
    print()
    print(table)
    if "first_p50_largest_over_smallest" in info:
        print(
            f"\np50, largest / smallest tenant: first page {info['first_p50_largest_over_smallest']:.2f}, "
            f"deep page {info['deep_p50_largest_over_smallest']:.2f} (target <= 1.2)"
        )
    print()
    print(plan)
    print()
    log(f"done in {summary['seconds']} s; results in {RESULTS.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
