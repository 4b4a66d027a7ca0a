"""The Redis cache backend: a Redis outage makes the product slower, never broken.

django-redis raises into the request when Redis cannot be reached, so with Redis stopped every
request that touches the cache was a 500. This backend (every alias when `REDIS_URL` is set):

- gives Redis short socket timeouts (`REDIS_TIMEOUT_MS`, set in the settings), so a dead or
  unreachable server costs a fraction of a second, not the operating system's connect timeout;
- on any Redis error logs ONE warning and then, for `REDIS_RETRY_SECONDS`, answers without
  touching the network, so requests during an outage do not each pay the timeout; after that one
  request per process probes Redis again, and the first success logs the recovery;
- while Redis is unreachable, answers as the alias's `OUTAGE` option says:
  `"miss"` (the default): like an empty cache that keeps nothing, so callers read the database;
  `"local"`: from a per-process local-memory cache, for the rate limits' counters, which must keep
  counting (per process) rather than stop limiting.

Why not django-redis's own `IGNORE_EXCEPTIONS`: during an outage every call still pays the
timeout, every call logs a traceback, and a caller cannot tell an outage from a miss, so the rate
limits would silently stop counting. Only Django's cache API (and `delete_pattern`) is guarded;
django-redis's extras (`lock`, `keys`, `ttl`, ...) still raise.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

from django.core.cache.backends.locmem import LocMemCache
from django_redis.cache import RedisCache as DjangoRedisCache
from django_redis.exceptions import ConnectionInterrupted
from redis.exceptions import RedisError

logger = logging.getLogger(__name__)

# Connection refused or reset, timeouts, a server still loading or read-only, a stranger
# answering: each is an outage of the cache, never a reason to fail the request.
OUTAGE_ERRORS = (RedisError, ConnectionInterrupted, OSError)
DEFAULT_RETRY_SECONDS = 5.0


def _get_default(args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
    return kwargs.get("default", args[1] if len(args) > 1 else None)


def _key_not_found(args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
    raise ValueError("Key not found (the cache is unreachable)")  # what an empty cache answers


# What each guarded method answers in "miss" mode: what an empty cache that keeps nothing answers.
MISS: dict[str, Callable[[tuple[Any, ...], dict[str, Any]], Any]] = {
    "get": _get_default,
    "get_many": lambda args, kwargs: {},
    "set": lambda args, kwargs: False,
    "add": lambda args, kwargs: False,
    "set_many": lambda args, kwargs: [],
    "delete": lambda args, kwargs: False,
    "delete_many": lambda args, kwargs: None,
    "delete_pattern": lambda args, kwargs: 0,
    "has_key": lambda args, kwargs: False,
    "touch": lambda args, kwargs: False,
    "incr": _key_not_found,
    "decr": _key_not_found,
    "clear": lambda args, kwargs: None,
}


class _Breaker:
    """Whether one Redis server is believed down, shared by every thread and alias of the process."""

    def __init__(self, where: str) -> None:
        self.where = where  # host:port only: a URL may hold a password
        self.down = False
        self.retry_at = 0.0
        self.lock = threading.Lock()

    def may_try(self, retry_seconds: float) -> bool:
        """Up, or down long enough that this caller may probe (the others keep waiting)."""
        if not self.down:
            return True
        with self.lock:
            now = time.monotonic()
            if now < self.retry_at:
                return False
            self.retry_at = now + retry_seconds
            return True

    def trip(self, error: BaseException, retry_seconds: float) -> None:
        with self.lock:
            first = not self.down
            self.down = True
            self.retry_at = time.monotonic() + retry_seconds
        log = logger.warning if first else logger.debug
        log(
            "Redis at %s is unreachable (%s: %s); the cache answers without it for %.1f s at a time",
            self.where,
            type(error).__name__,
            error,
            retry_seconds,
        )

    def reset(self) -> None:
        if self.down:
            with self.lock:
                self.down = False
            logger.warning("Redis at %s answers again; the cache uses it", self.where)


_breakers: dict[str, _Breaker] = {}
_breakers_lock = threading.Lock()


def _breaker_for(server: Any) -> _Breaker:
    locations = server if isinstance(server, list | tuple) else str(server).split(",")
    where = ", ".join(f"{urlsplit(loc).hostname}:{urlsplit(loc).port or 6379}" for loc in locations)
    with _breakers_lock:
        return _breakers.setdefault(str(server), _Breaker(where))


class RedisCache(DjangoRedisCache):
    """django-redis that never raises into a request (see the module docstring)."""

    def __init__(self, server: str, params: dict[str, Any]) -> None:
        options = dict(params.get("OPTIONS", {}))
        self.outage = options.pop("OUTAGE", "miss")
        if self.outage not in ("miss", "local"):
            raise ValueError(f"OUTAGE must be 'miss' or 'local', not {self.outage!r}")
        self.retry_seconds = float(options.pop("RETRY_SECONDS", DEFAULT_RETRY_SECONDS))
        options["IGNORE_EXCEPTIONS"] = False  # errors come to `_guarded`, which decides
        super().__init__(server, {**params, "OPTIONS": options})
        self._breaker = _breaker_for(server)
        self._local: LocMemCache | None = None
        if self.outage == "local":
            # Named per server and prefix: every thread's instance shares one store per process.
            name = f"redis-outage:{server}:{self.key_prefix}"
            self._local = LocMemCache(name, {"TIMEOUT": params.get("TIMEOUT", 300)})

    def _answer_without_redis(self, name: str, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        if self._local is not None and hasattr(self._local, name):
            kwargs = {k: v for k, v in kwargs.items() if k != "client"}  # django-redis only
            return getattr(self._local, name)(*args, **kwargs)
        return MISS[name](args, kwargs)

    def _guarded(self, name: str, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        if not self._breaker.may_try(self.retry_seconds):
            return self._answer_without_redis(name, args, kwargs)
        try:
            result = getattr(DjangoRedisCache, name)(self, *args, **kwargs)
        except OUTAGE_ERRORS as error:
            self._breaker.trip(error, self.retry_seconds)
            return self._answer_without_redis(name, args, kwargs)
        self._breaker.reset()
        return result

    def close(self, **kwargs: Any) -> None:
        """Called after every request; touches no server, so it says nothing about Redis's health."""
        with contextlib.suppress(*OUTAGE_ERRORS):
            super().close(**kwargs)


def _guard(name: str) -> Callable[..., Any]:
    def method(self: RedisCache, *args: Any, **kwargs: Any) -> Any:
        return self._guarded(name, args, kwargs)

    method.__name__ = name
    method.__doc__ = f"django-redis's `{name}`, answered without Redis while it is unreachable."
    return method


for _name in MISS:
    setattr(RedisCache, _name, _guard(_name))
