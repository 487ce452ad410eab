"""Drill `insider` (issue 17): every attack of an insider who has what the application has — its database role
and its operating-system user (the checkpoint folder) — and of one with the owner's rights, each on a copy of the
drill database, each caught and named by the database or by the real `manage.py mca_verify_log` / `mca_checkpoint`.

The copy gets a runtime role (`mca_db_roles`, as compose's migrate step does); the runtime role's attacks run as
that role (SET ROLE). The running stack's database and checkpoints are never touched.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import psycopg

from drills.cases import check
from drills.stack import LOG_DIR, Stack
from drills.tamper import _admin, _dump, _pg_url, _restore

CHECKPOINTS = LOG_DIR / "insider-checkpoints"


@dataclass(frozen=True)
class Attack:
    name: str
    run: Callable[[str, str, Stack], str]  # (copy, runtime role, stack) -> what caught it, in its own words


def _as(database: str, role: str | None, statement: str, params: list | None = None) -> None:
    with psycopg.connect(_pg_url(database), autocommit=True, connect_timeout=5) as connection:
        if role:
            connection.execute(f'SET ROLE "{role}"')
        connection.execute(statement, params or [])


def _refused(database: str, role: str, statement: str, params: list | None = None) -> str:
    try:
        _as(database, role, statement, params)
    except psycopg.Error as error:
        return str(error).splitlines()[0]
    raise AssertionError(f"the runtime role was allowed: {statement}")


def _verify_names(
    stack: Stack, database: str, *phrases: str, folder: Path = CHECKPOINTS, first: str | None = None
) -> str:
    """`mca_verify_log` fails naming every phrase; with `first`, its first break (the NOT intact line) names it."""
    done = _manage_in(stack, database, folder, "mca_verify_log", "--no-progress", "--no-record")
    output = (done.stdout + done.stderr).strip()
    check(done.returncode != 0, f"mca_verify_log passed: {output[-200:]}")
    missing = [phrase for phrase in phrases if phrase not in output]
    check(not missing, f"not named: {missing[:1]} not in {output[-400:]}")
    headline = next(line for line in output.splitlines() if "NOT intact" in line or "also:" in line)
    check(first is None or first in headline, f"the first break is not the {first!r} one: {headline[:300]}")
    return headline[:220]


def _manage_in(stack: Stack, database: str, folder: Path, *args: str):
    import sys

    from drills.tamper import _run

    env = {**stack.env(), "DATABASE_URL": _pg_url(database), "MCA_CHECKPOINT_DIR": str(folder)}
    return _run([sys.executable, "manage.py", *args], env)


def _last(database: str) -> tuple[int, int, str]:
    with psycopg.connect(_pg_url(database), connect_timeout=5) as connection:
        return connection.execute(
            "SELECT id, sequence, entry_hash FROM mca_acceptancerecord ORDER BY sequence DESC LIMIT 1"
        ).fetchone()


def _disable_triggers(database: str, role: str, stack: Stack) -> str:
    return _refused(database, role, "ALTER TABLE mca_acceptancerecord DISABLE TRIGGER USER")


def _update_record(database: str, role: str, stack: Stack) -> str:
    return _refused(database, role, "UPDATE mca_acceptancerecord SET first_name = 'Mallory'")


def _delete_record(database: str, role: str, stack: Stack) -> str:
    return _refused(database, role, "DELETE FROM mca_acceptancerecord")


def _truncate(database: str, role: str, stack: Stack) -> str:
    return _refused(database, role, "TRUNCATE mca_acceptancerecord CASCADE")


def _alter_table(database: str, role: str, stack: Stack) -> str:
    return _refused(database, role, "ALTER TABLE mca_acceptancerecord ADD COLUMN note text")


def _head_back(database: str, role: str, stack: Stack) -> str:
    _, sequence, _ = _last(database)
    first = _refused(database, role, "UPDATE mca_chainhead SET last_sequence = %s", [sequence - 1])
    second = _refused(database, role, "SELECT mca_advance_chain_head(1, repeat('0', 64), repeat('f', 64))")
    return f"{first}; {second}"


def _forged_knowledge(database: str, role: str, stack: Stack) -> str:
    _as(
        database,
        role,
        "INSERT INTO mca_customerknowledge (key, kind, accepted_at, template_id, confirmed_by, updated_at, "
        "mac_key_id, mac) VALUES ('account:999999', 'direct_at_microsoft', now(), '', '', now(), 'dev', %s)",
        ["0" * 64],
    )
    return _verify_names(stack, database, "customer knowledge account:999999", "does not verify")


def _forged_append(database: str, role: str, stack: Stack) -> str:
    """A record chained correctly after the last (SHA-256 needs no key), inserted as the runtime role."""
    from drills.tamper import _forged_append as forge
    from drills.tamper import _opened, _sql

    with _opened(database) as alias:
        _sql(alias, f'SET ROLE "{role}"')
        forge(alias, move_head=False)  # the runtime role cannot move the head
    return _verify_names(stack, database, "MAC does not verify")


def _checkpoints_deleted_and_rewritten(database: str, role: str, stack: Stack) -> str:
    """Attack 1 (the app's OS user and the owner's rights): delete the checkpoints, rewrite the chain unkeyed."""
    shutil.rmtree(CHECKPOINTS / "mca-acceptance-log", ignore_errors=True)
    from drills.tamper import _opened, _recompute

    with _opened(database) as alias:
        _recompute(alias, version=2)
    caught = _verify_names(stack, database, "keyed-since floor")
    signed = _manage_in(stack, database, CHECKPOINTS, "mca_checkpoint")
    check(signed.returncode != 0, "mca_checkpoint signed the rewritten log")
    return f"{caught}; mca_checkpoint refused"


def _tail_cut_after_checkpoint(database: str, role: str, stack: Stack) -> str:
    """Attack 2: the tail cut (or an older backup restored) after the last checkpoint."""
    record_id, sequence, _ = _last(database)
    with psycopg.connect(_pg_url(database), autocommit=True) as connection:
        connection.execute("SET session_replication_role = replica")
        connection.execute("DELETE FROM mca_acceptancedelivery WHERE record_id = %s", [record_id])
        connection.execute("DELETE FROM mca_customerknowledge WHERE record_id = %s", [record_id])
        connection.execute("DELETE FROM mca_acceptancerecord WHERE id = %s", [record_id])
        previous = connection.execute(
            "SELECT entry_hash FROM mca_acceptancerecord WHERE sequence = %s", [sequence - 1]
        ).fetchone()[0]
        connection.execute("UPDATE mca_chainhead SET last_sequence = %s, last_hash = %s", [sequence - 1, previous])
    # Named as a missing tail, not as records no checkpoint covers (they are old by now, and the checkpoint past the
    # log's end covers them).
    return _verify_names(
        stack,
        database,
        "signed size",
        "is missing from the end",
        "its tail was deleted",
        first=f"the log ends at #{sequence - 1}",
    )


ATTACKS = (
    Attack("runtime role disables the triggers", _disable_triggers),
    Attack("runtime role updates a record", _update_record),
    Attack("runtime role deletes a record", _delete_record),
    Attack("runtime role truncates the log", _truncate),
    Attack("runtime role alters the table", _alter_table),
    Attack("runtime role moves the head", _head_back),
    Attack("runtime role forges a knowledge row", _forged_knowledge),
    Attack("runtime role forges an append", _forged_append),
    Attack("checkpoints deleted, chain rewritten unkeyed", _checkpoints_deleted_and_rewritten),
    Attack("tail cut after the last checkpoint", _tail_cut_after_checkpoint),
)


def insider_attacks(stack: Stack) -> str:
    shutil.rmtree(CHECKPOINTS, ignore_errors=True)
    CHECKPOINTS.mkdir(parents=True)
    current = LOG_DIR / "insider.dump"
    _dump(stack.db_name, current)
    template = f"{stack.db_name}_i0"
    role = f"{stack.db_name}_runtime"
    caught: list[str] = []
    try:
        _restore(current, template)
        with psycopg.connect(_pg_url(template), autocommit=True) as connection:
            if connection.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", [role]).fetchone() is None:
                connection.execute(f'CREATE ROLE "{role}" NOLOGIN')
        granted = _manage_in(stack, template, CHECKPOINTS, "mca_db_roles", "--role", role)
        check(granted.returncode == 0, f"mca_db_roles failed: {(granted.stdout + granted.stderr)[-300:]}")
        signed = _manage_in(stack, template, CHECKPOINTS, "mca_checkpoint", "--force", "--adopt")
        check(signed.returncode == 0, f"mca_checkpoint failed: {signed.stderr.strip()[-300:]}")
        for number, attack in enumerate(ATTACKS, start=1):
            copy = f"{stack.db_name}_i{number}"
            _admin(f'CREATE DATABASE "{copy}" TEMPLATE "{template}"')
            _as(copy, None, f'GRANT CONNECT ON DATABASE "{copy}" TO "{role}"')
            saved = LOG_DIR / "insider-checkpoints.saved"
            shutil.rmtree(saved, ignore_errors=True)
            shutil.copytree(CHECKPOINTS, saved)
            try:
                message = attack.run(copy, role, stack)
            except AssertionError as error:
                check(False, f"{attack.name}: NOT caught ({error})")
            finally:
                _admin(f'DROP DATABASE IF EXISTS "{copy}"')
                shutil.rmtree(CHECKPOINTS, ignore_errors=True)
                shutil.copytree(saved, CHECKPOINTS)
            print(f"  caught: {attack.name}: {message}", flush=True)
            caught.append(attack.name)
    finally:
        _admin(f'DROP DATABASE IF EXISTS "{template}"')
    return f"{len(caught)} insider attacks caught and named: {', '.join(caught)}"
