"""Test-only SQLite backend: a test flush may empty the append-only log; nothing else may.

Django's TransactionTestCase (and pytest-django's transactional_db/live_server) resets the database with
`flush`, which on SQLite is a DELETE per table — exactly what the log's triggers refuse. This backend lifts
the triggers for the flush statement list only and puts them back after. Production never uses it.
"""

from django.db.backends.sqlite3 import base, operations

from mca.db import RECORD_TABLE, SQLITE_TRIGGERS, drop_sqlite_triggers_sql


class DatabaseOperations(operations.DatabaseOperations):
    def sql_flush(self, style, tables, *, reset_sequences=False, allow_cascade=False):
        statements = super().sql_flush(style, tables, reset_sequences=reset_sequences, allow_cascade=allow_cascade)
        if RECORD_TABLE not in tables:
            return statements
        return [*drop_sqlite_triggers_sql(), *statements, *SQLITE_TRIGGERS.values()]


class DatabaseWrapper(base.DatabaseWrapper):
    ops_class = DatabaseOperations
