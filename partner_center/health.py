"""Partner Center's health, shared by every web process and Celery worker through the Django cache (Redis in
production, so all of them see the same state; the per-process locmem cache in tests and the demo).

Two things are shared, both per Partner Center base URL:

- **A circuit breaker.** After PARTNER_CENTER_BREAKER_FAILURES transport failures in a row (connection refused or
  reset, a 5xx, a timeout of the full read timeout) the circuit opens for PARTNER_CENTER_BREAKER_FIRST_OPEN_SECONDS:
  every call then fails at once with `PartnerCenterUnavailable(held_back=True)` and no HTTP, so a page shows the
  last known template and "Partner Center unreachable" without waiting out its budget. When that time is up, one
  call - from whichever process comes first (an atomic `cache.add`) - goes through as a trial: its success closes
  the circuit, its failure opens it again for twice as long, up to PARTNER_CENTER_BREAKER_OPEN_SECONDS; the others
  keep failing at once while it is out. So a short outage is over for everyone seconds after Partner Center is
  back, and a long one still costs one call per PARTNER_CENTER_BREAKER_OPEN_SECONDS.
- **Throttling.** Microsoft throttles the partner, not one request: a 429 with Retry-After pauses every call of
  the same endpoint from every process until then (`PartnerCenterThrottled(held_back=True)` with the seconds
  left, no HTTP).

A 4xx is an answer (Partner Center is up), a 429 is throttling (not a failure), and a timeout that only a short
caller budget caused (the gate's 3 s against a 4-s answer) says nothing about Partner Center: none of them counts
towards opening. The moments stored are wall-clock seconds (`time.time()`), the one clock all processes share.

Why not pybreaker (the maintained breaker): its `CircuitBreaker.call` holds one process-wide lock for the whole
call, so every Partner Center call of a threaded worker would queue behind the slowest; its half-open state lets
every concurrent caller through instead of one trial; and its Redis storage needs a raw Redis client, not the
Django cache the rest of the client already shares. The state here is three cache keys and Django's atomic
`add`/`incr`. `limits` (rate limiting by window) answers "how many per minute", not "nobody until Retry-After".

Recovery is prompt: `circuit_opened` (with `until`, when the trial may go) and `circuit_closed` (a trial
succeeded) are sent, so the work that waits for Partner Center (the outbox's sweeps) can run when the open period
ends and again the moment the circuit closes, instead of at its next beat (mca.apps connects them).

A broken cache never breaks a call: every cache error is logged and the call goes on as if Partner Center were
healthy (the retry budget still bounds it).
"""

from __future__ import annotations

import logging
import math
import time
from dataclasses import dataclass
from typing import Any

from django.core.cache import cache
from django.dispatch import Signal

from partner_center.errors import PartnerCenterThrottled, PartnerCenterUnavailable

logger = logging.getLogger("partner_center")

# Sent with `namespace` (the Partner Center base URL's key) and, for `circuit_opened`, `until` (wall-clock seconds:
# when its trial call may go). Receivers must be quick and never raise (they run inside a call's failure/success).
circuit_opened = Signal()
circuit_closed = Signal()

# How long the "circuit opened" mark is kept at most: closing it is done by a success, not by expiry.
_OPEN_MARK_SECONDS = 24 * 3600

# What a call held back while another process's trial is out is told to wait: the trial usually answers in well
# under a second, and the work it held back (an outbox row, an attestation) must be due again by the sweep that
# `circuit_closed` schedules this long after closing (mca.tasks), not a whole trial timeout later. Were the trial
# to fail, the circuit opens again and the next attempt is held back for the new open period, still with no HTTP.
TRIAL_OUT_RETRY_SECONDS = 1.0


def _now() -> float:
    # Wall clock: shared by every process (time-machine moves it in tests).
    return time.time()


@dataclass(frozen=True)
class Admission:
    """What `Health.admit` saw before an attempt: whether a success has anything to clear, and whether this
    attempt is the one trial of a circuit that was open."""

    unhealthy: bool = False
    trial: bool = False


