"""Trigram indexes for the setup area's search on the acceptance log (PostgreSQL only).

The admin searches with `icontains`, which Django renders on PostgreSQL as `UPPER("col"::text) LIKE UPPER(%s)`;
a GIN index with `gin_trgm_ops` on exactly that expression serves it (one BitmapOr over the searched columns)
instead of a sequential scan of a million rows. SQLite keeps plain scans (small databases).

Plain CREATE INDEX (not CONCURRENTLY) so it runs inside the migration's transaction; on a big live table build
them CONCURRENTLY by hand first — `IF NOT EXISTS` then makes this migration a no-op.
"""

from django.db import migrations

TABLE = "mca_acceptancerecord"
SEARCHED_COLUMNS = ("account_name", "first_name", "last_name", "actor_display_name", "email")


def _index_name(column: str) -> str:
    return f"mca_record_{column}_trgm"


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
    dependencies = [("mca", "0002_sqlite_append_only_and_chain_head")]
    operations = [migrations.RunPython(create_indexes, drop_indexes, elidable=False)]
