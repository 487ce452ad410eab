"""Database-level protection of the acceptance log on SQLite (PostgreSQL's comes from pgtrigger).

Kept in one place so the migration that installs the triggers and the test database backend that lifts them
for a test flush (mca/testing/) agree.
"""

from __future__ import annotations

RECORD_TABLE = "mca_acceptancerecord"

SQLITE_TRIGGERS: dict[str, str] = {
    "mca_acceptancerecord_no_update": (
        f"CREATE TRIGGER IF NOT EXISTS mca_acceptancerecord_no_update BEFORE UPDATE ON {RECORD_TABLE} "
        "BEGIN SELECT RAISE(ABORT, 'mca: acceptance records cannot be updated'); END"
    ),
    "mca_acceptancerecord_no_delete": (
        f"CREATE TRIGGER IF NOT EXISTS mca_acceptancerecord_no_delete BEFORE DELETE ON {RECORD_TABLE} "
        "BEGIN SELECT RAISE(ABORT, 'mca: acceptance records cannot be deleted'); END"
    ),
}


def install_sqlite_triggers(cursor) -> None:
    for sql in SQLITE_TRIGGERS.values():
        cursor.execute(sql)


def drop_sqlite_triggers_sql() -> list[str]:
    return [f"DROP TRIGGER IF EXISTS {name}" for name in SQLITE_TRIGGERS]
