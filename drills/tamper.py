"""Drill 6, second half: each tamper of the evidence, done to a copy of the running stack's database the way an
insider with the database owner's rights would (triggers off, raw SQL), must be detected and named by the real
`manage.py mca_verify_log` against a checkpoint signed outside the database.

The stack's database is dumped (pg_dump) as an "earlier backup", three confirmations are appended through the API,
a checkpoint of the head is signed (`manage.py mca_checkpoint`, into a folder of its own), and the database is
dumped again. Each tamper gets a fresh copy of that dump (CREATE DATABASE ... TEMPLATE), is applied, verified and
dropped: the running stack's own log is never touched.
"""

from __future__ import annotations

import contextlib
import shutil
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass

import psycopg

from drills.cases import _accounts, check
from drills.http import Api, Simulator, legacy_body
from drills.stack import LOG_DIR, PG_ADMIN_URL, ROOT, Stack

CHECKPOINTS = LOG_DIR / "tamper-checkpoints"


@dataclass(frozen=True)
class Tamper:
    name: str
    apply: Callable[[str], None]  # given the Django database alias of the copy
    expected: tuple[str, ...]  # what the verifier's message must say


def _pg_url(name: str) -> str:
    return PG_ADMIN_URL.rsplit("/", 1)[0] + f"/{name}"


