"""Least privilege in PostgreSQL (issue 17, attack 3): the runtime role writes the log through the application,
and cannot switch the append-only triggers off, change or remove a record, move the chain head, or alter the
table. Each attack is performed as that role (SET ROLE) against the real database."""

import io
from contextlib import contextmanager

import pytest
from django.core.management import CommandError, call_command
from django.db import DatabaseError, connection, transaction

from mca.db_roles import grant_runtime_role, runtime_role_problems
from mca.models import AcceptanceRecord, ChainHead
from mca.verify import verify_chain

pytestmark = [pytest.mark.postgres, pytest.mark.django_db]


@pytest.fixture
def runtime_role(db) -> str:
    """A runtime role of this test database (roles are cluster-wide: named after the database), with its rights."""
    role = f"{connection.settings_dict['NAME']}_runtime"
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", [role])
        if cursor.fetchone() is None:
            cursor.execute(f'CREATE ROLE "{role}" NOLOGIN')
    grant_runtime_role(role=role)
    return role


@contextmanager
def acting_as(role: str):
    with connection.cursor() as cursor:
        cursor.execute(f'SET ROLE "{role}"')
        try:
            yield cursor
        finally:
            cursor.execute("RESET ROLE")


def refused(cursor, statement: str, params=(), match: str = "permission denied|must be owner"):
    with pytest.raises(DatabaseError, match=match), transaction.atomic():
        cursor.execute(statement, params)


def test_the_runtime_role_appends_through_the_application(records, runtime_role, confirm):
    with acting_as(runtime_role):
        fourth = confirm("litware", "bss")
        assert ChainHead.objects.get(pk=1).last_sequence == 4
        assert verify_chain().ok
    assert (fourth.sequence, fourth.prev_hash) == (4, records[-1].entry_hash)


def test_the_runtime_role_cannot_disable_the_triggers_or_alter_the_table(records, runtime_role):
    with acting_as(runtime_role) as cursor:
        refused(cursor, "ALTER TABLE mca_acceptancerecord DISABLE TRIGGER USER")
        refused(cursor, "ALTER TABLE mca_acceptancerecord DISABLE TRIGGER ALL")
        refused(cursor, "DROP TRIGGER pgtrigger_append_only_20d1d ON mca_acceptancerecord")
        refused(cursor, "ALTER TABLE mca_acceptancerecord ADD COLUMN note text")
        refused(cursor, "ALTER TABLE mca_acceptancerecord OWNER TO CURRENT_USER")
        refused(
            cursor,
            "CREATE TRIGGER sneak BEFORE INSERT ON mca_acceptancerecord FOR EACH ROW "
            "EXECUTE FUNCTION suppress_redundant_updates_trigger()",
        )
        refused(cursor, "SET session_replication_role = replica", match="permission denied")


def test_the_runtime_role_cannot_change_or_remove_a_record(records, runtime_role):
    target = records[1].pk
    with acting_as(runtime_role) as cursor:
        refused(cursor, "UPDATE mca_acceptancerecord SET first_name = 'Mallory' WHERE id = %s", [target])
        refused(cursor, "DELETE FROM mca_acceptancerecord WHERE id = %s", [target])
        refused(cursor, "TRUNCATE mca_acceptancerecord CASCADE")
        # pgtrigger's own switch is a session setting anyone may set: the privileges hold without the trigger.
        cursor.execute("SET LOCAL pgtrigger.ignore = '{mca_acceptancerecord:pgtrigger_append_only_20d1d}'")
        refused(cursor, "UPDATE mca_acceptancerecord SET first_name = 'Mallory' WHERE id = %s", [target])
    assert AcceptanceRecord.objects.get(pk=target).first_name == records[1].first_name


def test_the_runtime_role_moves_the_head_only_to_the_next_record(records, runtime_role):
    with acting_as(runtime_role) as cursor:
        refused(cursor, "UPDATE mca_chainhead SET last_sequence = 2")
        refused(cursor, "DELETE FROM mca_chainhead")
        # Back over a cut tail, or ahead of the log: the owner's function refuses.
        refused(
            cursor,
            "SELECT mca_advance_chain_head(2, %s, %s)",
            [records[0].entry_hash, records[1].entry_hash],
            match="moves only to the record that follows it",
        )
        refused(
            cursor,
            "SELECT mca_advance_chain_head(5, %s, %s)",
            [records[2].entry_hash, "f" * 64],
            match="moves only to the record that follows it",
        )
    assert ChainHead.objects.values_list("last_sequence", "last_hash").get(pk=1) == (3, records[2].entry_hash)


def test_a_temporary_table_cannot_stand_in_for_the_head(records, runtime_role):
    """pg_temp comes last in the functions' search_path: the caller's own "mca_chainhead" is not the head."""
    with acting_as(runtime_role) as cursor:
        cursor.execute("CREATE TEMP TABLE mca_chainhead (id int, last_sequence bigint, last_hash varchar(64))")
        cursor.execute("INSERT INTO mca_chainhead VALUES (1, 99, repeat('e', 64))")
        with transaction.atomic():
            cursor.execute("SELECT head_sequence, head_hash FROM mca_lock_chain_head()")
            assert cursor.fetchone() == (3, records[2].entry_hash)
        cursor.execute("DROP TABLE pg_temp.mca_chainhead")


def test_the_grants_are_checked_and_reapplied(runtime_role):
    assert runtime_role_problems(role=runtime_role) == []
    with connection.cursor() as cursor:
        cursor.execute(f'GRANT UPDATE, TRIGGER ON mca_acceptancerecord TO "{runtime_role}"')
    assert runtime_role_problems(role=runtime_role) == [f"{runtime_role} has TRIGGER, UPDATE on mca_acceptancerecord"]
    with pytest.raises(CommandError, match="has TRIGGER, UPDATE on mca_acceptancerecord"):
        call_command("mca_db_roles", "--check", "--role", runtime_role, stdout=io.StringIO())
    out = io.StringIO()
    call_command("mca_db_roles", "--role", runtime_role, stdout=out)  # again: idempotent
    assert "SELECT/INSERT only on the acceptance log" in out.getvalue()
    assert runtime_role_problems(role=runtime_role) == []


def test_a_superuser_or_owner_as_runtime_role_is_reported(db):
    problems = runtime_role_problems(role=connection.settings_dict["USER"])
    assert any("is a superuser" in problem for problem in problems)
    assert any("owns mca_acceptancerecord" in problem for problem in problems)
