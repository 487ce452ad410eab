"""A paginator for big tables: no full-table COUNT(*) on every admin page (Django ticket #8408).

- Unfiltered on PostgreSQL: the planner's row estimate for the table (`pg_class.reltuples`, kept fresh by
  autovacuum/ANALYZE), read in microseconds.
- Filtered on PostgreSQL: the real count, under a short `SET LOCAL statement_timeout`; when that runs out, the
  planner's estimate for the filtered query (EXPLAIN), so a slow count costs at most the timeout.
- Anything else (SQLite): the real count — small databases, and exact numbers in tests.

`is_estimate` tells the template whether to say "about".
"""

from __future__ import annotations

import json
import logging

from django.conf import settings
from django.core.paginator import Paginator
from django.db import DatabaseError, connections, transaction
from django.db.models import QuerySet
from django.utils.functional import cached_property

logger = logging.getLogger(__name__)

# Below this estimate an unfiltered table is simply counted (exact numbers while small; still cheap).
EXACT_COUNT_BELOW = 10_000


def count_timeout_ms() -> int:
    return settings.MCA_ADMIN_COUNT_TIMEOUT_MS


def table_estimate(queryset: QuerySet, using: str) -> int:
    """PostgreSQL's estimate of the table's row count (-1 / 0 when never analysed)."""
    with connections[using].cursor() as cursor:
        cursor.execute(
            "SELECT reltuples::bigint FROM pg_class WHERE oid = to_regclass(%s)", [queryset.model._meta.db_table]
        )
        row = cursor.fetchone()
    return int(row[0]) if row and row[0] is not None else -1


def query_estimate(queryset: QuerySet, using: str) -> int:
    """The planner's estimated row count for the queryset's query."""
    sql, params = queryset.order_by().query.sql_with_params()
    with connections[using].cursor() as cursor:
        cursor.execute(f"EXPLAIN (FORMAT JSON) {sql}", params)
        plan = cursor.fetchone()[0]
    if isinstance(plan, str):
        plan = json.loads(plan)
    return int(plan[0]["Plan"]["Plan Rows"])


def bounded_count(queryset: QuerySet, using: str, timeout_ms: int) -> int | None:
    """The real count if PostgreSQL finishes it within `timeout_ms`, else None."""
    try:
        with transaction.atomic(using=using), connections[using].cursor() as cursor:
            # SET LOCAL outlives a released savepoint: put the previous value back when inside a transaction.
            cursor.execute("SHOW statement_timeout")
            previous = cursor.fetchone()[0]
            cursor.execute(f"SET LOCAL statement_timeout = {int(timeout_ms)}")
            count = queryset.count()
            cursor.execute("SELECT set_config('statement_timeout', %s, true)", [previous])
            return count
    except DatabaseError as error:  # QueryCanceled: the count took longer than the budget
        logger.info("Count abandoned after %s ms, using the planner's estimate: %s", timeout_ms, error)
        return None


class EstimatedCountPaginator(Paginator):
    """A Paginator whose `count` never scans a million rows on PostgreSQL."""

    is_estimate = False

    @cached_property
    def count(self) -> int:
        queryset = self.object_list
        if not isinstance(queryset, QuerySet):
            return super().count
        using = queryset.db
        if connections[using].vendor != "postgresql":
            return queryset.count()
        if not queryset.query.where:
            estimate = table_estimate(queryset, using)
            if estimate >= EXACT_COUNT_BELOW:
                self.is_estimate = True
                return estimate
            return queryset.count()
        exact = bounded_count(queryset, using, count_timeout_ms())
        if exact is not None:
            return exact
        self.is_estimate = True
        return query_estimate(queryset, using)
