"""What is known per Microsoft customer (R2): looked up by key, remembered, moved to the tenant on sync."""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext
from datetime import UTC, datetime
from typing import Any

from django.db import IntegrityError, NotSupportedError, connections, transaction
from django.db.models import DateTimeField, Expression, JSONField, QuerySet
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from bss.models import Account
from mca.choices import AcceptanceKind
from mca.models import AcceptanceRecord, CustomerKnowledge
from mca.rules import attestation_counts
from mca.seal import knowledge_seal_problem, knowledge_sealed, seal_knowledge

logger = logging.getLogger(__name__)

# Stronger evidence is never replaced by weaker: a direct acceptance at Microsoft stays what we know.
_STRENGTH = {
    AcceptanceKind.DIRECT_AT_MICROSOFT: 2,
    AcceptanceKind.SIGNATORY_AT_MICROSOFT: 2,
    AcceptanceKind.PARTNER_CENTER_ATTESTATION: 1,
    AcceptanceKind.CONFIRMED_HERE: 1,
}


ACCEPTED_AT_MICROSOFT = frozenset({AcceptanceKind.DIRECT_AT_MICROSOFT, AcceptanceKind.SIGNATORY_AT_MICROSOFT})


def knowledge_key(account: Account) -> str:
    """Two accounts of one Partner Center tenant share a key; a not-synced account has its own."""
    if account.partner_center_tenant_id is not None:
        return f"tenant:{account.partner_center_tenant_id}"
    return f"account:{account.pk}"


def known_acceptance(account: Account) -> CustomerKnowledge | None:
    """What is known about the account's customer: carried by the account when it was loaded through
    `with_known_acceptance` and still counts, otherwise one query."""
    carried = _carried_knowledge(account)
    if carried is not None:
        return carried
    knowledge = CustomerKnowledge.objects.filter(key=knowledge_key(account)).first()
    if knowledge is not None and not knowledge_sealed(knowledge):
        # Forged or edited without the key: unknown, so the gate asks again; `mca_verify_log` names the row.
        logger.warning(
            "Customer knowledge %s does not verify (%s): treated as unknown",
            knowledge.key,
            knowledge_seal_problem(knowledge),
        )
        return None
    return knowledge


def lock_customer(key: str) -> None:
    """Serialise writers for one customer until the caller's transaction ends (PostgreSQL advisory lock; SQLite
    serialises every writer already). Customers never wait for each other."""
    connection = transaction.get_connection()
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(hashtextextended(%s, 0))", [key])


# --- Knowledge read with the account, in the same query -----------------------------------------------------
# A checkout loads its account on every step anyway; reading the customer's knowledge row in that same SELECT
# (a correlated subquery on the unique `key`) lets the gate answer a known customer without a query of its own.
# The subquery is written as one expression with a fixed SQL text per database: built from Django's Case, Concat
# and JSONObject it cost about 2 ms of query compilation per load (measured here), more than the query it saves.

_CARRIED = "mca_known_acceptance"  # the annotation: the knowledge row as a JSON object, or None
_CARRIED_INSTANCE = "_mca_carried_knowledge"  # that row as a CustomerKnowledge, built once per loaded account
_CARRIED_FIELDS = tuple(field.name for field in CustomerKnowledge._meta.concrete_fields)  # the whole row
_FIELD_ATTNAMES = [field.attname for field in CustomerKnowledge._meta.concrete_fields]


def _sqlite_uuid_text(column: str) -> str:
    parts = [f"substr({column}, {start}, {length})" for start, length in ((1, 8), (9, 4), (13, 4), (17, 4), (21, 12))]
    return "lower(" + " || '-' || ".join(parts) + ")"


# vendor -> (JSON object function, the tenant column as str(uuid) text, the pk column as text)
_KEY_SQL: dict[str, tuple[str, Callable[[str], str], Callable[[str], str]]] = {
    "postgresql": ("jsonb_build_object", lambda column: f"{column}::text", lambda column: f"{column}::text"),
    "sqlite": ("json_object", _sqlite_uuid_text, lambda column: f"CAST({column} AS TEXT)"),
}


@functools.lru_cache(maxsize=32)
def _knowledge_row_sql(vendor: str, pk_column: str, tenant_column: str) -> str:
    json_object, tenant_text, pk_text = _KEY_SQL[vendor]
    quote = '"{}"'.format  # PostgreSQL's and SQLite's quote_name: double quotes
    fields = [CustomerKnowledge._meta.get_field(name) for name in _CARRIED_FIELDS]
    columns = ", ".join(f"'{field.attname}', mca_k.{quote(field.column)}" for field in fields)
    key = (
        f"CASE WHEN {tenant_column} IS NOT NULL THEN 'tenant:' || {tenant_text(tenant_column)} "
        f"ELSE 'account:' || {pk_text(pk_column)} END"
    )
    table = quote(CustomerKnowledge._meta.db_table)
    # Only model metadata and the compiler's own column references go into this text; nothing from a request.
    return f"(SELECT {json_object}({columns}) FROM {table} mca_k WHERE mca_k.{quote('key')} = {key})"  # noqa: S608


