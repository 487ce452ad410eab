"""Appending to the acceptance log (R7, R8): the one place a record is sealed into the hash chain.

Callers build an unsaved `AcceptanceRecord` (with `snapshot` for the who / for whom / where / what fields every
record shares) and call `append` inside their transaction: it locks the chain head, so sequence numbers and hash
links stay linear under concurrency, and the record commits or rolls back with the caller's other writes.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction
from django.db.models import Field
from django.utils import timezone

from bss.choices import Role
from bss.models import Account, Membership
from mca.chain import CURRENT_VERSION, entry_hash, record_values, seal
from mca.checkpoints import schedule_checkpoint
from mca.context import ConfirmationContext
from mca.db_roles import ADVANCE_FUNCTION, LOCK_FUNCTION
from mca.models import AcceptanceRecord, ChainHead
from mca.signals import acceptance_recorded
from partner_center.types import MCA


def display_name(user: AbstractBaseUser) -> str:
    full = user.get_full_name() if hasattr(user, "get_full_name") else ""
    return full or user.get_username()


def actor_role(user: AbstractBaseUser, membership: Membership | None) -> str:
    if membership is not None:
        return membership.role
    return Role.ADMIN if user.is_superuser else ""


def is_first_party(user: AbstractBaseUser) -> bool:
    """The customer's own user (first-party acceptance) rather than someone attesting on its behalf."""
    membership = Membership.of(user)
    return membership is not None and membership.role == Role.CUSTOMER


def actor_snapshot(actor: AbstractBaseUser) -> dict[str, Any]:
    """Who acted, as the record keeps it: a snapshot that stays true when the user or its role changes."""
    membership = Membership.of(actor)
    return {
        "actor_user_id": actor.pk,
        "actor_username": actor.get_username(),
        "actor_display_name": display_name(actor),
        "actor_role": actor_role(actor, membership),
        "actor_organisation": membership.organisation_name if membership is not None else "",
    }


def account_snapshot(account: Account) -> dict[str, Any]:
    reseller = account.reseller
    return {
        "account": account,
        "account_name": account.name,
        "reseller": reseller,
        "reseller_name": reseller.name if reseller else "",
        "tenant_id": str(account.partner_center_tenant_id or ""),
        "language": account.language or "en-US",
        "country": account.country.code or "US",
    }


def context_snapshot(context: ConfirmationContext) -> dict[str, Any]:
    return {
        "channel": context.channel,
        "host": context.host[:253],
        "ip_address": context.ip_address,
        "user_agent": context.user_agent[:500],
        "order_number": context.order_number,
        "subscription_ref": context.subscription_ref,
        "operation": context.operation,
        "agreement_type": MCA,
        "template_id": context.template_id,
        "template_version_rank": context.template_version_rank,
        "document_link": context.document_link,
    }


def follow_up_values(story: AcceptanceRecord) -> dict[str, Any]:
    """What a later step of a story repeats from its first record: for whom, where it started, what was shown."""
    names = (
        "account_id",
        "account_name",
        "reseller_id",
        "reseller_name",
        "channel",
        "agreement_type",
        "template_id",
        "template_version_rank",
        "document_link",
        "language",
        "country",
        "first_name",
        "last_name",
        "email",
        "phone",
        "signatory_company",
        "order_number",
        "subscription_ref",
        "operation",
        "evidence_class",
        "log_sufficient_as_proof",
        "attestation_id",
    )
    return {name: getattr(story, name) for name in names}


def lock_head() -> ChainHead:
    """Lock the chain head for the rest of the caller's transaction: appends are serialised by this lock.

    On PostgreSQL through `mca_lock_chain_head()` (SECURITY DEFINER, migration 0008): the runtime role has no
    UPDATE right on the head, which SELECT ... FOR UPDATE needs (mca.db_roles)."""
    connection = transaction.get_connection()
    if not connection.in_atomic_block:
        raise RuntimeError("the chain head is locked inside transaction.atomic(): the record commits with its story")
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute(_LOCK_HEAD_SQL)
            last_sequence, last_hash = cursor.fetchone()
        return ChainHead(pk=1, last_sequence=last_sequence, last_hash=last_hash)
    head = ChainHead.objects.select_for_update().filter(pk=1).first()
    if head is None:  # a database emptied by a test flush; migration 0002 writes it otherwise
        ChainHead.objects.get_or_create(pk=1)
        head = ChainHead.objects.select_for_update().get(pk=1)
    return head


