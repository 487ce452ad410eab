"""Injected failures and call counts: how tests and drills make the simulator misbehave and watch the client.

One fault is active at a time (setting one replaces the previous). A fault with a count affects that many
requests; the count is taken with a conditional UPDATE, so concurrent requests never over-spend it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.db import transaction
from django.db.models import F, Q

from partner_center.simulator.models import FaultMode, SimCallCount, SimFault
from partner_center.simulator.wire import invalid

# The endpoint names tests and drills count by (fixed: other engineers assert on them).
ENDPOINT_NAMES = (
    "agreements",
    "agreement_document",
    "customer_agreements",
    "confirm_acceptance",
    "direct_signed_status",
    "customers",
    "orders",
    "subscriptions",
)

_FAULT_KEYS = {"mode", "count", "latency_ms", "retry_after", "status", "paths"}
MAX_LATENCY_MS = 60_000  # a drill longer than a minute is a mistake, and would hang tests


@dataclass(frozen=True)
class ActiveFault:
    """The fault to apply to one request (already charged against its count)."""

    mode: str
    latency_ms: int
    retry_after: int
    status: int


def _whole(body: dict[str, Any], key: str, default: int | None, *, low: int, high: int | None) -> int | None:
    value = body.get(key, default)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < low or (high is not None and value > high):
        limit = f"from {low} to {high}" if high is not None else f"from {low}"
        raise invalid(f"{key} must be a whole number {limit}.")
    return value


def fault_json(fault: SimFault | None) -> dict[str, Any] | None:
    if fault is None:
        return None
    return {
        "mode": fault.mode,
        "count": fault.remaining,
        "latency_ms": fault.latency_ms,
        "retry_after": fault.retry_after,
        "status": fault.status,
        "paths": fault.path_prefix or None,
    }


def set_fault(*, data: Any) -> SimFault:
    if not isinstance(data, dict):
        raise invalid("The body must be a JSON object.")
    unknown = sorted(set(data) - _FAULT_KEYS)
    if unknown:
        raise invalid(f"Unknown fault field(s): {', '.join(unknown)}. Allowed: {', '.join(sorted(_FAULT_KEYS))}.")
    mode = data.get("mode")
    if mode not in FaultMode.values:
        raise invalid(f"mode must be one of {', '.join(FaultMode.values)}; got {mode!r}.")
    status = _whole(data, "status", 500, low=500, high=599)
    count = _whole(data, "count", None, low=1, high=None)
    latency_ms = _whole(data, "latency_ms", 1000 if mode == FaultMode.SLOW else 0, low=0, high=MAX_LATENCY_MS)
    retry_after = _whole(data, "retry_after", 1, low=0, high=3600)
    paths = data.get("paths") or ""
    if not isinstance(paths, str):
        raise invalid("paths must be a path prefix such as 'v1/customers'.")
    with transaction.atomic():
        SimFault.objects.all().delete()
        return SimFault.objects.create(
            mode=mode,
            remaining=count,
            latency_ms=latency_ms or 0,
            retry_after=retry_after if retry_after is not None else 1,
            status=status or 500,
            path_prefix=paths.lstrip("/"),
        )


def clear_faults() -> None:
    SimFault.objects.all().delete()


def current_fault() -> SimFault | None:
    return SimFault.objects.filter(Q(remaining__isnull=True) | Q(remaining__gt=0)).order_by("-pk").first()


def path_matches(prefix: str, relative_path: str) -> bool:
    """Whether a request path starts with a fault's `paths` prefix, where `*` stands for one path segment: so
    "v1/customers/*/orders" faults every customer's orders (a tenant created during the drill included) and nothing
    else, such as the customer's creation at "v1/customers"."""
    if "*" not in prefix:
        return relative_path.startswith(prefix)
    pattern = "[^/]+".join(re.escape(part) for part in prefix.split("*"))
    return re.match(pattern, relative_path) is not None


def take_fault(relative_path: str) -> ActiveFault | None:
    """The fault this request suffers, if any; spends one unit of a counted fault atomically."""
    fault = current_fault()
    if fault is None or not path_matches(fault.path_prefix, relative_path):
        return None
    if fault.remaining is not None:
        # Only the request whose UPDATE matched a positive count gets the fault; the others pass.
        spent = SimFault.objects.filter(pk=fault.pk, remaining__gt=0).update(remaining=F("remaining") - 1)
        if not spent:
            return None
    return ActiveFault(mode=fault.mode, latency_ms=fault.latency_ms, retry_after=fault.retry_after, status=fault.status)


def count_call(endpoint: str) -> None:
    # INSERT ... ON CONFLICT DO NOTHING, then an atomic increment: safe when many first calls arrive at once.
    SimCallCount.objects.bulk_create([SimCallCount(endpoint=endpoint, count=0)], ignore_conflicts=True)
    SimCallCount.objects.filter(endpoint=endpoint).update(count=F("count") + 1)


def call_counts() -> dict[str, int]:
    counts = dict.fromkeys(ENDPOINT_NAMES, 0)
    counts.update(SimCallCount.objects.values_list("endpoint", "count"))
    return counts


def reset_calls() -> None:
    SimCallCount.objects.all().delete()
    reset_rate_limit()


# --- the simulator's own rate limit, playing Microsoft's (PARTNER_CENTER_SIMULATOR_RATE_LIMIT) --------------------
# Microsoft does not publish its limits; the simulator enforces the one it is given, exactly (a moving window of the
# limit's own period, no margin), kept in this process (the simulator is served by one process: runserver, the test
# server). A call over it is answered 429 with Retry-After and counted as "over_limit".

OVER_LIMIT = "over_limit"
_limits: dict[str, Any] = {}


def _rate_limit() -> Any:
    from partner_center.ratelimit import RateLimit

    limit = getattr(settings, "PARTNER_CENTER_SIMULATOR_RATE_LIMIT", "")
    if not limit:
        return None
    if limit not in _limits:
        # No margin: Microsoft counts exactly N calls per period as they arrive.
        _limits[limit] = RateLimit(limit, storage_uri="memory://", namespace="simulator", margin=0.0)
    return _limits[limit]


def over_rate_limit() -> float | None:
    """None when this call is within the limit; else the seconds until a call would be."""
    limit = _rate_limit()
    if limit is None:
        return None
    wait = limit.try_acquire()
    if not wait:
        return None
    count_call(OVER_LIMIT)
    return wait


def reset_rate_limit() -> None:
    for limit in _limits.values():
        limit.reset()