class _KnowledgeRow(Expression):
    """The account's CustomerKnowledge row as a JSON object (NULL when none): the row whose key is
    `knowledge_key(account)` computed in SQL — "tenant:" + the tenant id spelt as Python's `str(uuid)` (PostgreSQL's
    uuid casts to it; SQLite holds Django's UUIDField as 32 hex digits, which get their hyphens back), or
    "account:" + the primary key. `_carried_knowledge` checks the row's key against Python's, so a spelling that
    ever differed would only cost the query this saves.

    It refers to the columns of the query's base table directly (no F() to resolve, a plain identity): every
    microsecond here is paid on each checkout step, and Django's generic expression machinery cost more than the
    SQL itself."""

    output_field = JSONField()

    def __init__(self, alias: str | None = None) -> None:
        super().__init__()
        self.alias = alias

    @property
    def identity(self) -> tuple:
        return (type(self), self.alias)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, _KnowledgeRow) and other.alias == self.alias

    def __hash__(self) -> int:
        return hash((type(self), self.alias))

    def resolve_expression(self, query=None, allow_joins=True, reuse=None, summarize=False, for_save=False):
        return _KnowledgeRow(query.get_initial_alias())

    def as_sql(self, compiler, connection, **extra_context):
        if connection.vendor not in _KEY_SQL:
            raise NotSupportedError(f"with_known_acceptance supports PostgreSQL and SQLite, not {connection.vendor}")
        table = compiler.quote_name_unless_alias(self.alias)
        pk = f"{table}.{connection.ops.quote_name(Account._meta.pk.column)}"
        tenant = f"{table}.{connection.ops.quote_name(Account._meta.get_field('partner_center_tenant_id').column)}"
        return _knowledge_row_sql(connection.vendor, pk, tenant), []


def with_known_acceptance(accounts: QuerySet[Account]) -> QuerySet[Account]:
    """`accounts` with each account's knowledge row read in the same query, so that `known_acceptance` (and the
    gate) answers a customer whose acceptance is known without a query. On a database other than PostgreSQL or
    SQLite the queryset is returned unchanged (the gate then reads the row itself)."""
    if connections[accounts.db].vendor not in _KEY_SQL:
        return accounts
    return accounts.annotate(**{_CARRIED: _KnowledgeRow()})


def _carried_knowledge(account: Account) -> CustomerKnowledge | None:
    """The knowledge the account carries, when it counts and is for the account's current key. Only a positive
    answer is used: "nothing known" is read again, since a check in the same request (Check now, a submitted
    form) may just have learned it."""
    row: Any = account.__dict__.get(_CARRIED)
    if not isinstance(row, dict) or row.get("key") != knowledge_key(account):
        return None
    knowledge = account.__dict__.get(_CARRIED_INSTANCE)
    if knowledge is None or knowledge.key != row["key"]:
        knowledge = account.__dict__[_CARRIED_INSTANCE] = _knowledge_from(row)
    return knowledge if still_counts(knowledge) else None


def _knowledge_from(row: dict[str, Any]) -> CustomerKnowledge:
    # from_db with every concrete field in order takes Model.__init__'s positional fast path (a third of the cost)
    values = []
    for field in CustomerKnowledge._meta.concrete_fields:
        value = row.get(field.attname)
        values.append(_moment(value) if isinstance(field, DateTimeField) else value)
    return CustomerKnowledge.from_db(None, _FIELD_ATTNAMES, values)


def _moment(value: Any) -> datetime | None:
    """A date-time from the JSON object: PostgreSQL writes ISO 8601 with the offset, SQLite Django's stored text
    (UTC without an offset)."""
    if value is None:
        return None
    moment = parse_datetime(str(value))
    if moment is None:
        raise ValueError(f"Not a date-time in the carried knowledge row: {value!r}")
    return moment if timezone.is_aware(moment) else moment.replace(tzinfo=UTC)


def still_counts(knowledge: CustomerKnowledge | None) -> bool:
    """R4a: the customer's own acceptance at Microsoft (directly, or as the signatory of an enhanced attestation)
    always counts; a partner attestation only if recent enough. A row whose seal does not verify never counts."""
    if knowledge is None or not knowledge_sealed(knowledge):
        return False
    return knowledge.kind in ACCEPTED_AT_MICROSOFT or attestation_counts(knowledge.accepted_at)


