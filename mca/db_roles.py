"""Least privilege in PostgreSQL (R7: tamper-evident even against whoever runs the application).

Two roles: the OWNER runs migrations and owns every table, trigger and function; the RUNTIME role (the web
processes, workers, beat) may read and write the application's tables, but on the acceptance log only SELECT and
INSERT, and on the chain head only SELECT. Not being the owner, it cannot ALTER the log's table (so cannot
DISABLE its append-only triggers), and without the TRIGGER privilege it cannot add triggers of its own;
`session_replication_role` needs a superuser. The chain head moves only through `mca_advance_chain_head`, a
SECURITY DEFINER function that runs with the owner's rights and moves the head only to the record after it (so the
runtime role can neither move it back over a cut tail nor skip ahead); `mca_lock_chain_head` takes the row lock
that serialises appends (SELECT ... FOR UPDATE needs UPDATE rights the runtime role does not have).

`grant_runtime_role` (the `mca_db_roles` command) applies the grants, idempotently, after each migrate, and
`runtime_role_problems` lists what differs from them (`mca_db_roles --check`).
"""

from __future__ import annotations

from dataclasses import dataclass

from django.apps import apps
from django.db import connection
from psycopg import sql

from mca.models import AcceptanceRecord, ChainHead

LOCK_FUNCTION = "mca_lock_chain_head"
ADVANCE_FUNCTION = "mca_advance_chain_head"
FUNCTION_SIGNATURES = (f"{LOCK_FUNCTION}()", f"{ADVANCE_FUNCTION}(bigint, character varying, character varying)")

HEAD_TABLE = ChainHead._meta.db_table
RECORD_TABLE = AcceptanceRecord._meta.db_table
# What the runtime role may do on each table the log's integrity rests on; every other table of the project's
# apps gets ordinary read-write rights.
RESTRICTED: dict[str, frozenset[str]] = {
    RECORD_TABLE: frozenset({"SELECT", "INSERT"}),
    HEAD_TABLE: frozenset({"SELECT"}),
    # Read by runserver and `migrate --check`; only the owner migrates.
    "django_migrations": frozenset({"SELECT"}),
}
READ_WRITE = frozenset({"SELECT", "INSERT", "UPDATE", "DELETE"})
TABLE_PRIVILEGES = ("SELECT", "INSERT", "UPDATE", "DELETE", "TRUNCATE", "REFERENCES", "TRIGGER")

# Installed by migration 0008 (PostgreSQL only), owned by whoever migrates: the owner. Names from the models only.
# The search_path is pinned to the tables' schema with pg_temp last, so a caller's temporary table named like the
# head cannot stand in for it (PostgreSQL's advice for SECURITY DEFINER functions).
_FUNCTIONS_SQL = f"""
CREATE OR REPLACE FUNCTION {LOCK_FUNCTION}(OUT head_sequence bigint, OUT head_hash varchar)
LANGUAGE plpgsql SECURITY DEFINER SET search_path = __SCHEMA__, pg_temp AS $$
BEGIN
    SELECT h.last_sequence, h.last_hash INTO head_sequence, head_hash FROM {HEAD_TABLE} h WHERE h.id = 1 FOR UPDATE;
    IF NOT FOUND THEN  -- a database emptied by a test flush; migration 0002 writes the row otherwise
        INSERT INTO {HEAD_TABLE} (id, last_sequence, last_hash) VALUES (1, 0, repeat('0', 64))
            ON CONFLICT (id) DO NOTHING;
        SELECT h.last_sequence, h.last_hash INTO head_sequence, head_hash FROM {HEAD_TABLE} h WHERE h.id = 1
            FOR UPDATE;
    END IF;
END $$;

CREATE OR REPLACE FUNCTION {ADVANCE_FUNCTION}(new_sequence bigint, new_prev_hash varchar, new_hash varchar)
RETURNS void LANGUAGE plpgsql SECURITY DEFINER SET search_path = __SCHEMA__, pg_temp AS $$
BEGIN
    UPDATE {HEAD_TABLE} SET last_sequence = new_sequence, last_hash = new_hash
        WHERE id = 1 AND last_sequence = new_sequence - 1 AND last_hash = new_prev_hash;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'mca: the chain head moves only to the record that follows it (#% does not)', new_sequence;
    END IF;
END $$;

REVOKE ALL ON FUNCTION {FUNCTION_SIGNATURES[0]} FROM PUBLIC;
REVOKE ALL ON FUNCTION {FUNCTION_SIGNATURES[1]} FROM PUBLIC;
"""  # noqa: S608


def functions_sql(schema: str) -> str:
    """The functions' SQL for the tables' schema (quoted as an identifier)."""
    return _FUNCTIONS_SQL.replace("__SCHEMA__", '"' + schema.replace('"', '""') + '"')


DROP_FUNCTIONS_SQL = "".join(f"DROP FUNCTION IF EXISTS {signature};\n" for signature in FUNCTION_SIGNATURES)


def project_tables() -> list[str]:
    """Every table of the installed apps' models that exists in the database (Django's own included)."""
    existing = set(connection.introspection.table_names())
    tables = {model._meta.db_table for model in apps.get_models(include_auto_created=True)} | set(RESTRICTED)
    return sorted(tables & existing)


