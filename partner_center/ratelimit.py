"""One Partner Center rate limit for every process: web, Celery workers, commands (PARTNER_CENTER_RATE_LIMIT).

Microsoft limits calls per partner tenant, not per process, and does not publish the figure: the operator sets a
rate (e.g. "50/second", "3000/minute", in `limits`' notation) and every call of every process takes a slot from one
moving window kept in Redis. A call that finds no slot waits until the oldest one leaves the window, within its own
time budget; past it, it fails as throttled without any HTTP (`held_back`), exactly like a call held back by
Microsoft's Retry-After (partner_center.health, which keeps doing that part: a 429 still pauses every process until
Retry-After, on top of this limit).

**The margin (PARTNER_CENTER_RATE_LIMIT_MARGIN, default 0.1).** Our window is longer than Microsoft's: N calls per
T x (1 + margin), not N per T. A slot is taken some time before the call reaches Microsoft (the HTTP round trip, a
busy CPU), and that time varies from call to call. With both windows the same length, calls that took their slots
evenly spread can arrive bunched, so N + 1 of them land inside one of Microsoft's windows and get a 429 (measured:
up to 121 of 2,000 calls with 4 workers at 20/s). The longer window leaves that much slack for the jitter; the
transport also gives back a slot it held too long before sending and takes a fresh one (`take`/`give_back`).

**Storage.**
- Redis (`redis://`, `rediss://`, `redis+unix://`, and Valkey's equivalents): our own Lua script on one sorted set
  per namespace, timed by the Redis server's clock (`TIME`), so every process agrees on "now" whatever its own
  clock says; atomic, so two workers never take the same last slot. Needs Redis 5 or later (a script that writes
  after reading TIME).
- `memory://`: the same window in this process (only right for one process: tests, the demo, the simulator).
- Anything else `limits` knows (memcached, MongoDB, Redis Sentinel or Cluster): `limits`' own moving window, whose
  length can only be whole seconds, so the margin is rounded up into it (an error is logged once: the rate is then
  lower than asked for), and a slot cannot be given back.

Empty PARTNER_CENTER_RATE_LIMIT: no limit. A broken Redis never stops a call: it is logged and the call goes on
unlimited (the 429 handling still applies).
"""

from __future__ import annotations

import logging
import math
import random
import threading
import time
import uuid
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol
from urllib.parse import urlsplit, urlunsplit

import redis
from limits import RateLimitItem, RateLimitItemPerSecond, parse
from limits.storage import storage_from_string
from limits.strategies import MovingWindowRateLimiter
from redis.backoff import NoBackoff
from redis.retry import Retry

from partner_center.errors import PartnerCenterThrottled

logger = logging.getLogger("partner_center")

# The longest single sleep between two looks at the window: a slot freed by another process's failed call is seen.
_MAX_NAP = 0.25
DEFAULT_MARGIN = 0.1
# Every call waits for the limiter: a Redis that does not answer within this costs a call about that much (then the
# call goes unlimited), not the 20-second budget.
_REDIS_TIMEOUT = 1.0
_KEY_PREFIX = "partner_center_rate"
# redis-py reads these schemes; Valkey speaks the same protocol.
_REDIS_SCHEMES = {
    "redis": "redis",
    "rediss": "rediss",
    "redis+unix": "unix",
    "valkey": "redis",
    "valkeys": "rediss",
    "valkey+unix": "unix",
}

# KEYS[1]: the window's sorted set (member: a slot's unique id; score: when it was taken, in microseconds of the
# Redis server's clock). ARGV: the number of calls, the window in milliseconds, the new slot's id.
# Returns 0 when the slot was taken, else the milliseconds until the oldest slot leaves the window.
_TAKE_SCRIPT = """
if redis.replicate_commands then redis.replicate_commands() end
local limit = tonumber(ARGV[1])
local window_us = tonumber(ARGV[2]) * 1000
local clock = redis.call('TIME')
local now = tonumber(clock[1]) * 1000000 + tonumber(clock[2])
-- Passed as text: Lua would write a number as "%.14g" and round a 16-digit microsecond count.
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', string.format('%.0f', now - window_us))
if redis.call('ZCARD', KEYS[1]) < limit then
    redis.call('ZADD', KEYS[1], string.format('%.0f', now), ARGV[3])
    redis.call('PEXPIRE', KEYS[1], ARGV[2])
    return 0
end
local oldest = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')
return math.max(math.ceil((tonumber(oldest[2]) + window_us - now) / 1000), 1)
"""