def _is_newer_or_stronger(current: CustomerKnowledge, kind: str, accepted_at: datetime) -> bool:
    if _STRENGTH[kind] != _STRENGTH[current.kind]:
        return _STRENGTH[kind] > _STRENGTH[current.kind]
    return accepted_at >= current.accepted_at


def remember_acceptance(
    *,
    key: str,
    kind: str,
    accepted_at: datetime,
    template_id: str = "",
    template_version_rank: int | None = None,
    confirmed_by: str = "",
    record: AcceptanceRecord | None = None,
    verified: bool = False,
    source: str = "acceptance",
) -> CustomerKnowledge:
    """Store a positive answer so the next check is local; keep the stronger or newer of old and new. An account
    whose MCA state this moves is announced (`mca.signals.state_changed`, with `source`: what found it)."""
    values = {
        "kind": kind,
        "accepted_at": accepted_at,
        "template_id": template_id,
        "template_version_rank": template_version_rank,
        "confirmed_by": confirmed_by,
        "record": record,
        "verified_at": timezone.now() if verified else None,
    }
    # No savepoint of its own: a failure fails the caller's transaction anyway (two round trips saved).
    with transaction.atomic(savepoint=False), state_changes(key, source=source):
        connection = transaction.get_connection()
        if not verified and connection.vendor == "postgresql":
            written = _write_if_newer_or_stronger(connection, key, values)
            if written is not None:
                return written
        # The rest, and SQLite: a row stronger than this one, one that may need its seal checked before it is
        # kept, a verified refresh, or a row another transaction wrote meanwhile.
        current = CustomerKnowledge.objects.select_for_update().filter(key=key).first()
        if current is None:
            try:
                with transaction.atomic():
                    created = CustomerKnowledge.objects.create(key=key, **values)
                _announce(key)
                return created
            except IntegrityError:  # another request stored it first: fall through and compare
                current = CustomerKnowledge.objects.select_for_update().get(key=key)
        if not still_counts(current):
            _announce(key)  # it did not count before (stale): now it may
        if not knowledge_sealed(current) or _is_newer_or_stronger(current, kind, accepted_at):
            # A row that does not verify is replaced whole, never re-sealed with its forged content.
            for field, value in values.items():
                setattr(current, field, value)
        elif verified and current.kind == kind:
            current.verified_at = timezone.now()
        current.save()
        return current


# --- The common write in one statement (PostgreSQL) ------------------------------------------------------------
# A confirmation for a customer usually adds a row or replaces one that is older or as strong: one
# INSERT ... ON CONFLICT DO UPDATE ... WHERE newer-or-stronger, sealed in Python over the new values (the seal does
# not cover the id), instead of a locking SELECT and an UPDATE built by the ORM (about a quarter of a
# confirmation's client CPU, issue 20). The row as it was before (for "did it count before") is read in the same
# statement, from the statement's snapshot. When the statement writes nothing (the row is stronger, or another
# transaction wrote it after that snapshot) `remember_acceptance` goes on with the row locked and compared in
# Python, as it always did.

_WRITTEN_FIELDS = [field for field in CustomerKnowledge._meta.concrete_fields if not field.primary_key]
_OLD_FIELDS = [CustomerKnowledge._meta.pk, *_WRITTEN_FIELDS]


def _strength_sql(column: str) -> str:
    cases = " ".join(f"WHEN '{kind}' THEN {strength}" for kind, strength in _STRENGTH.items())
    return f"(CASE {column} {cases} END)"  # NULL for a kind it does not know: nothing written, Python decides


def _upsert_sql() -> str:
    table = CustomerKnowledge._meta.db_table
    quote = '"{}"'.format
    key = quote(CustomerKnowledge._meta.get_field("key").column)
    written = ", ".join(quote(field.column) for field in _WRITTEN_FIELDS)
    updates = ", ".join(
        f"{quote(field.column)} = EXCLUDED.{quote(field.column)}" for field in _WRITTEN_FIELDS if field.name != "key"
    )
    old = ", ".join(f"old.{quote(field.column)}" for field in _OLD_FIELDS)
    accepted_at = quote(CustomerKnowledge._meta.get_field("accepted_at").column)
    kind = quote(CustomerKnowledge._meta.get_field("kind").column)
    new_strength, old_strength = _strength_sql(f"EXCLUDED.{kind}"), _strength_sql(f"k.{kind}")
    # Table and column names come from the model, the strengths from _STRENGTH; values are parameters.
    return (
        f"WITH old AS (SELECT * FROM {table} WHERE {key} = %s), "  # noqa: S608
        f"written AS (INSERT INTO {table} AS k ({written}) VALUES ({', '.join(['%s'] * len(_WRITTEN_FIELDS))}) "
        f"ON CONFLICT ({key}) DO UPDATE SET {updates} "
        f"WHERE {new_strength} > {old_strength} "
        f"OR ({new_strength} = {old_strength} AND EXCLUDED.{accepted_at} >= k.{accepted_at}) "
        f"RETURNING k.{quote(CustomerKnowledge._meta.pk.column)}) "
        f"SELECT (SELECT * FROM written), {old} FROM (VALUES (1)) AS one LEFT JOIN old ON TRUE"
    )