def expected_privileges(table: str) -> frozenset[str]:
    return RESTRICTED.get(table, READ_WRITE)


@dataclass(frozen=True)
class Granted:
    role: str
    tables: int
    statements: int


def _require_postgresql() -> None:
    if connection.vendor != "postgresql":
        raise RuntimeError("database roles are a PostgreSQL matter: SQLite has no roles (use it for development only)")


def _role_exists(cursor, role: str) -> bool:
    cursor.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", [role])
    return cursor.fetchone() is not None


def grant_runtime_role(*, role: str, create_with_password: str | None = None) -> Granted:
    """Give `role` exactly the runtime rights (idempotent: revoke everything on the project's tables, then grant).

    Run as the owner (the role that migrates). `create_with_password` creates the role as a LOGIN role when it
    does not exist (the owner then needs CREATEROLE)."""
    _require_postgresql()
    statements: list[sql.Composable] = []
    with connection.cursor() as cursor:
        if not _role_exists(cursor, role):
            if create_with_password is None:
                raise LookupError(f"role {role!r} does not exist (create it, or pass a password to create it)")
            statements.append(
                sql.SQL("CREATE ROLE {} LOGIN PASSWORD {}").format(
                    sql.Identifier(role), sql.Literal(create_with_password)
                )
            )
        cursor.execute("SELECT current_database(), current_schema()")
        database, schema = cursor.fetchone()
        if role == connection.settings_dict["USER"]:
            raise ValueError(f"{role!r} is the role this command connects as (the owner): the runtime role is another")
        who = sql.Identifier(role)
        statements += [
            sql.SQL("GRANT CONNECT ON DATABASE {} TO {}").format(sql.Identifier(database), who),
            sql.SQL("GRANT USAGE ON SCHEMA {} TO {}").format(sql.Identifier(schema), who),
            sql.SQL("REVOKE CREATE ON SCHEMA {} FROM {}").format(sql.Identifier(schema), who),
        ]
        tables = project_tables()
        for table in tables:
            name = sql.Identifier(table)
            statements.append(sql.SQL("REVOKE ALL ON TABLE {} FROM {}").format(name, who))
            privileges = sql.SQL(", ").join(sql.SQL(p) for p in sorted(expected_privileges(table)))
            statements.append(sql.SQL("GRANT {} ON TABLE {} TO {}").format(privileges, name, who))
        # Sequences of the tables' ids: nextval (USAGE) and currval; never setval (UPDATE).
        statements.append(
            sql.SQL("GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA {} TO {}").format(sql.Identifier(schema), who)
        )
        for signature in FUNCTION_SIGNATURES:
            statements.append(sql.SQL(f"GRANT EXECUTE ON FUNCTION {signature} TO {{}}").format(who))
        for statement in statements:
            cursor.execute(statement)
    return Granted(role, len(tables), len(statements))


def runtime_role_problems(*, role: str) -> list[str]:
    """What differs from the runtime rights: each problem in words (empty: as it should be)."""
    _require_postgresql()
    problems: list[str] = []
    with connection.cursor() as cursor:
        if not _role_exists(cursor, role):
            return [f"role {role!r} does not exist"]
        cursor.execute("SELECT rolsuper, rolcreaterole, rolcreatedb FROM pg_roles WHERE rolname = %s", [role])
        superuser, createrole, createdb = cursor.fetchone()
        if superuser:
            problems.append(f"{role} is a superuser: it can do anything, triggers included")
        if createrole or createdb:
            problems.append(f"{role} may create roles or databases")
        for table in project_tables():
            cursor.execute("SELECT pg_get_userbyid(relowner) FROM pg_class WHERE oid = %s::regclass", [table])
            owner = cursor.fetchone()[0]
            cursor.execute("SELECT pg_has_role(%s, %s, 'MEMBER')", [role, owner])
            if cursor.fetchone()[0]:
                problems.append(f"{role} owns {table} (or is a member of its owner {owner}): it could ALTER it")
                continue
            has = {privilege for privilege in TABLE_PRIVILEGES if _has_table_privilege(cursor, role, table, privilege)}
            expected = expected_privileges(table)
            if has - expected:
                problems.append(f"{role} has {', '.join(sorted(has - expected))} on {table}")
            if expected - has:
                problems.append(f"{role} lacks {', '.join(sorted(expected - has))} on {table}")
        for signature in FUNCTION_SIGNATURES:
            cursor.execute("SELECT to_regprocedure(%s) IS NOT NULL", [signature])
            if not cursor.fetchone()[0]:
                problems.append(f"function {signature} is missing (run migrate)")
                continue
            cursor.execute("SELECT has_function_privilege(%s, %s, 'EXECUTE')", [role, signature])
            if not cursor.fetchone()[0]:
                problems.append(f"{role} may not execute {signature}")
    return problems


def _has_table_privilege(cursor, role: str, table: str, privilege: str) -> bool:
    cursor.execute("SELECT has_table_privilege(%s, %s, %s)", [role, table, privilege])
    return bool(cursor.fetchone()[0])
