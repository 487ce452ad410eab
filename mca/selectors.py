"""Reads of the acceptance domain that channels share (R12): what a user may see of the log and its progress.

Scoping is `Account.objects.visible_to(user)`'s: a customer sees its own account's records, a reseller user its
customers', white-label staff their reseller's customers', CSP staff everything.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, time

from django.contrib.auth.models import AbstractBaseUser, AnonymousUser
from django.db.models import Count, Exists, OuterRef, Q, QuerySet

from bss.models import Account
from mca.choices import AttestationState, DeliveryState
from mca.knowledge import ACCEPTED_AT_MICROSOFT, knowledge_key, still_counts
from mca.models import AcceptanceDelivery, AcceptanceRecord, Attestation, CustomerKnowledge
from mca.rules import attestation_min_date, cloud_agreement_counts


def records_visible_to(user: AbstractBaseUser | AnonymousUser) -> QuerySet[AcceptanceRecord]:
    """The acceptance log records `user` may read, newest first, with their delivery state joined."""
    visible = Account.objects.visible_to(user)
    return AcceptanceRecord.objects.filter(account__in=visible).select_related("delivery").order_by("-sequence")


def records_for_account(account: Account) -> QuerySet[AcceptanceRecord]:
    """One customer's whole story (every record, oldest first); scope the account with `visible_to` first."""
    return AcceptanceRecord.objects.filter(account=account).select_related("delivery").order_by("sequence")


def open_attestations_visible_to(user: AbstractBaseUser | AnonymousUser) -> QuerySet[Attestation]:
    """Acceptance links out with signatories (or expired and not replaced), for the accounts `user` may see."""
    visible = Account.objects.visible_to(user)
    settled = CustomerKnowledge.objects.filter(key=OuterRef("key")).filter(_knowledge_that_counts())
    newer = Attestation.objects.filter(key=OuterRef("key"), created_at__gt=OuterRef("created_at"))
    return (
        Attestation.objects.unsettled()
        .filter(account__in=visible)
        # Only the customer's newest link, and none once its acceptance is known (however it became known).
        .exclude(Exists(newer))
        .exclude(Exists(settled))
        .select_related("account")
        .order_by("-created_at")
    )


def _knowledge_that_counts() -> Q:
    """`still_counts` (R4a) as a filter on CustomerKnowledge rows."""
    minimum = attestation_min_date()
    if minimum is None:
        return Q()
    return Q(kind__in=list(ACCEPTED_AT_MICROSOFT)) | Q(accepted_at__gte=datetime.combine(minimum, time.min, tzinfo=UTC))


# --- The setup area's cheap local summary (no Partner Center call): what is known here, per account ---


@dataclass(frozen=True)
class LocalStatus:
    """What is stored here about one account's MCA acceptance; `needed` is None when only Partner Center knows
    (a synced customer with nothing recorded here: the gate asks Partner Center on the account's page)."""

    account_id: int
    needed: bool | None
    kind: str = ""  # AcceptanceKind value, "" when nothing is known
    kind_label: str = ""
    accepted_at: datetime | None = None
    verified_at: datetime | None = None
    confirmed_by: str = ""
    counts: bool = False  # the known acceptance still counts (R4a)
    cloud_agreement: bool = False  # a Cloud Agreement from before the cut-over counts (R4)
    attestation_state: str = ""  # the current attestation's effective state (Attestation.effective_state)
    attestation_state_label: str = ""
    signatory_name: str = ""
    link_expires_at: datetime | None = None
    records: int = 0
    deliveries: dict[str, int] = field(default_factory=dict)  # state -> count

    @property
    def link_expired(self) -> bool:
        return self.attestation_state == AttestationState.EXPIRED

    @property
    def waiting(self) -> bool:
        return self.attestation_state in (AttestationState.CREATING, AttestationState.PENDING)


def local_status_for(accounts: Iterable[Account]) -> dict[int, LocalStatus]:
    """Per account id, what is known here (knowledge, Cloud Agreement, open attestation, record and delivery
    counts) in four queries whatever the number of accounts: for lists, which must not ask Partner Center per row.
    Scope `accounts` with `visible_to` first."""
    accounts = list(accounts)
    if not accounts:
        return {}
    keys = {account.pk: knowledge_key(account) for account in accounts}
    ids = list(keys)
    knowledge = {k.key: k for k in CustomerKnowledge.objects.filter(key__in=set(keys.values()))}
    attestations: dict[str, Attestation] = {}
    for attestation in (
        Attestation.objects.filter(key__in=set(keys.values()))
        .order_by("created_at", "pk")
        .only("key", "state", "signatory_name", "expires_at", "created_at")
    ):
        attestations[attestation.key] = attestation  # the newest wins: an older link was replaced by it
    attestations = {
        key: attestation
        for key, attestation in attestations.items()
        if attestation.state not in (AttestationState.SUPERSEDED, AttestationState.ACCEPTED)
    }
    records = dict(
        AcceptanceRecord.objects.filter(account_id__in=ids)
        .order_by()
        .values_list("account_id")
        .annotate(n=Count("pk"))
        .values_list("account_id", "n")
    )
    deliveries: dict[int, dict[str, int]] = {}
    for account_id, state, n in (
        AcceptanceDelivery.objects.filter(account_id__in=ids)
        .order_by()
        .values_list("account_id", "state")
        .annotate(n=Count("pk"))
        .values_list("account_id", "state", "n")
    ):
        deliveries.setdefault(account_id, {})[state] = n
    result = {}
    for account in accounts:
        key = keys[account.pk]
        known = knowledge.get(key)
        attestation = attestations.get(key)
        counts = still_counts(known)
        cloud = cloud_agreement_counts(account.cloud_agreement_accepted_at)
        if counts or cloud:
            needed: bool | None = False
        elif known is None and attestation is None and account.is_synced:
            needed = None  # Partner Center may know: the gate asks it on the account's page
        else:
            needed = True
        result[account.pk] = LocalStatus(
            account_id=account.pk,
            needed=needed,
            kind=known.kind if known else "",
            kind_label=known.get_kind_display() if known else "",
            accepted_at=known.accepted_at if known else None,
            verified_at=known.verified_at if known else None,
            confirmed_by=known.confirmed_by if known else "",
            counts=counts,
            cloud_agreement=cloud,
            attestation_state=attestation.effective_state if attestation else "",
            attestation_state_label=attestation.effective_state.label if attestation else "",
            signatory_name=attestation.signatory_name if attestation else "",
            link_expires_at=attestation.expires_at if attestation else None,
            records=records.get(account.pk, 0),
            deliveries=deliveries.get(account.pk, {}),
        )
    return result


def deliveries_needing_attention(accounts: QuerySet[Account] | None = None) -> QuerySet[AcceptanceDelivery]:
    """Deliveries that failed (retried with backoff) or were refused for good, oldest next try first, with their
    record and account; limited to `accounts` (scoped with `visible_to`) when given."""
    queryset = AcceptanceDelivery.objects.filter(state__in=[DeliveryState.FAILING, DeliveryState.REFUSED])
    if accounts is not None:
        queryset = queryset.filter(account__in=accounts)
    return queryset.select_related("record", "account").order_by("state", "next_attempt_at", "pk")