_UPSERT_SQL = _upsert_sql()
_OLD_ATTNAMES = [field.attname for field in _OLD_FIELDS]


def _write_if_newer_or_stronger(connection: Any, key: str, values: dict[str, Any]) -> CustomerKnowledge | None:
    """The knowledge row written in one statement when there was none or this one is newer or as strong, or None
    when the statement wrote nothing (the caller then decides with the row locked)."""
    knowledge = CustomerKnowledge(key=key, **values)
    knowledge.updated_at = timezone.now()
    seal_knowledge(knowledge)
    with connection.cursor() as cursor:
        cursor.execute(_UPSERT_SQL, [key, *(getattr(knowledge, field.attname) for field in _WRITTEN_FIELDS)])
        written_id, *old_values = cursor.fetchone()
    if written_id is None:
        return None
    old = None if old_values[0] is None else CustomerKnowledge.from_db(connection.alias, _OLD_ATTNAMES, old_values)
    if old is None or old.pk != written_id or not still_counts(old):
        _announce(key)  # nothing was known, or it did not count (stale, or a row that does not verify): now it does
    knowledge.pk = written_id
    knowledge._state.adding = False
    knowledge._state.db = connection.alias
    return knowledge


# How a change of state is announced: `mca.state.state_changes`, registered by McaConfig.ready (mca.state reads this
# module, and through the gate's types the sender: importing it here would tie the attestation flows to it).
_state_changes: Callable[..., AbstractContextManager[None]] | None = None


def announce_state_changes_with(announcer: Callable[..., AbstractContextManager[None]]) -> None:
    global _state_changes
    _state_changes = announcer


def state_changes(key: str, *, source: str) -> AbstractContextManager[None]:
    """Around a write that may move the MCA state of the customer `key` stands for: `mca.signals.state_changed`
    for each account whose state moved (see `mca.state.state_changes`); nothing before the app is ready."""
    if _state_changes is None:
        return nullcontext()
    return _state_changes(key, source=source)


def _announce(key: str) -> None:
    """Tell the rest (the BSS releases held orders) once the acceptance is committed."""
    from mca.signals import acceptance_known

    transaction.on_commit(lambda: acceptance_known.send(sender=CustomerKnowledge, key=key, accounts=accounts_for(key)))


def accounts_for(key: str):
    """The accounts one knowledge key stands for: every account of the tenant, or the one not-synced account."""
    kind, _, value = key.partition(":")
    if kind == "tenant":
        return Account.objects.filter(partner_center_tenant_id=value)
    return Account.objects.filter(pk=value)


def forget_acceptance_from(record: AcceptanceRecord, *, source: str = "refused_by_partner_center") -> None:
    """The acceptance this record made known does not count after all (Microsoft refused it): ask again. The
    accounts whose state this moves are announced (`mca.signals.state_changed`)."""
    from mca.signals import state_changed, wanted

    if not wanted(state_changed):
        CustomerKnowledge.objects.filter(record=record).delete()
        return
    with transaction.atomic(savepoint=False):
        for key in CustomerKnowledge.objects.filter(record=record).values_list("key", flat=True):
            with state_changes(key, source=source):
                CustomerKnowledge.objects.filter(record=record, key=key).delete()


def link_account_to_tenant(account: Account) -> None:
    """After provisioning gave a not-synced account its tenant, move what was known under the account key
    to the tenant key (keeping the stronger or newer if the tenant already had knowledge)."""
    if account.partner_center_tenant_id is None:
        return
    from mca.models import Attestation

    Attestation.objects.filter(key=f"account:{account.pk}").update(key=knowledge_key(account))
    old = CustomerKnowledge.objects.filter(key=f"account:{account.pk}").first()
    if old is None or not knowledge_sealed(old):  # a forged row is not carried over (verify names it)
        return
    with transaction.atomic():
        remember_acceptance(
            key=knowledge_key(account),
            kind=old.kind,
            accepted_at=old.accepted_at,
            template_id=old.template_id,
            template_version_rank=old.template_version_rank,
            confirmed_by=old.confirmed_by,
            record=old.record,
            source="synced",
        )
        old.delete()


def knowledge_seal_breaks() -> list[tuple[int, str, str]]:
    """(id, key, why) of every knowledge row whose seal does not verify."""
    found = []
    for knowledge in CustomerKnowledge.objects.order_by("pk").iterator(chunk_size=2000):
        problem = knowledge_seal_problem(knowledge)
        if problem:
            found.append((knowledge.pk, knowledge.key, problem))
    return found