def _sleep(seconds: float) -> None:
    # Looked up at call time, so tests can count the waits.
    time.sleep(seconds)


@dataclass(frozen=True)
class Slot:
    """A slot taken in the window. `member` identifies it for `give_back` (None: it cannot be given back - the
    `limits` fallback, or no storage answered); `taken_at` is the caller's `monotonic()` just before the slot was
    taken (an upper bound of its age); `waited` the seconds spent waiting for it."""

    member: str | None
    taken_at: float
    waited: float


class _Window(Protocol):
    gives_back: bool

    def take(self, member: str) -> float: ...

    def give_back(self, member: str) -> bool: ...

    def clear(self) -> None: ...


class _RedisWindow:
    """N slots per window on one sorted set, on the Redis server's clock (see _TAKE_SCRIPT)."""

    gives_back = True

    def __init__(self, url: str, key: str, amount: int, window_ms: int) -> None:
        # One quick retry, no backoff: redis-py's default (3 retries, exponential backoff from a second) would hold
        # every call for seconds while Redis is down, where we want it to go on unlimited.
        self.client = redis.Redis.from_url(
            url,
            socket_timeout=_REDIS_TIMEOUT,
            socket_connect_timeout=_REDIS_TIMEOUT,
            retry=Retry(NoBackoff(), 1),
        )
        self._script = self.client.register_script(_TAKE_SCRIPT)
        self.key = key
        self.amount = amount
        self.window_ms = window_ms

    def take(self, member: str) -> float:
        wait_ms = int(self._script(keys=[self.key], args=[self.amount, self.window_ms, member]))
        return wait_ms / 1000

    def give_back(self, member: str) -> bool:
        return bool(self.client.zrem(self.key, member))

    def clear(self) -> None:
        self.client.delete(self.key)


class _MemoryWindow:
    """The same window in this process: (moment, member) pairs in the order taken, under a lock."""

    gives_back = True

    def __init__(self, amount: int, window_ms: int) -> None:
        self.amount = amount
        self.window = window_ms / 1000
        self._taken: deque[tuple[float, str]] = deque()
        self._lock = threading.Lock()

    def take(self, member: str) -> float:
        with self._lock:
            now = time.monotonic()
            while self._taken and self._taken[0][0] <= now - self.window:
                self._taken.popleft()
            if len(self._taken) < self.amount:
                self._taken.append((now, member))
                return 0.0
            return max(self._taken[0][0] + self.window - now, 0.001)

    def give_back(self, member: str) -> bool:
        with self._lock:
            for entry in self._taken:
                if entry[1] == member:
                    self._taken.remove(entry)
                    return True
            return False

    def clear(self) -> None:
        with self._lock:
            self._taken.clear()


class _LimitsWindow:
    """`limits`' moving window, for storages we have no script for. Its window is whole seconds (the margin is
    rounded up into it) and its entries carry no identity, so a slot cannot be given back."""

    gives_back = False

    def __init__(self, uri: str, namespace: str, amount: int, window_ms: int) -> None:
        options = {"key_prefix": _KEY_PREFIX} if uri.startswith(("redis", "valkey")) else {}
        self.limiter = MovingWindowRateLimiter(storage_from_string(uri, **options))
        self.item = RateLimitItemPerSecond(amount, math.ceil(window_ms / 1000))
        self.namespace = namespace

    def take(self, member: str) -> float:
        if self.limiter.hit(self.item, self.namespace):
            return 0.0
        reset_at = self.limiter.get_window_stats(self.item, self.namespace).reset_time
        return max(reset_at - time.time(), 0.001)

    def give_back(self, member: str) -> bool:
        return False

    def clear(self) -> None:
        self.limiter.clear(self.item, self.namespace)


def _window_ms(item: RateLimitItem, margin: float) -> int:
    # Rounded to the microsecond first: 60 s x 1.1 is 66000.00000000001 ms in floating point, not 66001.
    return math.ceil(round(item.get_expiry() * 1000 * (1 + margin), 3))


