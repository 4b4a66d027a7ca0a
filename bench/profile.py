"""What ours adds per request over bare, by function: one process, Django's WSGI handler, no HTTP.

`python -m bench.profile '<json>'` in the server's environment (runtime role, same cache, same
settings as gunicorn). The JSON gives the two paths, the token and the counts. It prints one line,
`PROFILE_JSON {...}`; `table()` turns it into the report.

1. Warm up both variants, then time them unprofiled in alternating batches (median of the
   batches, wall clock and this process's CPU): the true extra per request.
2. Run each under cProfile (wall clock, so waiting for PostgreSQL or Redis shows as time spent in
   the call that waits), again in alternating chunks, and subtract bare's self time per function
   from ours'.

Functions are grouped by where they live: the project's modules by name (that is where ours'
logic is, whatever it is called), libraries by package; a built-in (a socket read, psycopg's wait)
is charged to the package that called it, and a wait on the network is labelled so. cProfile makes
Python calls slower, so the profiled totals exceed the unprofiled ones: the unprofiled difference
is the figure, the profile says where it goes.
"""

from __future__ import annotations

import cProfile
import io
import json
import pstats
import statistics
import sys
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

import django

ROOT = Path(__file__).resolve().parent.parent
WAITS = ("recv", "send", "wait", "select", "poll", "connect", "sendall")
CLIENTS = ("psycopg", "redis client")
PACKAGES = {
    "rest_framework": "DRF",
    "oauth2_provider": "DOT",
    "oauthlib": "DOT",
    "redis": "redis client",
    "django_redis": "redis client",
    "psycopg": "psycopg",
    "psycopg_binary": "psycopg",
    "psycopg_c": "psycopg",
}


def group_of(filename: str) -> str:
    """The group a Python function belongs to, from its file."""
    path = Path(filename)
    parts = path.parts
    if "site-packages" in parts:
        package = parts[parts.index("site-packages") + 1]
        if package == "django":
            return "django.db" if parts[parts.index("site-packages") + 2] == "db" else "django (other)"
        return PACKAGES.get(package, package)
    try:
        relative = path.resolve().relative_to(ROOT)
    except ValueError:
        return "python stdlib"
    return ".".join(relative.with_suffix("").parts)


def label_of(func: tuple[str, int, str]) -> str:
    filename, _line, name = func
    if filename == "~":
        return name
    return f"{group_of(filename)}:{name}"


def self_times(stats: pstats.Stats, requests: int) -> tuple[dict[str, float], dict[str, float]]:
    """µs per request of self time, by group and by function (built-ins charged to their callers)."""
    groups: dict[str, float] = defaultdict(float)
    functions: dict[str, float] = defaultdict(float)
    for func, (_cc, _nc, tt, _ct, callers) in stats.stats.items():  # type: ignore[attr-defined]
        filename, _line, name = func
        if filename != "~":
            group = group_of(filename)
            # A client library's own wait loop (psycopg's) is waiting too, not Python work.
            waiting = group in CLIENTS and any(word in name for word in WAITS)
            groups[f"waiting: {group}" if waiting else group] += tt
            functions[label_of(func)] += tt
            continue
        waiting = any(word in name for word in WAITS)
        charged = 0.0
        for caller, edge in callers.items():
            caller_group = "builtins" if caller[0] == "~" else group_of(caller[0])
            share = edge[2]
            charged += share
            key = f"waiting: {caller_group}" if waiting else caller_group
            groups[key] += share
            functions[f"{caller_group}: {name}"] += share
        if tt - charged > 1e-9:  # no caller recorded (the profile's entry point)
            groups["builtins"] += tt - charged
            functions[name] += tt - charged
    scale = 1e6 / requests
    return {k: v * scale for k, v in groups.items()}, {k: v * scale for k, v in functions.items()}