class Health:
    def __init__(
        self,
        namespace: str,
        *,
        failures_to_open: int,
        open_seconds: float,
        trial_seconds: float,
        first_open_seconds: float | None = None,
    ) -> None:
        self.namespace = namespace
        self.failures_to_open = failures_to_open
        self.open_seconds = open_seconds  # the longest open period (a failed trial doubles it up to this)
        self.first_open_seconds = min(open_seconds, first_open_seconds or open_seconds)
        self.trial_seconds = trial_seconds

    @property
    def breaker_enabled(self) -> bool:
        return self.failures_to_open > 0

    def _key(self, name: str) -> str:
        return f"partner_center:health:v1:{self.namespace}:{name}"

    @property
    def _open_key(self) -> str:
        return self._key("open_until")

    @property
    def _failures_key(self) -> str:
        return self._key("failures")

    @property
    def _open_for_key(self) -> str:
        return self._key("open_for")

    @property
    def _trial_key(self) -> str:
        return self._key("trial")

    def _pause_key(self, kind: str) -> str:
        return self._key(f"paused:{kind}")

    # --- before and after one attempt ------------------------------------------------------------------------

    def admit(self, kind: str) -> Admission:
        """Raise at once when `kind`'s calls are paused (throttling) or the circuit is open; else let the attempt go
        (as the circuit's trial when its open time is up)."""
        now = _now()
        keys = [self._pause_key(kind), self._open_key, self._failures_key]
        values: dict[str, Any] = _safely(lambda: cache.get_many(keys), default={})
        paused_until = values.get(keys[0])
        if paused_until is not None and paused_until > now:
            left = paused_until - now
            raise PartnerCenterThrottled(
                f"Partner Center {kind}: paused for {left:.0f} s more, as Microsoft asked (Retry-After)",
                retry_after=left,
                held_back=True,
            )
        open_until = values.get(self._open_key)
        if open_until is not None and self.breaker_enabled:
            if open_until > now:
                raise self._open_error(kind, open_until - now)
            # Open time is up: one trial for everyone. Another process's trial is out: wait for its answer.
            if not _safely(lambda: cache.add(self._trial_key, now, math.ceil(self.trial_seconds)), default=True):
                raise self._open_error(kind, min(TRIAL_OUT_RETRY_SECONDS, self.trial_seconds))
            return Admission(unhealthy=True, trial=True)
        return Admission(unhealthy=open_until is not None or bool(values.get(self._failures_key)))

    def _open_error(self, kind: str, left: float) -> PartnerCenterUnavailable:
        return PartnerCenterUnavailable(
            f"Partner Center {kind}: not called, it kept failing (circuit open, next try in {left:.0f} s)",
            retry_after=left,
            held_back=True,
        )

    def succeeded(self, admission: Admission) -> None:
        """Partner Center answered (2xx or a 4xx): the failures in a row are over."""
        if admission.unhealthy:
            _safely(
                lambda: cache.delete_many([self._open_key, self._failures_key, self._trial_key, self._open_for_key])
            )
        if admission.trial:
            logger.warning("Partner Center circuit closed: its trial call succeeded")
            _notify(circuit_closed, namespace=self.namespace)

    def failed(self, admission: Admission) -> None:
        """A transport failure (connection, 5xx, full timeout): one more in a row; the threshold opens the circuit,
        and a failed trial opens it again at once."""
        if not self.breaker_enabled:
            return
        if admission.trial:
            self._open(trial_failed=True)
            return
        # Kept a while after the last failure; a success clears it, so only failures "in a row" add up.
        window = math.ceil(max(self.open_seconds, 60) * 2)
        count = _safely(lambda: _increment(self._failures_key, window), default=0)
        if count >= self.failures_to_open:
            self._open()

    def _open(self, *, trial_failed: bool = False) -> None:
        # The open period backs off: the first is short, each failed trial doubles it up to `open_seconds`. Failures
        # of calls that were out before it opened never shorten it (the length lives until a success clears it).
        last = _safely(lambda: cache.get(self._open_for_key))
        seconds = max(self.first_open_seconds, last or 0)
        if trial_failed and last:
            seconds = min(self.open_seconds, seconds * 2)
        until = _now() + seconds
        logger.warning("Partner Center circuit opened for %.0f s: calls fail at once until then", seconds)
        _safely(lambda: cache.set(self._open_for_key, seconds, _OPEN_MARK_SECONDS))
        _safely(lambda: cache.set(self._open_key, until, _OPEN_MARK_SECONDS))
        _safely(lambda: cache.delete(self._trial_key))
        _notify(circuit_opened, namespace=self.namespace, until=until)

    def throttled(self, kind: str, retry_after: float | None) -> None:
        """Microsoft asked to wait `retry_after` seconds: every process's calls of `kind` wait until then."""
        if not retry_after or retry_after <= 0:
            return
        until = _now() + retry_after
        key = self._pause_key(kind)
        current = _safely(lambda: cache.get(key))
        if current is None or current < until:
            _safely(lambda: cache.set(key, until, math.ceil(retry_after) + 1))

    # --- what the outbox asks ------------------------------------------------------------------------------

    def resume_at(self, kind: str) -> float | None:
        """When calls of `kind` may go again (wall-clock seconds), or None when they may go now."""
        keys = [self._pause_key(kind), self._open_key]
        values: dict[str, Any] = _safely(lambda: cache.get_many(keys), default={})
        moments = [m for m in (values.get(keys[0]), values.get(keys[1]) if self.breaker_enabled else None) if m]
        later = max(moments, default=None)
        return later if later is not None and later > _now() else None

    def circuit_open(self) -> bool:
        """Whether the circuit is open or waiting for its trial (until a call succeeds)."""
        return self.breaker_enabled and _safely(lambda: cache.get(self._open_key)) is not None

    def reset(self, kinds: tuple[str, ...] = ()) -> None:
        """Forget the circuit and the pauses of `kinds` (an operator after fixing the connection; tests)."""
        _safely(
            lambda: cache.delete_many(
                [
                    self._open_key,
                    self._failures_key,
                    self._trial_key,
                    self._open_for_key,
                    *(self._pause_key(k) for k in kinds),
                ]
            )
        )


def _increment(key: str, timeout: int) -> int:
    cache.add(key, 0, timeout)
    try:
        return cache.incr(key)
    except ValueError:  # expired between add and incr
        cache.set(key, 1, timeout)
        return 1


def _notify(signal: Signal, **kwargs: Any) -> None:
    # A receiver's failure (the broker down, say) must not turn Partner Center's answer into an error.
    for receiver, result in signal.send_robust(sender=Health, **kwargs):
        if isinstance(result, Exception):
            logger.warning("Partner Center health: %s failed: %r", getattr(receiver, "__name__", receiver), result)


def _safely(action: Any, default: Any = None) -> Any:
    try:
        return action()
    except Exception:
        logger.warning("Partner Center health: cache unavailable, going on without it", exc_info=True)
        return default