class RateLimit:
    """`limit` (e.g. "50/second") shared through `storage_uri` under `namespace` (one per Partner Center URL), over a
    window `margin` longer than the limit's own period."""

    def __init__(self, limit: str, *, storage_uri: str, namespace: str, margin: float = 0.0) -> None:
        if not math.isfinite(margin) or margin < 0:
            raise ValueError(f"The rate limit's margin must be 0 or more, not {margin!r}")
        self.item: RateLimitItem = parse(limit)
        self.margin = margin
        self.window_ms = _window_ms(self.item, margin)
        self.namespace = namespace
        self.storage_uri = storage_uri
        self._store: _Window | None = None
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return f"RateLimit({self.item}, margin={self.margin:g}, namespace={self.namespace!r})"

    @property
    def rate(self) -> float:
        """Calls per second the limit allows on average (the margin included)."""
        return self.item.amount / (self.window_ms / 1000)

    @property
    def stale_after(self) -> float | None:
        """Seconds a slot may be held before its call is sent; None: any age (no margin, nothing to spend)."""
        return self.margin / 2 * self.item.get_expiry() if self.margin else None

    def _window(self) -> _Window:
        with self._lock:
            if self._store is None:
                self._store = self._open()
            return self._store

    def _open(self) -> _Window:
        parts = urlsplit(self.storage_uri)
        if parts.scheme == "memory":
            return _MemoryWindow(self.item.amount, self.window_ms)
        if parts.scheme in _REDIS_SCHEMES:
            url = urlunsplit(parts._replace(scheme=_REDIS_SCHEMES[parts.scheme]))
            key = f"{_KEY_PREFIX}:{self.namespace}"
            return _RedisWindow(url, key, self.item.amount, self.window_ms)
        window = _LimitsWindow(self.storage_uri, self.namespace, self.item.amount, self.window_ms)
        if window.item.get_expiry() * 1000 != self.window_ms:
            logger.error(
                "Partner Center rate limit: %s storage keeps whole-second windows only; the margin %g is "
                "approximated (%s per %d s instead of per %.3f s), and slots held too long cannot be given back",
                parts.scheme,
                self.margin,
                self.item.amount,
                window.item.get_expiry(),
                self.window_ms / 1000,
            )
        return window

    @property
    def gives_back(self) -> bool:
        """Whether a slot taken here can be given back (not with the `limits` fallback)."""
        try:
            return self._window().gives_back
        except Exception:
            return False

    def try_acquire(self) -> float:
        """Take a slot: 0.0 when taken, else the seconds until one may be free."""
        return self._window().take(uuid.uuid4().hex)

    def take(self, kind: str, *, deadline: float, monotonic: Callable[[], float] = time.monotonic) -> Slot:
        """Wait for a slot until `deadline` (a `monotonic()` moment). Raises PartnerCenterThrottled(held_back=True)
        when none comes in time."""
        started = monotonic()
        while True:
            member = uuid.uuid4().hex
            before = monotonic()
            try:
                window = self._window()
                wait = window.take(member)
            except Exception:
                logger.warning("Partner Center rate limit: storage unavailable, calling unlimited", exc_info=True)
                return Slot(None, before, monotonic() - started)
            if wait == 0.0:
                return Slot(member if window.gives_back else None, before, monotonic() - started)
            left = deadline - monotonic()
            if left <= 0:
                raise PartnerCenterThrottled(
                    f"Partner Center {kind}: no slot in the shared rate limit ({self.item}) within the call's budget",
                    retry_after=wait,
                    held_back=True,
                )
            # A little jitter: workers that found the window full do not all come back in the same millisecond.
            _sleep(min(wait + random.uniform(0, 0.005), left, _MAX_NAP))  # noqa: S311 - jitter, not security

    def acquire(self, kind: str, *, deadline: float, monotonic: Callable[[], float] = time.monotonic) -> float:
        """`take`, for callers that only need the seconds waited."""
        return self.take(kind, deadline=deadline, monotonic=monotonic).waited

    def give_back(self, slot: Slot) -> bool:
        """Free a slot whose call was not sent: whether it was in the window (the `limits` fallback cannot)."""
        if slot.member is None:
            return False
        try:
            return self._window().give_back(slot.member)
        except Exception:
            logger.warning("Partner Center rate limit: could not give a slot back", exc_info=True)
            return False

    def reset(self) -> None:
        """Forget the window (tests; an operator after changing the limit)."""
        try:
            self._window().clear()
        except Exception:
            logger.warning("Partner Center rate limit: could not clear the window", exc_info=True)


def from_settings(namespace: str) -> RateLimit | None:
    from django.conf import settings

    limit = getattr(settings, "PARTNER_CENTER_RATE_LIMIT", "")
    if not limit:
        return None
    prefix = getattr(settings, "REDIS_KEY_PREFIX", "")  # deployments sharing a Redis database keep apart
    return RateLimit(
        limit,
        storage_uri=settings.PARTNER_CENTER_RATE_LIMIT_STORAGE,
        namespace=f"{prefix}{namespace}",
        margin=getattr(settings, "PARTNER_CENTER_RATE_LIMIT_MARGIN", DEFAULT_MARGIN),
    )
