"""`make bench`: how much the product's authorization costs on its photo list, measured end to end.

1. A fresh PostgreSQL database (its name must start with `gp_bench`) owned by an owner role, which
   migrates it and runs `setup_rls` for a runtime role, as deployed; then seeded with SQL
   (bench/seed.py). The server connects as the runtime role, under row-level security, in every
   variant.
2. gunicorn (2 sync workers) on the product's WSGI app with the benchmark's settings and Redis;
   a second one with Django's default middleware only (bench/settings_plain.py) for variant plain.
3. wrk (Debian's package; a small Python load generator if wrk is missing) loads the first page
   (20 photos) through plain, (a) bare, (b) stock DOT, the do-it-yourself stack (stock DOT plus
   django-guardian, bench/diy.py) and (c) ours, in paired rounds (each variant once per round,
   order rotating), after checking they answer the same bytes. Then two scenarios, bare against
   ours: cold (a random token of 100,000 over 1,000 tenants per request, about nine in ten new to
   the worker that answers it, which keeps 10,000 contexts; the tokens stand on 5,000 grants, and
   ours first runs the same load unrecorded for a minute (--cold-warmup), so that its workers hold
   most grants, as a worker that has served a while does: the report says how many each held and
   how many of ours' pages read their grant during the rounds; ours is run a second time holding
   nothing, each request its grant's first use, as in a worker just started:
   bench.middleware.forget_held) and revocations (a token of the main tenant revoked every 100 ms
   by a side process).
4. Scenario (c): ours with an album-limited token (RFC 9396 grants) against bare on the same rows
   (bench/albums.py). The OAuth endpoints, ours against stock DOT's (bench/oauth_phase.py): the
   refresh and client-credentials grants, introspection and revocation. p50 of the first and of a
   deep cursor page for each tenant size, and the page query's plan.
5. A profile by function of what ours adds per request over bare (bench/profile.py).
6. Tables on stdout and the same numbers in bench/results.json, with the load average before and
   after, the share of the CPUs other processes used during the runs and the spread of the rounds:
   a warning says when the machine was too busy for the figures to be trusted.

Every scenario analyzes the tables it wrote before it is measured (stale statistics misplan).

BENCH_QUICK=1 shrinks every phase (about two minutes): a smoke run that everything works end to end,
not a measurement. Every phase is bounded: the run stops by itself.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import sys
import time
from dataclasses import asdict, replace
from typing import Any

from bench.infra import (
    PAGE,
    PLAIN_SETTINGS,
    QUICK,
    RESULTS,
    ROOT,
    TARGETS,
    VARIANTS,
    Gunicorn,
    RedisServer,
    Revoker,
    Roles,
    clear_cache,
    configure,
    create_database,
    free_port,
    machine,
    migrate,
    roles_for,
)
from bench.load import CpuMeter, Target, get, python_load, wrk
from bench.middleware import UNHELD_PREFIX
from bench.probes import (
    Held,
    album_phase,
    explain,
    grants_held,
    probe,
    probe_tokens,
    profile,
    query_p50,
    scale,
)
from bench.seed import MAIN, MEMBERS_PER_COLD_TENANT, Seeded, log, mint_revocable, seed, seed_guardian
from bench.stats import LOAD_SAMPLES, Variant, interleaved, medians, paired, ratio_line, variant_table

# --- Environment: the runner (owner) and the server side (runtime role) differ only in who connects.


# --- The server and the side process


# --- Paired rounds


# --- Phases


# --- Report


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
        "--rounds", type=int, default=2 if q else 15, help="paired rounds of plain, bare, DOT, diy and ours"
    )
    parser.add_argument(
        "--cold-rounds", type=int, default=2 if q else 8, help="paired rounds of scenario (a)"
    )
    parser.add_argument(
        "--cold-warmup",
        type=float,
        default=1 if q else 60,
        help="seconds of unrecorded load for ours in scenario (a), so that its workers hold most grants",
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
    parser.add_argument(
        "--oauth-rounds", type=int, default=2 if q else 6, help="paired rounds per OAuth endpoint"
    )
    parser.add_argument(
        "--oauth-rate",
        type=int,
        default=800,
        help="requests/s an OAuth endpoint may reach: refresh tokens and tokens to revoke are minted for it"
        " (with room for a run half as fast again as the last; minting is one statement, so room is cheap)",
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
        help="comma-separated phases to leave out: main, cold, revocations, albums, oauth, scale, profile",
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
        seed_guardian(seeded)
        seeded_file.write_text(json.dumps(asdict(seeded)))
    clear_cache()
    info = machine()

    generator = wrk if shutil.which("wrk") else python_load
    log(
        f"load generator: {'wrk' if generator is wrk else 'Python threads (wrk not found)'}; port {args.port}"
    )
    plain_port = free_port()
    main_targets = {
        name: Target(
            path=template.format(slug=MAIN) + PAGE,
            token=seeded.tokens[MAIN],
            port=plain_port if name == "plain" else 0,
        )
        for name, template in VARIANTS.items()
    }

    def tokens_target(name: str, token_file: str) -> Target:
        prefix, _, suffix = VARIANTS[name].partition("{slug}")
        return Target(path=prefix, token_file=token_file, suffix=suffix + PAGE)

    cold_targets = {name: tokens_target(name, seeded.cold_file) for name in ("bare", "ours")}
    # Ours again, holding nothing: every request is its grant's first use in the worker.
    cold_targets["unheld"] = replace(cold_targets["ours"], path=UNHELD_PREFIX + cold_targets["ours"].path)
    pool_targets = {name: tokens_target(name, seeded.pool_file) for name in ("bare", "ours")}

    server = Gunicorn(server_env, args.workers, args.port)
    plain_server = Gunicorn(
        {**server_env, "DJANGO_SETTINGS_MODULE": PLAIN_SETTINGS}, args.workers, plain_port
    )
    revoker: Revoker | None = None
    plain: dict[str, Variant] = {}
    oauth: dict[str, dict[str, Variant]] = {}
    oauth_sql: dict[str, dict[str, int]] = {}
    cold: dict[str, Variant] = {}
    cold_held: dict[str, dict[int, Held]] = {}  # after the warm-ups, at the end: by worker pid
    revoking: dict[str, Variant] = {}
    revoked_after: dict[str, int] = {}
    limited: dict[str, Variant] = {}
    scale_rows: list[dict[str, Any]] = []
    try:
        server.wait(main_targets["bare"].path)
        plain_server.wait(main_targets["plain"].path)
        sql = probe(args.port, plain_port, seeded)
        sql["cold scenario"] = probe_tokens(args.port, cold_targets)
        probe_tokens(args.port, pool_targets)
        meter = CpuMeter(
            {args.port: server.process.pid, plain_port: plain_server.process.pid},
            roles.runtime,
            cache_server.process.pid if cache_server else None,
        )
        if "main" not in skip:
            plain = {name: Variant(target) for name, target in main_targets.items()}
            interleaved("warm", plain, args.rounds, args, generator, meter)
        if "cold" not in skip:
            cold = {name: Variant(target) for name, target in cold_targets.items()}
            # A worker that has served a while holds the grants it met (the per-process cache holds
            # up to 10,000): ours first runs the same load for a minute, unrecorded. Its variant
            # "holding nothing" is the other end: a worker just started.
            cold["ours"].warmup = max(args.warmup, args.cold_warmup)

            def held_after_warmup() -> None:
                cold_held["warmed"] = grants_held(args.port, cold_targets["unheld"], args.workers)

            interleaved("(a) cold", cold, args.cold_rounds, args, generator, meter, held_after_warmup)
            cold_held["end"] = grants_held(args.port, cold_targets["unheld"], args.workers)
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
        if "oauth" not in skip:
            from bench.oauth_phase import oauth_phase

            oauth, oauth_sql = oauth_phase(args, seeded, generator, meter)
        if "scale" not in skip:
            scale_rows = scale(args.port, seeded, args, generator)
    finally:
        if revoker is not None:
            revoker.stop()
        server.stop()
        plain_server.stop()
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
                (
                    "plain: bare's view, Django's default middleware only",
                    plain["plain"],
                    f"{sql['plain']['warm']}",
                ),
                ("(a) bare: no authentication or permission", plain["bare"], f"{sql['bare']['warm']}"),
                (
                    "(b) stock DOT: OAuth2Authentication + TokenHasScope",
                    plain["dot"],
                    f"{sql['dot']['warm']}",
                ),
                (
                    "diy: stock DOT + django-guardian object permissions",
                    plain["diy"],
                    f"{sql['diy']['warm']}",
                ),
                (
                    "(c) ours: /api/t/&lt;slug&gt;/photos/",
                    plain["ours"],
                    f"{sql['ours']['warm']} warm, {sql['ours']['cold']} cold, "
                    f"{sql['ours']['after first use']} warm after a first use",
                ),
            ]
        )
        c_a, c_b = paired(plain["ours"], plain["bare"]), paired(plain["ours"], plain["dot"])
        diy, bare_plain = paired(plain["ours"], plain["diy"]), paired(plain["bare"], plain["plain"])
        lines += [
            "",
            ratio_line("c/a (ours/bare)", c_a, TARGETS["warm"]),
            ratio_line("c/b (ours/stock DOT)", c_b, TARGETS["dot"]),
            ratio_line("ours/diy (ours/the do-it-yourself stack)", diy, TARGETS["diy"]),
            ratio_line("bare/plain (the project's own stack)", bare_plain, TARGETS["plain"]),
        ]
        summary["plain"] = {
            name: {**medians(v), "runs": [asdict(r) for r in v.runs]} for name, v in plain.items()
        }
        summary["plain_ratios"] = {"c_over_a": c_a, "c_over_b": c_b}
        summary["diy_ratio"] = diy
        summary["bare_over_plain"] = bare_plain
    if cold:
        n_tenants, n_tokens = seeded.cold_tenants, seeded.cold_tokens
        n_grants = n_tenants * MEMBERS_PER_COLD_TENANT

        def held_list(when: str) -> str:
            return ", ".join(f"{held.grants:,}" for _, held in sorted(cold_held.get(when, {}).items()))

        warmed, end = cold_held.get("warmed", {}), cold_held.get("end", {})
        pages = sum(h.api_pages - warmed[pid].api_pages for pid, h in end.items() if pid in warmed)
        reads = sum(h.grant_reads - warmed[pid].grant_reads for pid, h in end.items() if pid in warmed)
        share = reads / pages if pages else 0.0
        lines += [
            "",
            f"Scenario (a), cold: {n_tokens:,} live tokens over {n_tenants:,} tenants, a random one per request",
            *variant_table(
                [
                    ("bare: enters the URL's tenant", cold["bare"], f"{sql['cold scenario']['bare']}"),
                    ("ours", cold["ours"], f"{sql['cold scenario']['ours']} on a grant's first use, else 2"),
                    (
                        "ours, holding nothing: each request its grant's first use",
                        cold["unheld"],
                        f"{sql['cold scenario']['unheld']}",
                    ),
                ]
            ),
            "",
            ratio_line("ours/bare, cold", paired(cold["ours"], cold["bare"]), TARGETS["cold"]),
            ratio_line("ours holding nothing/bare, cold (no target)", paired(cold["unheld"], cold["bare"])),
            f"ours warmed up for {cold['ours'].warmup:g} s first; grants held by each worker after the "
            f"warm-ups: {held_list('warmed')}, at the end: {held_list('end')} (of the scenario's "
            f"{n_grants:,}, and the few the other phases use); ours' pages that read their grant (its "
            f"first use in the worker) during the rounds: {reads:,} of {pages:,} ({share:.0%})",
        ]
        summary["cold"] = {
            name: {**medians(v), "runs": [asdict(r) for r in v.runs]} for name, v in cold.items()
        }
        summary["cold_ratio"] = paired(cold["ours"], cold["bare"])
        summary["cold_unheld_ratio"] = paired(cold["unheld"], cold["bare"])
        summary["cold_warmup_seconds"] = cold["ours"].warmup
        summary["cold_grants"] = n_grants
        summary["cold_grants_held"] = {
            when: [asdict(held) for _, held in sorted(by_pid.items())] for when, by_pid in cold_held.items()
        }
        summary["cold_grant_reads"] = {"pages": pages, "grant_reads": reads, "share": round(share, 3)}
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
            ratio_line("ours/bare, revoking", paired(noisy, revoking["bare (b)"]), TARGETS["revocations"]),
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
            ratio_line(
                "ours/bare, album-limited", paired(limited["ours"], limited["bare"]), TARGETS["albums"]
            ),
        ]
        summary["albums"] = {
            name: {**medians(v), "runs": [asdict(r) for r in v.runs]} for name, v in limited.items()
        }
        summary["album_ratio"] = paired(limited["ours"], limited["bare"])
    if oauth:
        from bench.oauth_phase import OURS, TITLES

        lines += [
            "",
            "OAuth endpoints, ours against stock DOT's views, validator and core on the same database "
            "(bench/oauth.py); SQL per request as probed",
        ]
        rows: list[tuple[str, Variant, str]] = []
        for endpoint, variants in oauth.items():
            rows += [
                (
                    f"{TITLES[endpoint]}: ours {OURS[endpoint]}",
                    variants["ours"],
                    str(oauth_sql[endpoint]["ours"]),
                ),
                (
                    f"{TITLES[endpoint]}: stock DOT /bench/dot/t/&lt;slug&gt;{OURS[endpoint]}",
                    variants["dot"],
                    str(oauth_sql[endpoint]["dot"]),
                ),
            ]
        lines += variant_table(rows)
        lines.append("")
        summary["oauth"] = {
            endpoint: {
                name: {**medians(v), "runs": [asdict(r) for r in v.runs]} for name, v in variants.items()
            }
            for endpoint, variants in oauth.items()
        }
        summary["oauth_ratios"] = {}
        for endpoint, variants in oauth.items():
            ratio = paired(variants["ours"], variants["dot"])
            summary["oauth_ratios"][endpoint] = ratio
            lines.append(ratio_line(f"ours/stock DOT, {endpoint}", ratio, TARGETS["oauth"]))
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
    phases: list[dict[str, Variant]] = [plain, cold, revoking, limited, *oauth.values()]
    trusted = trust(info, summary, [run for phase in phases for v in phase.values() for run in v.runs])
    lines = [*trusted["lines"], *lines]
    summary["trust"] = {k: v for k, v in trusted.items() if k != "lines"}
    report = "\n".join(lines)
    summary["table"] = report
    summary["seconds"] = round(time.monotonic() - began, 1)
    RESULTS.write_text(json.dumps(summary, indent=2, default=str))

    print()
    print(
        f"Machine: {info['nproc']} CPUs ({info['cpu']}), {info['memory_gib']} GiB RAM, PostgreSQL {info['postgresql']}"
    )
    print(f"Load average at start: {' '.join(f'{x:.2f}' for x in info['load_average_at_start'])}; at the end: "
          f"{' '.join(f'{x:.2f}' for x in summary['trust']['load_average_at_end'])}")  # fmt: skip
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
    for warning in summary["trust"]["warnings"]:
        log(f"WARNING: {warning}")
    log(f"done in {summary['seconds']} s; results in {RESULTS.relative_to(ROOT)}")


# A machine is "busy" when someone else used this much of it during the runs, or was already
# loading it when the run began; a ratio's rounds "spread" when their interquartile range is
# this wide against the median. Either way the figures are reported, with a warning.
BUSY_SHARE = 0.15  # median share of all CPUs used by other processes during the measured runs
BUSY_LOAD_PER_CPU = 0.5  # 1-minute load average at the start, per CPU
WIDE_SPREAD = 0.25  # (q3 - q1) / median of a ratio, by server CPU per request


def trust(info: dict[str, Any], summary: dict[str, Any], runs: list[Any]) -> dict[str, Any]:
    """Whether the machine was quiet enough: load average before and after, other processes' share
    of the CPUs during the runs, and the spread of every ratio's rounds; warnings if not."""
    nproc = info["nproc"] or 1
    start, end = info["load_average_at_start"], os.getloadavg()
    shares = sorted(run.others_share for run in runs)
    others = statistics.median(shares) if shares else 0.0
    ratios: dict[str, dict[str, Any]] = {}
    for key in ("plain_ratios", "oauth_ratios"):
        for name, ratio in summary.get(key, {}).items():
            ratios[f"{key}.{name}"] = ratio
    for key in (
        "diy_ratio",
        "bare_over_plain",
        "cold_ratio",
        "cold_unheld_ratio",
        "revocation_ratio",
        "album_ratio",
    ):
        if key in summary:
            ratios[key] = summary[key]
    spreads = {
        name: round((r["q3"] - r["q1"]) / r["median"], 3) for name, r in ratios.items() if r["median"] > 0
    }
    warnings = []
    if start[0] > BUSY_LOAD_PER_CPU * nproc:
        warnings.append(
            f"the machine was busy before the run: load average {start[0]:.2f} on {nproc} CPUs "
            f"(quiet: below {BUSY_LOAD_PER_CPU * nproc:.1f})"
        )
    if others > BUSY_SHARE:
        warnings.append(
            f"other processes used {others:.0%} of the CPUs during the measured runs (median; "
            f"most {shares[-1]:.0%}): the machine was busy, throughput and CPU figures are not to be trusted"
        )
    wide = {name: spread for name, spread in spreads.items() if spread > WIDE_SPREAD}
    if wide:
        warnings.append(
            "the rounds spread widely (interquartile range / median above "
            f"{WIDE_SPREAD}): " + ", ".join(f"{name} {spread:.2f}" for name, spread in wide.items())
        )
    samples = LOAD_SAMPLES or [0.0]
    lines = [
        f"Load average (1, 5, 15 min) before: {' '.join(f'{x:.2f}' for x in start)}; after: "
        f"{' '.join(f'{x:.2f}' for x in end)}; 1-minute load during the rounds (the benchmark's own "
        f"included) {min(samples):.2f} to {max(samples):.2f}",
        f"Other processes' share of the {nproc} CPUs during the measured runs: median {others:.0%}, "
        f"most {shares[-1] if shares else 0:.0%}",
        "Spread of the rounds, (q3 - q1) / median by server CPU: "
        + ", ".join(f"{name} {spread:.2f}" for name, spread in spreads.items()),
        *(f"WARNING: {warning}" for warning in warnings),
        "",
    ]
    return {
        "load_average_at_start": start,
        "load_average_at_end": end,
        "load_1min_during_rounds": {"min": min(samples), "max": max(samples)},
        "others_cpu_share": {"median": others, "max": shares[-1] if shares else 0.0},
        "spreads": spreads,
        "busy": bool(warnings),
        "warnings": warnings,
        "lines": lines,
    }


if __name__ == "__main__":
    main()