def _run(argv: list[str], env: dict[str, str], timeout: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run(  # noqa: S603 - pg_dump/pg_restore and our own manage.py, with fixed arguments
        argv, cwd=ROOT, env=env, capture_output=True, text=True, timeout=timeout, check=False
    )


def _manage(stack: Stack, database: str, *args: str) -> subprocess.CompletedProcess:
    env = {**stack.env(), "DATABASE_URL": _pg_url(database), "MCA_CHECKPOINT_DIR": str(CHECKPOINTS)}
    return _run([sys.executable, "manage.py", *args], env)


def _admin(statement: str) -> None:
    with psycopg.connect(PG_ADMIN_URL, autocommit=True, connect_timeout=5) as connection:
        connection.execute(statement)


def _dump(database: str, path) -> None:
    done = _run(["pg_dump", "--format=custom", f"--file={path}", _pg_url(database)], env={})
    check(done.returncode == 0, f"pg_dump {database} failed: {done.stderr.strip()[:200]}")


def _restore(path, database: str) -> None:
    _admin(f'DROP DATABASE IF EXISTS "{database}"')
    _admin(f'CREATE DATABASE "{database}"')
    done = _run(["pg_restore", "--no-owner", f"--dbname={_pg_url(database)}", str(path)], env={})
    check(done.returncode == 0, f"pg_restore into {database} failed: {done.stderr.strip()[:200]}")


@contextlib.contextmanager
def _opened(database: str):
    """A Django database alias for the copy, with the log's triggers (and foreign keys) off for this session."""
    from django.db import connections

    alias = f"tamper_{database}"
    connections.settings[alias] = {**connections.settings["default"], "NAME": database}
    try:
        with connections[alias].cursor() as cursor:
            cursor.execute("SET session_replication_role = replica")
        yield alias
    finally:
        connections[alias].close()
        del connections[alias]
        del connections.settings[alias]


def _sql(alias: str, statement: str, params: list | None = None) -> None:
    from django.db import connections

    with connections[alias].cursor() as cursor:
        cursor.execute(statement, params or [])


def _records(alias: str):
    from mca.models import AcceptanceRecord

    return AcceptanceRecord.objects.using(alias).order_by("sequence")


def _move_head(alias: str, sequence: int, last_hash: str) -> None:
    _sql(alias, "UPDATE mca_chainhead SET last_sequence = %s, last_hash = %s WHERE id = 1", [sequence, last_hash])


def _forged_append(alias: str, *, move_head: bool = True) -> None:
    """A row chained correctly after the last (a valid SHA-256 chain) but sealed by someone without the key."""
    from mca.chain import entry_hash, record_values
    from mca.models import AcceptanceRecord

    last = _records(alias).last()
    forged = AcceptanceRecord(
        **{
            field.attname: getattr(last, field.attname)
            for field in AcceptanceRecord._meta.concrete_fields
            if field.attname not in ("id", "idempotency_key")
        }
    )
    forged.sequence, forged.prev_hash, forged.first_name = last.sequence + 1, last.entry_hash, "Mallory"
    forged.entry_hash = entry_hash(record_values(forged), forged.hash_version)
    forged.mac = "0" * 64
    AcceptanceRecord.objects.using(alias).bulk_create([forged])
    if move_head:
        _move_head(alias, forged.sequence, forged.entry_hash)


def _edit_field(alias: str) -> None:
    middle = _records(alias)[_records(alias).count() // 2]
    _sql(alias, "UPDATE mca_acceptancerecord SET email = 'mallory@evil.example' WHERE id = %s", [middle.pk])


def _delete_middle(alias: str) -> None:
    middle = _records(alias)[_records(alias).count() // 2]
    _sql(alias, "DELETE FROM mca_acceptancerecord WHERE id = %s", [middle.pk])


def _truncate_tail(alias: str) -> None:
    *_, before, last = _records(alias)
    _sql(alias, "DELETE FROM mca_acceptancerecord WHERE id = %s", [last.pk])
    _move_head(alias, before.sequence, before.entry_hash)


def _head_back(alias: str) -> None:
    *_, before, _last = _records(alias)
    _move_head(alias, before.sequence, before.entry_hash)


def _head_hash(alias: str) -> None:
    last = _records(alias).last()
    _move_head(alias, last.sequence, "e" * 64)


def _recompute(alias: str, *, version: int | None = None) -> None:
    """Rewrite the first record and re-hash every record after it (SHA-256 needs no key); `version` 2 rewrites the
    whole chain unkeyed (no MAC needed), otherwise the old MACs stay."""
    from mca.chain import GENESIS_HASH, entry_hash, record_values

    previous = GENESIS_HASH
    for record in _records(alias):
        record.prev_hash = previous
        if record.sequence == 1:
            record.email = "mallory@evil.example"
        if version is not None:
            record.hash_version, record.key_id, record.mac = version, "", ""
        record.entry_hash = entry_hash(record_values(record), record.hash_version)
        _sql(
            alias,
            "UPDATE mca_acceptancerecord SET email = %s, prev_hash = %s, entry_hash = %s, hash_version = %s, "
            "key_id = %s, mac = %s WHERE id = %s",
            [
                record.email,
                record.prev_hash,
                record.entry_hash,
                record.hash_version,
                record.key_id,
                record.mac,
                record.pk,
            ],
        )
        previous = record.entry_hash
    _move_head(alias, record.sequence, previous)


def _downgrade(alias: str) -> None:
    """The last record rewritten as the unkeyed hash version 2, its hash recomputed, the head moved to it."""
    from mca.chain import entry_hash, record_values

    last = _records(alias).last()
    last.hash_version = 2
    rehashed = entry_hash(record_values(last), 2)
    _sql(
        alias,
        "UPDATE mca_acceptancerecord SET hash_version = 2, entry_hash = %s, key_id = '', mac = '' WHERE id = %s",
        [rehashed, last.pk],
    )
    _move_head(alias, last.sequence, rehashed)


TAMPERS = (
    Tamper("edited field", _edit_field, ("content does not match its hash",)),
    Tamper("deleted record", _delete_middle, ("are missing before it (deleted)",)),
    Tamper("forged append", _forged_append, ("MAC does not verify", "a forged append")),
    Tamper("extra record past the head", _head_back, ("extra record: it lies past the chain head",)),
    Tamper("moved head", _head_hash, ("the head was moved",)),
    Tamper("truncated tail", _truncate_tail, ("missing", "restored from an earlier backup, or its tail was deleted")),
    Tamper("recomputed chain", _recompute, ("MAC does not verify", "the log was rewritten and its chain recomputed")),
    Tamper(
        "recomputed chain, unkeyed",
        lambda alias: _recompute(alias, version=2),
        ("the log was rewritten and its chain recomputed",),
    ),
    Tamper("downgrade", _downgrade, ("hash version 2 after version-3 records",)),
)


def _log(name: str, output: str) -> None:
    with (LOG_DIR / "tamper.log").open("a", encoding="utf-8") as log:
        log.write(f"--- {name}\n{output}\n")


def _verify(stack: Stack, database: str) -> tuple[int, str]:
    done = _manage(stack, database, "mca_verify_log", "--no-progress", "--no-record")
    return done.returncode, (done.stdout + done.stderr).strip()


def tampers_named(stack: Stack) -> str:
    for tool in ("pg_dump", "pg_restore"):
        check(shutil.which(tool) is not None, f"{tool} not found: install PostgreSQL's client tools")
    CHECKPOINTS.mkdir(parents=True, exist_ok=True)
    backup, current = LOG_DIR / "backup.dump", LOG_DIR / "current.dump"
    _dump(stack.db_name, backup)
    # Written after the backup: the restored backup lacks them, the checkpoint signs them.
    sim = Simulator(stack.simulator_url)
    api = Api(stack.base_url, "bss")
    for n, account in enumerate(_accounts(stack, sim, 3, "tamper")):
        confirmed = api.confirm(account.pk, legacy_body(n, "tamper"))
        check(confirmed.status_code == 201, f"confirmation after the backup: HTTP {confirmed.status_code}")
    # --adopt: this folder of its own starts empty while the log holds records older than the overdue limit.
    signed = _manage(stack, stack.db_name, "mca_checkpoint", "--force", "--adopt")
    check(signed.returncode == 0, f"mca_checkpoint failed: {signed.stderr.strip()[:300]}")
    _dump(stack.db_name, current)
    template = f"{stack.db_name}_t0"
    names: list[str] = []
    try:
        _restore(current, template)
        code, output = _verify(stack, template)
        check(code == 0 and "Acceptance log intact" in output, f"the untouched copy does not verify: {output[-300:]}")
        intact = output.splitlines()[-1].removeprefix("Acceptance log intact: ")
        for number, tamper in enumerate(TAMPERS, start=1):
            copy = f"{stack.db_name}_t{number}"
            _admin(f'CREATE DATABASE "{copy}" TEMPLATE "{template}"')
            try:
                with _opened(copy) as alias:
                    tamper.apply(alias)
                code, output = _verify(stack, copy)
            finally:
                _admin(f'DROP DATABASE IF EXISTS "{copy}"')
            _log(tamper.name, output)
            check(code != 0, f"{tamper.name}: mca_verify_log passed ({output[-200:]})")
            missing = [phrase for phrase in tamper.expected if phrase not in output]
            check(not missing, f"{tamper.name}: not named ({missing[:1]} not in: {output[-400:]})")
            names.append(tamper.name)
        restored = f"{stack.db_name}_backup"
        try:
            _restore(backup, restored)
            code, output = _verify(stack, restored)
        finally:
            _admin(f'DROP DATABASE IF EXISTS "{restored}"')
        _log("restored backup", output)
        expected = "restored from an earlier backup"
        check(code != 0 and expected in output, f"restored backup: not named ({output[-400:]})")
        names.append("restored backup")
    finally:
        _admin(f'DROP DATABASE IF EXISTS "{template}"')
    named = ", ".join(names)
    return (
        f"an untouched copy verifies ({intact.rstrip('.')}); {len(names)} tampers each named by mca_verify_log: {named}"
    )
