"""What the benchmark measures besides throughput: the same page everywhere, SQL per request, deep pages, EXPLAIN, profiles."""

from __future__ import annotations

import argparse
import json
import random
import re
import statistics
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs, urlparse

from bench.infra import (
    PAGE,
    QUICK,
    ROOT,
    VARIANTS,
    Roles,
    as_runtime,
)
from bench.load import CpuMeter, Target, get, read_tokens
from bench.seed import MAIN, Seeded, log
from bench.stats import Variant, interleaved


def probe(port: int, plain_port: int, seeded: Seeded) -> dict[str, dict[str, Any]]:
    """Every variant answers 200 with the same page; SQL per request warm, then cold for ours.

    Variant plain is served by the second server, on `plain_port`.
    """
    token = seeded.tokens[MAIN]
    pages: dict[str, dict[str, Any]] = {}
    sql: dict[str, dict[str, Any]] = {}
    for name, template in VARIANTS.items():
        path = template.format(slug=MAIN) + PAGE
        counts = []
        for _ in range(20):
            status, headers, body = get(plain_port if name == "plain" else port, path, token)
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
    same_page(pages, "the variants")
    log(f"probe: {', '.join(pages)} answer the same {len(pages['ours']['results'])} rows and next cursor")
    return sql


def same_page(pages: dict[str, dict[str, Any]], who: str) -> None:
    # Absolute links name the server's port, and variant plain has a server of its own.
    shapes = {
        name: re.sub(
            r"http://127\.0\.0\.1:\d+/",
            "/",
            json.dumps([page["results"], parse_qs(urlparse(page["next"]).query)["cursor"]]),
        )
        for name, page in pages.items()
    }
    if len(set(shapes.values())) != 1:
        first = next(iter(shapes))
        differ = [name for name, shape in shapes.items() if shape != shapes[first]]
        sys.exit(
            f"{who} did not answer the same page ({', '.join(differ)} differ from {first}): "
            f"the comparison would be unfair."
        )


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


@dataclass(frozen=True)
class Held:
    """One worker's `X-Bench-Held` (bench.middleware.count_sql)."""

    grants: int  # grants it holds now
    api_pages: int  # API list pages it has answered
    grant_reads: int  # of them, reading their grant (its first use in the worker)


def grants_held(port: int, target: Target, workers: int) -> dict[int, Held]:
    """What each worker holds and has done (`X-Bench-Held`), by worker pid, asked with `target`'s
    tokens until every worker has answered (at most 40 requests a worker). Pass the holding-nothing
    target: its requests are not API pages to the count and add no grant to what a worker holds."""
    lines = read_tokens(target)
    chooser = random.Random(2)  # noqa: S311 - sampling, not security
    held: dict[int, Held] = {}
    # Requests one at a time would mostly reach the worker that answered the last one: send a few at
    # once, so that every worker is busy.
    with ThreadPoolExecutor(max_workers=2 * workers) as pool:
        for _ in range(20):
            picked = [chooser.choice(lines) for _ in range(2 * workers)]
            for (path, _token), (status, headers, body) in zip(
                picked, pool.map(lambda line: get(port, *line), picked), strict=True
            ):
                if status != 200:
                    sys.exit(f"{path} answered {status}: {body[:300]!r}")
                pid, grants, pages, reads = map(int, headers["x-bench-held"].split())
                held[pid] = Held(grants, pages, reads)
            if len(held) == workers:
                break
    if len(held) < workers:
        log(f"WARNING: only {len(held)} of {workers} workers answered; the grants held are theirs only")
    return held


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
    # DRF's cursor position is the ordering field's value as text (its stubs say int).
    cursor: Any = Cursor(offset=0, reverse=False, position=str(created))  # type: ignore[arg-type]
    return pagination.encode_cursor(cursor)


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
