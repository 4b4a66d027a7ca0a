"""Load generation and measurement: wrk (or a Python fallback), and the server side's CPU from /proc.

A load target is one URL with one token (the plain run); or a token file: one
`<tenant slug> <token>` line each, a random line per request, the URL built as
`<prefix><slug><suffix>` (scenarios (a) and (b)); or a form file (the OAuth endpoints): one
`<path> <form body>` line each, POSTed, either a random line per request or each line once, in
order from `start` (a refresh token or a token to revoke is used up by its request).
"""

from __future__ import annotations

import http.client
import json
import os
import random
import resource
import subprocess
import threading
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
REPORT_LUA = ROOT / "bench" / "wrk_report.lua"
TOKENS_LUA = ROOT / "bench" / "wrk_tokens.lua"
FORMS_LUA = ROOT / "bench" / "wrk_forms.lua"
FORM = "application/x-www-form-urlencoded"


@dataclass(frozen=True)
class Target:
    """What one load run asks for: `path` with `token`, or a random line of `token_file` per request."""

    path: str  # the fixed path, or the prefix before the tenant slug (token file)
    token: str = ""
    token_file: str = ""
    suffix: str = ""  # after the tenant slug (token file)
    port: int = 0  # the server to load (0: the main one)
    form_file: str = ""  # "<path> <form body>" lines to POST
    once: bool = False  # each line of form_file once, in order from `start`
    start: int = 0
    basic: str = ""  # an Authorization: Basic credential (base64) sent with every form

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
    lines_used: int = 0  # lines of a form file the run took (sent or not), when it reads them once
    # The share of the machine's CPUs that processes other than the server side and the load
    # generator used during the run (other people's work, mostly): 0.5 is one core of two.
    others_share: float = 0.0
    # Database backends that came or went during the run: their CPU is not in `db_cpu_ms` (a backend
    # that has exited cannot be read), so the run's database figure is too low when this is not 0.
    backends_replaced: int = 0

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


def post(port: int, path: str, body: str, basic: str = "") -> tuple[int, dict[str, str], bytes]:
    """POST a form (the OAuth endpoints), with a Basic client credential if given."""
    headers = {"Content-Type": FORM}
    if basic:
        headers["Authorization"] = f"Basic {basic}"
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        conn.request("POST", path, body=body, headers=headers)
        response = conn.getresponse()
        return response.status, {k.lower(): v for k, v in response.getheaders()}, response.read()
    finally:
        conn.close()


