"""Trigram indexes for the readiness page's search on customers (issue 19; PostgreSQL only).

The page searches name and domain with `icontains`, which Django renders on PostgreSQL as
`UPPER("col"::text) LIKE UPPER(%s)`: a GIN index with `gin_trgm_ops` on exactly that expression serves it (one
BitmapOr over both columns) instead of a scan of every name (100 000 accounts: the count of "Lumen" went from 80 ms
to 9 ms, docs/benchmarks.md). SQLite keeps plain scans (small databases), as mca migration 0003 does for the log.

Plain CREATE INDEX (not CONCURRENTLY) so it runs inside the migration's transaction; on a big live table build
them CONCURRENTLY by hand first — `IF NOT EXISTS` then makes this migration a no-op.
"""

from django.db import migrations

TABLE = "bss_account"
SEARCHED_COLUMNS = ("name", "domain")


def _index_name(column: str) -> str:
    return f"bss_account_{column}_trgm"


def create_indexes(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    with schema_editor.connection.cursor() as cursor:
        cursor.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
        for column in SEARCHED_COLUMNS:
            cursor.execute(
                f"CREATE INDEX IF NOT EXISTS {_index_name(column)} ON {TABLE} "
                f"USING gin (UPPER({column}::text) gin_trgm_ops)"
            )


def drop_indexes(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    with schema_editor.connection.cursor() as cursor:
        for column in SEARCHED_COLUMNS:
            cursor.execute(f"DROP INDEX IF EXISTS {_index_name(column)}")


class Migration(migrations.Migration):
    dependencies = [("bss", "0006_orderline_previous_seats")]
    operations = [migrations.RunPython(create_indexes, drop_indexes, elidable=False)]
