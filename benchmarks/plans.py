"""SQL capture and EXPLAIN for the benchmarks: which indexes the queries the application really runs use."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from django.db import connection

LOG_TABLES = ("mca_acceptancerecord", "mca_acceptancedelivery")


@dataclass
class Captured:
    """The SELECTs on the log's tables that ran inside `capture()`, with their parameters."""

    queries: list[tuple[str, Any]] = field(default_factory=list)


@contextmanager
def capture(tables: tuple[str, ...] = LOG_TABLES) -> Iterator[Captured]:
    """Collect the SELECT statements that touch `tables` (counts, lists, look-ups, sweeps), as sent."""
    captured = Captured()

    def wrapper(execute: Callable, sql: str, params: Any, many: bool, context: dict) -> Any:
        text = sql.lstrip().upper()
        if text.startswith("SELECT") and any(table in sql for table in tables):
            captured.queries.append((sql, params))
        return execute(sql, params, many, context)

    with connection.execute_wrapper(wrapper):
        yield captured


def plan(sql: str, params: Any = None) -> dict:
    """PostgreSQL's plan (EXPLAIN, not ANALYZE: nothing runs) as a dict."""
    with connection.cursor() as cursor:
        cursor.execute(f"EXPLAIN (FORMAT JSON) {sql}", params)
        found = cursor.fetchone()[0]
    return (json.loads(found) if isinstance(found, str) else found)[0]["Plan"]


def indexes_in(node: dict) -> set[str]:
    """Every index a plan (or any of its sub-plans) scans."""
    found = {node["Index Name"]} if "Index Name" in node else set()
    for child in node.get("Plans", ()):
        found |= indexes_in(child)
    return found


def scans_in(node: dict, table: str) -> list[str]:
    """How a plan reads `table`: the node types that scan it ("Seq Scan", "Index Scan", ...)."""
    found = [node["Node Type"]] if node.get("Relation Name") == table else []
    for child in node.get("Plans", ()):
        found += scans_in(child, table)
    return found


@dataclass(frozen=True)
class IndexInfo:
    table: str
    name: str
    definition: str
    unique: bool
    primary: bool
    constraint: str  # "p", "u" or "" (a plain index)
    bytes: int


def indexes_of(tables: tuple[str, ...] = LOG_TABLES) -> list[IndexInfo]:
    with connection.cursor() as cursor:
        cursor.execute(
            """
            SELECT t.relname, c.relname, pg_get_indexdef(c.oid), x.indisunique, x.indisprimary,
                   COALESCE(k.contype::text, ''), pg_relation_size(c.oid)
            FROM pg_index x
            JOIN pg_class c ON c.oid = x.indexrelid
            JOIN pg_class t ON t.oid = x.indrelid
            LEFT JOIN pg_constraint k ON k.conindid = c.oid AND k.contype IN ('p', 'u')
            WHERE t.relname = ANY(%s)
            ORDER BY t.relname DESC, x.indisprimary DESC, c.relname
            """,
            [list(tables)],
        )
        return [IndexInfo(*row) for row in cursor.fetchall()]
