"""One Partner Center rate limit for every process: web, Celery workers, commands (PARTNER_CENTER_RATE_LIMIT).

Microsoft limits calls per partner tenant, not per process, and does not publish the figure: the operator sets a
rate below it (e.g. "50/second", "3000/minute", in `limits`' notation) and every call of every process takes a
slot from one moving window kept in Redis (`limits`' `MovingWindowRateLimiter` on `RedisStorage`; an atomic Lua
script, so two workers never take the same last slot). A call that finds no slot waits until the oldest one leaves
the window, within its own time budget; past it, it fails as throttled without any HTTP (`held_back`), exactly like
a call held back by Microsoft's Retry-After (partner_center.health, which keeps doing that part: a 429 still pauses
every process until Retry-After, on top of this limit).

Without Redis (PARTNER_CENTER_RATE_LIMIT_STORAGE unset and no REDIS_URL) the window is per process ("memory://"),
which is only right for one process (tests, the demo). Empty PARTNER_CENTER_RATE_LIMIT: no limit.

A broken Redis never stops a call: it is logged and the call goes on unlimited (the 429 handling still applies).
"""

from __future__ import annotations

import logging
import random
import threading
import time
from collections.abc import Callable

from limits import RateLimitItem, parse
from limits.storage import Storage, storage_from_string
from limits.strategies import MovingWindowRateLimiter

from partner_center.errors import PartnerCenterThrottled

logger = logging.getLogger("partner_center")

# The longest single sleep between two looks at the window: a slot freed by another process's failed call is seen.
_MAX_NAP = 0.25


def _sleep(seconds: float) -> None:
    # Looked up at call time, so tests can count the waits.
    time.sleep(seconds)


class RateLimit:
    """`limit` (e.g. "50/second") shared through `storage_uri` under `namespace` (one per Partner Center URL)."""

    def __init__(self, limit: str, *, storage_uri: str, namespace: str) -> None:
        self.item: RateLimitItem = parse(limit)
        self.namespace = namespace
        self.storage_uri = storage_uri
        self._storage: Storage | None = None
        self._limiter: MovingWindowRateLimiter | None = None
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return f"RateLimit({self.item}, namespace={self.namespace!r})"

    @property
    def rate(self) -> float:
        """Calls per second the limit allows on average."""
        return self.item.amount / self.item.get_expiry()

    def _window(self) -> MovingWindowRateLimiter:
        with self._lock:
            if self._limiter is None:
                options = {"key_prefix": "partner_center_rate"} if self.storage_uri.startswith("redis") else {}
                self._storage = storage_from_string(self.storage_uri, **options)
                self._limiter = MovingWindowRateLimiter(self._storage)
            return self._limiter

    def try_acquire(self) -> float:
        """Take a slot: 0.0 when taken, else the seconds until one may be free."""
        limiter = self._window()
        if limiter.hit(self.item, self.namespace):
            return 0.0
        reset_at = limiter.get_window_stats(self.item, self.namespace).reset_time
        return max(reset_at - time.time(), 0.001)

    def acquire(self, kind: str, *, deadline: float, monotonic: Callable[[], float] = time.monotonic) -> float:
        """Wait for a slot until `deadline` (a `monotonic()` moment); the seconds waited. Raises
        PartnerCenterThrottled(held_back=True) when none comes in time."""
        started = monotonic()
        while True:
            try:
                wait = self.try_acquire()
            except Exception:
                logger.warning("Partner Center rate limit: storage unavailable, calling unlimited", exc_info=True)
                return monotonic() - started
            if wait == 0.0:
                return monotonic() - started
            left = deadline - monotonic()
            if left <= 0:
                raise PartnerCenterThrottled(
                    f"Partner Center {kind}: no slot in the shared rate limit ({self.item}) within the call's budget",
                    retry_after=wait,
                    held_back=True,
                )
            # A little jitter: workers that found the window full do not all come back in the same millisecond.
            _sleep(min(wait + random.uniform(0, 0.005), left, _MAX_NAP))  # noqa: S311 - jitter, not security

    def reset(self) -> None:
        """Forget the window (tests; an operator after changing the limit)."""
        try:
            self._window().clear(self.item, self.namespace)
        except Exception:
            logger.warning("Partner Center rate limit: could not clear the window", exc_info=True)


def from_settings(namespace: str) -> RateLimit | None:
    from django.conf import settings

    limit = getattr(settings, "PARTNER_CENTER_RATE_LIMIT", "")
    if not limit:
        return None
    prefix = getattr(settings, "REDIS_KEY_PREFIX", "")  # deployments sharing a Redis database keep apart
    return RateLimit(limit, storage_uri=settings.PARTNER_CENTER_RATE_LIMIT_STORAGE, namespace=f"{prefix}{namespace}")