def append(record: AcceptanceRecord, *, then: Callable[[AcceptanceRecord], object] | None = None) -> AcceptanceRecord:
    """Seal an unsaved record into the chain (hash version 3: content digest, link hash, MAC with the current
    key) and save it; `then(record)` writes the rows that refer to it (knowledge, outbox, attestation) in the same
    transaction. Must run inside the caller's transaction.

    The chain head's lock serialises appends and is held until commit, so what runs while it is held bounds how
    many confirmations a second the log takes. On PostgreSQL the record's id is drawn from its sequence first and
    `then` runs before the lock (foreign keys are checked at commit: Django declares them DEFERRABLE INITIALLY
    DEFERRED), so the lock covers only the seal: lock the head, one statement that inserts the record and moves
    the head (through `mca_advance_chain_head`, which moves it only to the record after it), commit. SQLite
    serialises writers anyway: there the record is saved first and `then` runs after.
    A repeated idempotency key raises IntegrityError (the column is unique) and the transaction writes nothing.
    """
    connection = transaction.get_connection()
    if not connection.in_atomic_block:
        raise RuntimeError("append runs inside transaction.atomic(): the record commits with its story")
    _stamp_content(record)
    # A checkpoint follows within MCA_CHECKPOINT_MAX_LAG_SECONDS (batched; nothing when the transaction rolls back).
    transaction.on_commit(schedule_checkpoint)
    if connection.vendor != "postgresql":
        head = lock_head()
        _seal(record, head.last_sequence, head.last_hash)
        record.save()
        head.last_sequence, head.last_hash = record.sequence, record.entry_hash
        head.save(update_fields=["last_sequence", "last_hash"])
        if then is not None:
            then(record)
        _announce(record)
        return record
    with connection.cursor() as cursor:
        cursor.execute(_NEXT_ID_SQL)
        record.pk = cursor.fetchone()[0]
        if then is not None:
            then(record)
        _announce(record)
        head = lock_head()
        _seal(record, head.last_sequence, head.last_hash)
        cursor.execute(_INSERT_AND_MOVE_HEAD_SQL, [_db_value(field, record, connection) for field in _RECORD_FIELDS])
    record._state.adding = False
    record._state.db = connection.alias
    return record


def _announce(record: AcceptanceRecord) -> None:
    """`acceptance_recorded`, in the record's transaction. On PostgreSQL before the chain head is locked (its
    receivers' writes never lengthen the lock), so the record has its id but not yet its sequence number."""
    if acceptance_recorded.has_listeners():
        acceptance_recorded.send(sender=AcceptanceRecord, record=record)


def _stamp_content(record: AcceptanceRecord) -> None:
    record.hash_version = CURRENT_VERSION
    record.created_at = record.created_at or timezone.now()
    if record.form_data == "":
        record.form_data = "{}"


def _seal(record: AcceptanceRecord, last_sequence: int, last_hash: str) -> None:
    record.sequence = last_sequence + 1
    record.prev_hash = last_hash
    record.entry_hash = entry_hash(record_values(record))
    # The keyed seal: the key is in the settings, so a row written by anyone else (a plain INSERT) has no valid MAC.
    record.key_id, record.mac = seal(record.entry_hash)


def _db_value(field: Field, record: AcceptanceRecord, connection: Any) -> Any:
    return field.get_db_prep_save(field.pre_save(record, True), connection=connection)


# Every column of the record, the id included (drawn from its sequence before the lock), declared by the model.
_RECORD_FIELDS = AcceptanceRecord._meta.concrete_fields
_NEXT_ID_SQL = (
    f"SELECT nextval(pg_get_serial_sequence('{AcceptanceRecord._meta.db_table}', '{AcceptanceRecord._meta.pk.column}'))"
)
# Table and column names come from the models, values are parameters. The head moves through the owner's
# SECURITY DEFINER function (the runtime role may not UPDATE it), still in the one statement that inserts.
_INSERT_AND_MOVE_HEAD_SQL = (
    f"WITH inserted AS (INSERT INTO {AcceptanceRecord._meta.db_table} "  # noqa: S608
    f"({', '.join(field.column for field in _RECORD_FIELDS)}) VALUES ({', '.join(['%s'] * len(_RECORD_FIELDS))}) "
    f"RETURNING sequence, prev_hash, entry_hash) "
    f"SELECT {ADVANCE_FUNCTION}(inserted.sequence, inserted.prev_hash, inserted.entry_hash) FROM inserted"
)
_LOCK_HEAD_SQL = f"SELECT head_sequence, head_hash FROM {LOCK_FUNCTION}()"  # noqa: S608