def read_forms(target: Target) -> list[tuple[str, str]]:
    """(path, body) pairs of a form file target."""
    return [
        (path, body)
        for path, _, body in (line.partition(" ") for line in Path(target.form_file).read_text().splitlines())
    ]


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
    if target.form_file:
        command += ["-s", str(FORMS_LUA), f"http://127.0.0.1:{port}/"]
        command += [
            "--",
            target.form_file,
            "once" if target.once else "random",
            str(target.start),
            target.basic,
        ]
    elif target.token_file:
        command += ["-s", str(TOKENS_LUA), f"http://127.0.0.1:{port}/"]
        command += ["--", target.token_file, target.path, target.suffix]
    else:
        command += ["-H", f"Authorization: Bearer {target.token}", "-s", str(REPORT_LUA)]
        command += [f"http://127.0.0.1:{port}{target.path}"]
    done = subprocess.run(command, capture_output=True, text=True, timeout=seconds + 60, check=True)  # noqa: S603
    line = next(x for x in done.stdout.splitlines() if x.startswith("BENCH_JSON "))
    data = json.loads(line.removeprefix("BENCH_JSON "))
    used = next((int(x.split()[1]) for x in done.stdout.splitlines() if x.startswith("BENCH_USED ")), 0)
    duration = data["duration_us"] / 1e6
    return Run(
        lines_used=used,
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
    forms = read_forms(target) if target.form_file else []
    pairs = read_tokens(target) if target.token_file else [(target.path, target.token)]
    latencies: list[float] = []
    failures = [0, 0]
    lock = threading.Lock()
    stop_at = time.monotonic() + seconds
    used = [target.start]

    def send(chooser: random.Random) -> int:
        if not forms:
            path, token = chooser.choice(pairs)
            return get(port, path, token)[0]
        if target.once:
            with lock:
                index = used[0] % len(forms)
                used[0] += 1
            path, body = forms[index]
        else:
            path, body = chooser.choice(forms)
        return post(port, path, body, target.basic)[0]

    def worker() -> None:
        mine: list[float] = []
        bad = errors = 0
        chooser = random.Random()  # noqa: S311 - load spreading, not security
        while time.monotonic() < stop_at:
            start = time.perf_counter()
            try:
                status = send(chooser)
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
        lines_used=used[0] - target.start,
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

    def __init__(self, masters: dict[int, int], role: str, cache_pid: int | None) -> None:
        self.masters = masters  # port -> gunicorn master pid (the main server and variant plain's)
        self.role = role
        self.cache_pid = cache_pid  # a redis-server of the benchmark's own, or None (shared: not metered)
        self.exclude: set[int] = set()
        self.tick = os.sysconf("SC_CLK_TCK")

    def _workers(self, port: int) -> list[int]:
        master = self.masters[port]
        children = Path(f"/proc/{master}/task/{master}/children")
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

    def sample(self, port: int) -> tuple[dict[int, float], dict[int, float], dict[int, float]]:
        """CPU seconds so far of the workers of the server on `port`, of the database backends
        (both servers' connections: the idle one's cost nothing) and of the cache."""
        cache = self._seconds([self.cache_pid]) if self.cache_pid else {}
        return self._seconds(self._workers(port)), self._seconds(self._backends()), cache

    def settle(self, port: int, timeout: float = 20.0) -> None:
        """Wait until the server on `port` is idle: its workers and the database backends.

        When wrk stops, requests it had sent are still queued or running in the server; a slow
        variant's (the do-it-yourself stack's, an OAuth grant's) would otherwise be charged to
        the run that follows. The database side counts too: a worker waiting on a long query
        spends no CPU of its own while its backend does (the do-it-yourself stack's requests
        spend 250 ms of database CPU each, so watching the workers alone charged the next run
        with them). Idle: under 5 ms of worker and backend CPU in 100 ms.
        """
        deadline = time.monotonic() + timeout
        last = self._server_seconds(port)
        while time.monotonic() < deadline:
            time.sleep(0.1)
            now = self._server_seconds(port)
            if self.spent(last, now) < 0.005:
                return
            last = now
        print(
            f"[bench {time.strftime('%H:%M:%S')}] WARNING: the server on port {port} was still busy after "
            f"{timeout:.0f} s; the next run may be charged with the previous one's work",
            flush=True,
        )

    def _server_seconds(self, port: int) -> dict[int, float]:
        return self._seconds(self._workers(port) + self._backends())

    @staticmethod
    def spent(before: dict[int, float], after: dict[int, float]) -> float:
        return sum(after[pid] - before[pid] for pid in after if pid in before)


def cpu_busy_seconds() -> float:
    """CPU seconds every process on the machine has spent so far (all CPUs, /proc/stat)."""
    with open("/proc/stat") as stat:
        fields = [int(x) for x in stat.readline().split()[1:]]
    # user nice system idle iowait irq softirq steal: everything but idle and iowait.
    busy = sum(fields[:8]) - fields[3] - fields[4]
    return busy / os.sysconf("SC_CLK_TCK")


def _own_seconds() -> float:
    """CPU seconds of this process and of its finished children (wrk runs as one)."""
    me, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return me.ru_utime + me.ru_stime + children.ru_utime + children.ru_stime


def measured(
    generator: object, meter: CpuMeter, port: int, target: Target, seconds: float, connections: int
) -> Run:
    """One load run with the server side's CPU per request (`port`: the main server, unless the
    target names another)."""
    port = target.port or port
    meter.settle(port)
    app0, db0, cache0 = meter.sample(port)
    busy0, own0, wall0 = cpu_busy_seconds(), _own_seconds(), time.monotonic()
    run: Run = generator(port, target, seconds, connections)  # type: ignore[operator]
    busy1, own1, wall1 = cpu_busy_seconds(), _own_seconds(), time.monotonic()
    app1, db1, cache1 = meter.sample(port)
    run.backends_replaced = len(set(db0) ^ set(db1))
    if run.backends_replaced:
        print(
            f"[bench {time.strftime('%H:%M:%S')}] WARNING: {run.backends_replaced} database backend(s) came or "
            f"went during this run of {target.path}: its database CPU per request is too low",
            flush=True,
        )
    server = CpuMeter.spent(app0, app1) + CpuMeter.spent(db0, db1) + CpuMeter.spent(cache0, cache1)
    others = busy1 - busy0 - server - (own1 - own0)
    run.others_share = round(max(0.0, others) / ((os.cpu_count() or 1) * (wall1 - wall0)), 3)
    if run.requests:
        run.app_cpu_ms = round(CpuMeter.spent(app0, app1) * 1000 / run.requests, 3)
        run.db_cpu_ms = round(CpuMeter.spent(db0, db1) * 1000 / run.requests, 3)
        run.cache_cpu_ms = round(CpuMeter.spent(cache0, cache1) * 1000 / run.requests, 3)
    return run