def main() -> None:
    spec = json.loads(sys.argv[1])
    django.setup()
    from django.core.wsgi import get_wsgi_application

    app = get_wsgi_application()
    token = spec["token"]

    def environ(path: str) -> dict[str, Any]:
        path_info, _, query = path.partition("?")
        return {
            "REQUEST_METHOD": "GET",
            "PATH_INFO": path_info,
            "QUERY_STRING": query,
            "SCRIPT_NAME": "",
            "SERVER_NAME": "127.0.0.1",
            "SERVER_PORT": "80",
            "SERVER_PROTOCOL": "HTTP/1.1",
            "HTTP_HOST": "127.0.0.1",
            "HTTP_AUTHORIZATION": f"Bearer {token}",
            "REMOTE_ADDR": "127.0.0.1",
            "wsgi.version": (1, 0),
            "wsgi.url_scheme": "http",
            "wsgi.input": io.BytesIO(b""),
            "wsgi.errors": sys.stderr,
            "wsgi.multithread": False,
            "wsgi.multiprocess": True,
            "wsgi.run_once": False,
        }

    statuses: list[str] = []

    def start_response(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
        statuses.append(status)
        return lambda data: None

    def call(path: str) -> None:
        result = app(environ(path), start_response)
        try:
            b"".join(result)
        finally:
            result.close()  # request_finished, as gunicorn sends it
        if not statuses[-1].startswith("200"):
            raise SystemExit(f"{path}: {statuses[-1]}")
        statuses.clear()

    paths: dict[str, str] = spec["variants"]
    for _ in range(spec["warmup"]):
        for path in paths.values():
            call(path)
    wall: dict[str, list[float]] = {name: [] for name in paths}
    cpu: dict[str, list[float]] = {name: [] for name in paths}
    names = list(paths)
    for batch in range(spec["batches"]):
        for name in names[batch % len(names) :] + names[: batch % len(names)]:
            w0, c0 = time.perf_counter(), time.process_time()
            for _ in range(spec["per_batch"]):
                call(paths[name])
            wall[name].append((time.perf_counter() - w0) * 1e6 / spec["per_batch"])
            cpu[name].append((time.process_time() - c0) * 1e6 / spec["per_batch"])
    # Profiled the same way: alternating chunks, so both variants see the same background load.
    profilers = {name: cProfile.Profile() for name in paths}
    chunk = 10  # small chunks: both variants share whatever else the machine is doing
    for index in range(max(1, spec["profiled"] // chunk)):
        for name in names[index % len(names) :] + names[: index % len(names)]:
            profilers[name].enable()
            for _ in range(chunk):
                call(paths[name])
            profilers[name].disable()
    profiled = max(1, spec["profiled"] // chunk) * chunk
    profiles = {}
    for name, profiler in profilers.items():
        groups, functions = self_times(pstats.Stats(profiler), profiled)
        profiles[name] = {"groups": groups, "functions": functions}
    result = {
        "requests_timed": spec["batches"] * spec["per_batch"],
        "requests_profiled": profiled,
        "wall_us": {name: statistics.median(v) for name, v in wall.items()},
        "cpu_us": {name: statistics.median(v) for name, v in cpu.items()},
        "profiles": profiles,
    }
    print("PROFILE_JSON " + json.dumps(result), flush=True)


def table(data: dict[str, Any], base: str = "bare", subject: str = "ours", rows: int = 12) -> str:
    """The report: unprofiled totals, then the extra µs per request by group and by function."""
    wall, cpu = data["wall_us"], data["cpu_us"]
    extra_wall = wall[subject] - wall[base]
    extra_cpu = cpu[subject] - cpu[base]
    lines = [
        f"In one process through the WSGI handler, unprofiled (median of alternating batches, "
        f"{data['requests_timed']} requests each): {base} {wall[base]:.0f} µs, {subject} {wall[subject]:.0f} µs "
        f"per request; {subject} adds {extra_wall:.0f} µs, of which {extra_cpu:.0f} µs is this process's CPU "
        f"and {extra_wall - extra_cpu:.0f} µs waiting (the database's and Redis' side of the round trips).",
        "",
    ]

    def section(kind: str, title: str) -> None:
        mine, theirs = data["profiles"][subject][kind], data["profiles"][base][kind]
        keys = set(mine) | set(theirs)
        diffs = sorted(((mine.get(k, 0.0) - theirs.get(k, 0.0), k) for k in keys), key=lambda d: -abs(d[0]))
        shown = sorted((d for d in diffs[:rows] if abs(d[0]) >= 1.0), reverse=True)
        rest = sum(d for d, _ in diffs) - sum(d for d, _ in shown)
        lines.append(f"| {title} | {base} µs | {subject} µs | extra µs |")
        lines.append("|---|---:|---:|---:|")
        for diff, key in shown:
            lines.append(f"| {key} | {theirs.get(key, 0.0):.1f} | {mine.get(key, 0.0):.1f} | {diff:+.1f} |")
        lines.append(f"| everything else | | | {rest:+.1f} |")
        total_base, total_mine = sum(theirs.values()), sum(mine.values())
        lines.append(
            f"| total (profiled) | {total_base:.0f} | {total_mine:.0f} | {total_mine - total_base:+.0f} |"
        )
        lines.append("")

    section("groups", "self time per request, by where it is spent")
    section("functions", "self time per request, by function")
    return "\n".join(lines).rstrip()


if __name__ == "__main__":
    main()
