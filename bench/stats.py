"""The benchmark's arithmetic: interleaved rounds, medians, spreads and ratios."""

from __future__ import annotations

import argparse
import os
import random
import statistics
import sys
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from bench.infra import (
    TARGET_RATIO,
)
from bench.load import CpuMeter, Run, Target, measured
from bench.seed import log


@dataclass
class Variant:
    target: Target
    before: Callable[[], None] | None = None  # e.g. the revoker's start
    after: Callable[[], dict[str, float]] | None = None  # its stop, with what it did
    warmup: float | None = None  # seconds of unrecorded load before the rounds (None: --warmup)
    runs: list[Run] = field(default_factory=list)
    side: list[dict[str, float]] = field(default_factory=list)

    def used(self, run: Run, connections: int) -> None:
        """A target whose lines are used up (`once`): move past what `run` used, and stop the
        benchmark before a line would be used twice (its answer would be a refusal)."""
        if not self.target.once:
            return
        # The load generator says how many lines it took; one more per connection for safety.
        taken = max(run.lines_used, run.requests)
        start = self.target.start + taken + connections + 1
        lines = len(Path(self.target.form_file).read_text().splitlines())
        if start + 1.5 * taken > lines:
            sys.exit(
                f"{Path(self.target.form_file).name}: {lines - start} unused lines left after a run "
                f"that used {taken}; raise --oauth-rate"
            )
        self.target = replace(self.target, start=start)


# The 1-minute load average, sampled before every round of every phase (bench/run.py reports it).
LOAD_SAMPLES: list[float] = []


def interleaved(
    scenario: str,
    variants: dict[str, Variant],
    rounds: int,
    args: argparse.Namespace,
    generator: Any,
    meter: CpuMeter,
    after_warmup: Callable[[], None] | None = None,
) -> None:
    """Each variant once per round, the order rotating, after an unrecorded warm-up of each (then
    `after_warmup`, if given)."""
    for variant in variants.values():
        seconds = args.warmup if variant.warmup is None else variant.warmup
        warm = generator(variant.target.port or args.port, variant.target, seconds, args.connections)
        variant.used(warm, args.connections)
    if after_warmup:
        after_warmup()
    names = list(variants)
    for round_no in range(rounds):
        LOAD_SAMPLES.append(os.getloadavg()[0])
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
            variant.used(run, args.connections)
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


def paired(numerator: Variant, denominator: Variant) -> dict[str, Any]:
    """numerator/denominator per round: by throughput, and by server CPU per request (den CPU / num CPU).

    The ratio's own `median`, `q1`, `q3` and `rounds` are by server CPU per request, the measure
    the targets are stated in; `throughput` and `cpu` hold both spreads in full.
    """
    pairs = list(zip(numerator.runs, denominator.runs, strict=True))
    cpu = spread([d.cpu_ms / n.cpu_ms for n, d in pairs if n.cpu_ms > 0])
    return {
        "median": cpu["median"],
        "q1": cpu["q1"],
        "q3": cpu["q3"],
        "rounds": cpu["rounds"],
        "throughput": spread([n.rps / d.rps for n, d in pairs]),
        "cpu": cpu,
    }


def ratio_line(label: str, ratio: dict[str, Any], target: float | None = None) -> str:
    parts = []
    for kind, title in (("throughput", "by throughput"), ("cpu", "by server CPU per request")):
        s = ratio[kind]
        at = (
            f", {sum(v >= target for v in s['per_round'])}/{s['rounds']} rounds >= {target}"
            if target is not None
            else ""
        )
        parts.append(
            f"{title} {s['median']:.2f} (quartiles {s['q1']:.2f}-{s['q3']:.2f}, range {s['min']:.2f}-{s['max']:.2f}"
            f"{at}; 95% interval of the median {s['ci95'][0]:.2f}-{s['ci95'][1]:.2f})"
        )
    goal = f" [target >= {target}]" if target else ""
    per_round = ", ".join(f"{v:.2f}" for v in ratio["throughput"]["per_round"])
    return f"{label}{goal}: " + "; ".join(parts) + f"\n  per round, by throughput: {per_round}"


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
