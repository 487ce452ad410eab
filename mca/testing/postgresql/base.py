"""Test-only PostgreSQL backend: a test flush may TRUNCATE the append-only log; nothing else may.

Django's TransactionTestCase resets the database with TRUNCATE, which the log's trigger refuses. This backend
disables the table's user triggers around the flush statements only. Production never uses it.
"""

from django.db.backends.postgresql import base, operations

from mca.db import RECORD_TABLE


class DatabaseOperations(operations.DatabaseOperations):
    def sql_flush(self, style, tables, *, reset_sequences=False, allow_cascade=False):
        statements = super().sql_flush(style, tables, reset_sequences=reset_sequences, allow_cascade=allow_cascade)
        if RECORD_TABLE not in tables:
            return statements
        return [
            f'ALTER TABLE "{RECORD_TABLE}" DISABLE TRIGGER USER',
            *statements,
            f'ALTER TABLE "{RECORD_TABLE}" ENABLE TRIGGER USER',
        ]


class DatabaseWrapper(base.DatabaseWrapper):
    ops_class = DatabaseOperations
