"""What is known per Microsoft customer (R2): looked up by key, remembered, moved to the tenant on sync."""

from __future__ import annotations

from datetime import datetime

from django.db import IntegrityError, transaction
from django.utils import timezone

from bss.models import Account
from mca.choices import AcceptanceKind
from mca.models import AcceptanceRecord, CustomerKnowledge
from mca.rules import attestation_counts

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
    return CustomerKnowledge.objects.filter(key=knowledge_key(account)).first()


def lock_customer(key: str) -> None:
    """Serialise writers for one customer until the caller's transaction ends (PostgreSQL advisory lock; SQLite
    serialises every writer already). Customers never wait for each other."""
    connection = transaction.get_connection()
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(hashtextextended(%s, 0))", [key])


def still_counts(knowledge: CustomerKnowledge | None) -> bool:
    """R4a: the customer's own acceptance at Microsoft (directly, or as the signatory of an enhanced attestation)
    always counts; a partner attestation only if recent enough."""
    if knowledge is None:
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
) -> CustomerKnowledge:
    """Store a positive answer so the next check is local; keep the stronger or newer of old and new."""
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
    with transaction.atomic(savepoint=False):
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
        if _is_newer_or_stronger(current, kind, accepted_at):
            for field, value in values.items():
                setattr(current, field, value)
        elif verified and current.kind == kind:
            current.verified_at = timezone.now()
        current.save()
        return current


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


def forget_acceptance_from(record: AcceptanceRecord) -> None:
    """The acceptance this record made known does not count after all (Microsoft refused it): ask again."""
    CustomerKnowledge.objects.filter(record=record).delete()


def link_account_to_tenant(account: Account) -> None:
    """After provisioning gave a not-synced account its tenant, move what was known under the account key
    to the tenant key (keeping the stronger or newer if the tenant already had knowledge)."""
    if account.partner_center_tenant_id is None:
        return
    from mca.models import Attestation

    Attestation.objects.filter(key=f"account:{account.pk}").update(key=knowledge_key(account))
    old = CustomerKnowledge.objects.filter(key=f"account:{account.pk}").first()
    if old is None:
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
        )
        old.delete()
