from __future__ import annotations

import logging
import statistics
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager


def measure(fn: Callable[[], object], repeat: int) -> list[float]:
    """Wall times in seconds of `repeat` calls."""
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        fn()
        times.append(time.perf_counter() - started)
    return times


def median(times: list[float]) -> float:
    return statistics.median(times)


def p95(times: list[float]) -> float:
    ordered = sorted(times)
    return ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]


def count_queries(fn: Callable[[], object]) -> int:
    """The number of SQL statements one call sends (a wrapper: the request_started signal empties
    connection.queries, so DEBUG's query log cannot count a request)."""
    from django.db import connection

    seen: list[str] = []

    def count(execute, sql, params, many, context):
        seen.append(sql)
        return execute(sql, params, many, context)

    with connection.execute_wrapper(count):
        fn()
    return len(seen)


class CountsAbandoned(logging.Handler):
    """Counts the admin paginator's "count abandoned" messages (a filtered count ran past its budget and the
    page showed the planner's estimate) instead of printing one per request in the middle of a table."""

    def __init__(self) -> None:
        super().__init__()
        self.abandoned = 0

    def emit(self, record: logging.LogRecord) -> None:
        self.abandoned += 1


@contextmanager
def counting_abandoned_counts() -> Iterator[CountsAbandoned]:
    logger = logging.getLogger("mca.paginator")
    handler = CountsAbandoned()
    propagate = logger.propagate
    logger.addHandler(handler)
    logger.propagate = False
    try:
        yield handler
    finally:
        logger.removeHandler(handler)
        logger.propagate = propagate
