"""Fixed-window counters of failed attempts, kept in the `ratelimit` cache (Redis when REDIS_URL is set).

A limit is a name from `settings.RATE_LIMITS` ("count/seconds") and an identity (an account, a
client id, an address). Only failures are counted, so legitimate traffic is never slowed; once
`count` failures fall into the current window, every attempt is refused until the window ends,
and the refusal says when (`Retry-After`). Identities are hashed into the keys: the cache never
holds usernames or addresses.

The counters have a cache alias of their own because of what they do while Redis is down: the
alias falls back to per-process local memory (project/cache.py, `OUTAGE: "local"`), so each worker
keeps limiting on its own (a limit of N becomes at most N per worker) instead of every attempt
being let through; the refusals and the warning in the log say so. Counts made during the outage
stay in that process; Redis's counts resume when it answers again.
"""

from __future__ import annotations

import hashlib
import ipaddress
import math
import time
from collections.abc import Callable, Iterable
from functools import wraps
from typing import Any

from django.conf import settings
from django.core.cache import caches
from django.http import HttpRequest, HttpResponse, HttpResponseBase

Limit = tuple[str, str]  # (name in settings.RATE_LIMITS, identity)
CACHE_ALIAS = "ratelimit"


def _key(name: str, identity: str, window: int) -> str:
    digest = hashlib.sha256(identity.encode("utf-8")).hexdigest()[:32]
    return f"ratelimit:{name}:{digest}:{window}"


def _windows(limits: Iterable[Limit], now: float) -> list[tuple[str, int, int, int]]:
    """(cache key, allowed count, window length, seconds left) for each limit at `now`."""
    rows = []
    for name, identity in limits:
        count, seconds = settings.RATE_LIMITS[name]
        window = int(now // seconds)
        rows.append((_key(name, identity, window), count, seconds, math.ceil((window + 1) * seconds - now)))
    return rows


def retry_after(limits: Iterable[Limit]) -> int | None:
    """Seconds until every exhausted limit's window ends; None when no limit is exhausted."""
    waits = exhausted(limits)
    return max(waits.values()) if waits else None


def exhausted(limits: Iterable[Limit]) -> dict[Limit, int]:
    """The exhausted limits among `limits`, each with the seconds until its window ends, in ONE
    cache read (an endpoint that checks several kinds of limit reads them together)."""
    limits = list(limits)
    rows = _windows(limits, time.time())
    used = caches[CACHE_ALIAS].get_many([key for key, *_ in rows])
    return {
        limit: max(1, left)
        for limit, (key, count, _seconds, left) in zip(limits, rows, strict=True)
        if used.get(key, 0) >= count
    }


def record_failure(limits: Iterable[Limit]) -> None:
    """Count one failed attempt against each limit."""
    cache = caches[CACHE_ALIAS]
    for key, _count, seconds, _left in _windows(limits, time.time()):
        # One round trip once the window has its key; the window's first attempt creates it.
        try:
            cache.incr(key)
        except ValueError:  # no key yet in this window (or it just expired)
            if not cache.add(key, 1, timeout=seconds + 1):  # another request created it meanwhile
                try:
                    cache.incr(key)
                except ValueError:
                    cache.set(key, 1, timeout=seconds + 1)


def record_attempt(limits: Iterable[Limit]) -> None:
    """Count one attempt, whatever its outcome: the limits on endpoints that create rows.

    Creating rows on a user's word (access requests, personal tokens, consent answers, device
    codes) costs storage and audit entries whether or not the service then refuses, so every
    attempt counts, not only failures.
    """
    record_failure(limits)


def too_many_text(wait: int) -> str:
    """The refusal in words, for pages ("Too many requests. Try again in 5 minutes.")."""
    minutes = max(1, math.ceil(wait / 60))
    unit = "minute" if minutes == 1 else "minutes"
    return f"Too many requests. Try again in {minutes} {unit}."


def refused(response: HttpResponse, wait: int) -> HttpResponse:
    """`response` as the 429 of an exhausted limit, saying when to come back (Retry-After)."""
    response.status_code = 429
    response["Retry-After"] = str(wait)
    response["Cache-Control"] = "no-store"
    return response


def limit_posts(
    limits_of: Callable[[HttpRequest], list[Limit]],
) -> Callable[[Callable[..., HttpResponseBase]], Callable[..., HttpResponseBase]]:
    """Wrap a view whose POSTs create rows: each POST counts; past a limit, 429 before the view runs.

    For pages whose view is not ours to rewrite (DOT's consent view): the refusal is a short
    page with the reason and Retry-After. GETs are not counted.
    """

    def wrap(view: Callable[..., HttpResponseBase]) -> Callable[..., HttpResponseBase]:
        @wraps(view)
        def limited(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponseBase:
            if request.method != "POST":
                return view(request, *args, **kwargs)
            limits = limits_of(request)
            wait = retry_after(limits)
            if wait is not None:
                page = HttpResponse(
                    f"<!doctype html><title>Too many requests</title><p>{too_many_text(wait)}</p>"
                )
                return refused(page, wait)
            record_attempt(limits)
            return view(request, *args, **kwargs)

        return limited

    return wrap


def signed_in_limits(name: str) -> Callable[[HttpRequest], list[Limit]]:
    """A limit `name` per signed-in person (anonymous POSTs count per address under the same name)."""

    def limits(request: HttpRequest) -> list[Limit]:
        user = getattr(request, "user", None)
        if user is not None and user.is_authenticated:
            return [(name, f"user:{user.pk}")]
        return [(name, f"ip:{client_address(request)}")]

    return limits


def client_address(request: HttpRequest) -> str:
    """The client's address: the socket's, or the one our own proxies saw (TRUSTED_PROXY_COUNT).

    Entries a client writes into X-Forwarded-For itself sit to the left of what our proxies
    append, so only the entry added by the outermost trusted proxy is believed. IPv6 clients
    are grouped by /64, the block one subscriber usually holds.
    """
    address = request.META.get("REMOTE_ADDR", "")
    hops = settings.TRUSTED_PROXY_COUNT
    if hops > 0:
        forwarded = [a.strip() for a in request.META.get("HTTP_X_FORWARDED_FOR", "").split(",") if a.strip()]
        if len(forwarded) >= hops:
            address = forwarded[-hops]
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return address or "unknown"
    if ip.version == 6:
        return str(ipaddress.ip_network(f"{ip}/64", strict=False))
    return str(ip)
