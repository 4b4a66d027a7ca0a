"""Load generation and measurement: wrk (or a Python fallback), and the server side's CPU from /proc.

A load target is either one URL with one token (the plain run) or a token file: one
`<tenant slug> <token>` line each, a random line per request, the URL built as
`<prefix><slug><suffix>` (scenarios (a) and (b)).
"""

from __future__ import annotations

import http.client
import json
import os
import random
import subprocess
import threading
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
REPORT_LUA = ROOT / "bench" / "wrk_report.lua"
TOKENS_LUA = ROOT / "bench" / "wrk_tokens.lua"


@dataclass(frozen=True)
class Target:
    """What one load run asks for: `path` with `token`, or a random line of `token_file` per request."""

    path: str  # the fixed path, or the prefix before the tenant slug (token file)
    token: str = ""
    token_file: str = ""
    suffix: str = ""  # after the tenant slug (token file)

    def for_slug(self, slug: str) -> str:
        return f"{self.path}{slug}{self.suffix}"


@dataclass
class Run:
    """One load run of one target, and the CPU the server side spent on it."""

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
    cache_cpu_ms: float = 0.0  # the benchmark's own redis-server's CPU per request (0 if not metered)

    @property
    def cpu_ms(self) -> float:
        return self.app_cpu_ms + self.db_cpu_ms + self.cache_cpu_ms


def get(port: int, path: str, token: str | None = None) -> tuple[int, dict[str, str], bytes]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        conn.request("GET", path, headers={"Authorization": f"Bearer {token}"} if token else {})
        response = conn.getresponse()
        return response.status, {k.lower(): v for k, v in response.getheaders()}, response.read()
    finally:
        conn.close()


def wrk(port: int, target: Target, seconds: float, connections: int) -> Run:
    command = [
        "wrk",
        "-t1",
        f"-c{connections}",
        f"-d{max(1, round(seconds))}s",
        "--latency",
        "--timeout",
        "10s",
    ]
    if target.token_file:
        command += ["-s", str(TOKENS_LUA), f"http://127.0.0.1:{port}/"]
        command += ["--", target.token_file, target.path, target.suffix]
    else:
        command += ["-H", f"Authorization: Bearer {target.token}", "-s", str(REPORT_LUA)]
        command += [f"http://127.0.0.1:{port}{target.path}"]
    done = subprocess.run(command, capture_output=True, text=True, timeout=seconds + 60, check=True)  # noqa: S603
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


def read_tokens(target: Target) -> list[tuple[str, str]]:
    """(path, token) pairs of a token file target."""
    pairs = []
    for line in Path(target.token_file).read_text().splitlines():
        slug, token = line.split()
        pairs.append((target.for_slug(slug), token))
    return pairs


def python_load(port: int, target: Target, seconds: float, connections: int) -> Run:
    """The fallback when wrk is missing: `connections` threads, one request at a time each."""
    pairs = read_tokens(target) if target.token_file else [(target.path, target.token)]
    latencies: list[float] = []
    failures = [0, 0]
    lock = threading.Lock()
    stop_at = time.monotonic() + seconds

    def worker() -> None:
        mine: list[float] = []
        bad = errors = 0
        chooser = random.Random()  # noqa: S311 - load spreading, not security
        while time.monotonic() < stop_at:
            path, token = chooser.choice(pairs)
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
    """CPU time of the gunicorn workers and of their PostgreSQL backends, from /proc.

    Throughput on a shared two-core machine swings with whatever else runs; the CPU each request
    costs the server side hardly does, so the report gives both. The server side includes the
    cache: a redis-server the benchmark started for itself is metered too. The backends are the runtime
    role's connections to the benchmark's database, listed again at every sample (and counted only
    when present at both ends of a run), minus `exclude`: scenario (b)'s side process is not part
    of serving the load.
    """

    def __init__(self, master_pid: int, role: str, cache_pid: int | None) -> None:
        self.master_pid = master_pid
        self.role = role
        self.cache_pid = cache_pid  # a redis-server of the benchmark's own, or None (shared: not metered)
        self.exclude: set[int] = set()
        self.tick = os.sysconf("SC_CLK_TCK")

    def _workers(self) -> list[int]:
        children = Path(f"/proc/{self.master_pid}/task/{self.master_pid}/children")
        return [int(pid) for pid in children.read_text().split()]

    def _backends(self) -> list[int]:
        from django.db import connection

        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND usename = %s",
                [self.role],
            )
            return [row[0] for row in cursor.fetchall() if row[0] not in self.exclude]

    def _seconds(self, pids: list[int]) -> dict[int, float]:
        times = {}
        for pid in pids:
            try:
                fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            except FileNotFoundError:
                continue
            times[pid] = (int(fields[11]) + int(fields[12])) / self.tick  # utime, stime
        return times

    def sample(self) -> tuple[dict[int, float], dict[int, float], dict[int, float]]:
        cache = self._seconds([self.cache_pid]) if self.cache_pid else {}
        return self._seconds(self._workers()), self._seconds(self._backends()), cache

    @staticmethod
    def spent(before: dict[int, float], after: dict[int, float]) -> float:
        return sum(after[pid] - before[pid] for pid in after if pid in before)


def measured(
    generator: object, meter: CpuMeter, port: int, target: Target, seconds: float, connections: int
) -> Run:
    """One load run with the server side's CPU per request."""
    app0, db0, cache0 = meter.sample()
    run: Run = generator(port, target, seconds, connections)  # type: ignore[operator]
    app1, db1, cache1 = meter.sample()
    if run.requests:
        run.app_cpu_ms = round(CpuMeter.spent(app0, app1) * 1000 / run.requests, 3)
        run.db_cpu_ms = round(CpuMeter.spent(db0, db1) * 1000 / run.requests, 3)
        run.cache_cpu_ms = round(CpuMeter.spent(cache0, cache1) * 1000 / run.requests, 3)
    return run
