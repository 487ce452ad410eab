"""The gate: the one API about MCA acceptance. Its callers are `bss.services` (one entry point per operation:
place, execute, change seats, create a subscription, campaigns), which the channels (storefront, BSS views, REST
API, provisioning) call with the parsed input; no channel combines R1 (which operations need it), R3 (how we know)
and R6 (who may confirm) by itself, nor reads a reason code: the Decision answers their questions.

    decision = gate.check(account, [GatedOperation.for_product(Operation.NEW_PURCHASE, product)])
    if decision.needed and not decision.waiting:
        form = gate.form_for(user, account)            # the configured flow's form, worded for the user
        outcome = gate.submit_acceptance(actor=user, account=account, data=acceptance_data, context=context)
    gate.ensure_accepted(account, operations)          # raises AcceptanceRequired (code mca_acceptance_required)
    account = gate.with_known_acceptance(accounts).get(pk=pk)  # check() then answers a known customer query-free

`acceptance_known` (mca.signals) is sent after commit when a customer's acceptance becomes known.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from django import forms
from django.contrib.auth.models import AbstractBaseUser, AnonymousUser
from django.db import transaction
from django.db.models import QuerySet
from django.utils import timezone
from django.utils.formats import date_format

from bss.choices import Operation
from bss.models import Account, Product
from mca import sentences
from mca.attestation import (
    AcceptanceInvalid,
    IdempotencyConflict,
    Outcome,
    OutcomeKind,
    current_flow,
)
from mca.attestation import cancel_link as _cancel_link
from mca.attestation import check_now as _check_flows_now
from mca.attestation import record_link_sent as _record_link_sent
from mca.choices import AttestationState, ReasonCode
from mca.context import ConfirmationContext
from mca.delivery import deliver_pending_for
from mca.forms import look_alike_problem
from mca.knowledge import knowledge_key, link_account_to_tenant
from mca.knowledge import with_known_acceptance as _with_known_acceptance
from mca.log import is_first_party
from mca.models import Attestation
from mca.outbox import release_waiting_deliveries
from mca.permissions import can_confirm_for, ensure_can_confirm
from mca.readiness import ChangeKind, Outlook, PlannedChange, PredictedRefusal
from mca.readiness import outlooks_for as _outlooks_for
from mca.readiness import predict_refusals as _predict_refusals
from mca.readiness import readiness_version as _readiness_version
from mca.readiness import refresh_readiness as _refresh_readiness
from mca.rules import requires_acceptance
from mca.state import (
    CustomerMcaState,
    McaState,
    expired_sentence,
    is_signatory,
    mask_email,
    state_from_decision,
)
from mca.state import states_for as _states_for
from mca.status import AcceptanceStatus, acceptance_status

ACCEPTANCE_REQUIRED_CODE = "mca_acceptance_required"
# The reasons that mean "Partner Center could not be asked", not "the customer has not accepted".
_PARTNER_CENTER_COULD_NOT_SAY = frozenset(
    {
        ReasonCode.PARTNER_CENTER_UNAVAILABLE,
        ReasonCode.PARTNER_CENTER_THROTTLED,
        ReasonCode.PARTNER_CENTER_SLOW,
        ReasonCode.PARTNER_CENTER_BAD_RESPONSE,
    }
)


@dataclass(frozen=True)
class GatedOperation:
    """One operation a channel is about to perform, and whether it is on a Microsoft product (R1)."""

    operation: Operation | str
    is_microsoft: bool = True

    @classmethod
    def for_product(cls, operation: Operation | str, product: Product) -> GatedOperation:
        return cls(operation, product.is_microsoft)


@dataclass(frozen=True)
class PendingAttestation:
    """An acceptance link issued to the customer's signatory that is not settled yet (or just expired)."""

    state: AttestationState
    signatory_name: str
    signatory_email: str
    link: str
    expires_at: datetime | None
    created_at: datetime
    last_error: str = ""

    @property
    def expired(self) -> bool:
        return self.state == AttestationState.EXPIRED

    @property
    def waiting(self) -> bool:
        return self.state in (AttestationState.CREATING, AttestationState.PENDING)


@dataclass(frozen=True)
class Decision:
    """The gate's answer for one account and a set of operations."""

    needed: bool
    reason_code: str
    reason: str
    flow: str
    flow_label: str
    status: AcceptanceStatus | None = None
    pending: PendingAttestation | None = None

    @property
    def waiting(self) -> bool:
        """Acceptance is needed and a link is out with the signatory: orders wait for it, nothing fails."""
        return self.needed and self.pending is not None and self.pending.waiting

    @property
    def show_form(self) -> bool:
        return self.needed and not self.waiting

    @property
    def blocks_order(self) -> bool:
        """An order for these operations may not be placed or executed now: acceptance is needed and no link is
        out with the signatory (a waiting order is held instead, and released when Microsoft reports it)."""
        return self.needed and not self.waiting

    @property
    def undetermined(self) -> bool:
        """Partner Center could not say (unreachable, throttling, too slow, unreadable) and nothing is pending:
        the question is about Microsoft, not the customer, so an automatic step retries rather than holds."""
        return self.needed and self.pending is None and self.reason_code in _PARTNER_CENTER_COULD_NOT_SAY

    @property
    def hold_reason(self) -> str:
        """What a held order says about why it waits ("" when nothing is needed)."""
        return self.reason[:500] if self.needed else ""

    @property
    def template_id(self) -> str:
        template = self.status.template if self.status else None
        return template.template_id if template else ""

    @property
    def template_version_rank(self) -> int | None:
        template = self.status.template if self.status else None
        return template.version_rank if template else None

    @property
    def document_link(self) -> str:
        return self.status.document_link if self.status else ""

    @property
    def partner_center_answered_at(self) -> datetime | None:
        """When Partner Center said "not accepted" (reused for MCA_NOT_ACCEPTED_TTL): `check_now` asks again."""
        return self.status.partner_center_answered_at if self.status else None

    @property
    def document_download_path(self) -> str:
        return self.status.document_download_path if self.status else ""

    @property
    def document_country(self) -> str:
        return self.status.document_country if self.status else ""

    @property
    def document_language(self) -> str:
        return self.status.document_language if self.status else ""

    def context_for(self, context: ConfirmationContext) -> ConfirmationContext:
        """The confirmation context naming the template and document this decision showed."""
        if not self.template_id or context.template_id:
            return context
        return context.with_trigger(
            template_id=self.template_id,
            template_version_rank=self.template_version_rank,
            document_link=self.document_link,
        )

    def as_dict(self, viewer: AbstractBaseUser | AnonymousUser | None = None) -> dict[str, Any]:
        """The decision as the API and the pages' scripts show it. Microsoft's link reaches the signatory only:
        it is in the answer when `viewer` is the signatory, else null, and the address is masked."""
        pending = self.pending
        own = pending is not None and is_signatory(viewer, pending.signatory_email)
        return {
            "needed": self.needed,
            "reason_code": self.reason_code,
            "reason": self.reason,
            "flow": self.flow,
            "template_id": self.template_id or None,
            "template_version_rank": self.template_version_rank,
            "document_link": self.document_link or None,
            "document_country": self.document_country or None,
            "document_language": self.document_language or None,
            "pending_attestation": None
            if pending is None
            else {
                "state": pending.state.value if hasattr(pending.state, "value") else pending.state,
                "signatory_name": pending.signatory_name,
                "signatory_email": pending.signatory_email if own else mask_email(pending.signatory_email),
                "link": (pending.link or None) if own else None,
                "expires_at": pending.expires_at.isoformat() if pending.expires_at else None,
                "last_error": pending.last_error or None,
            },
        }


class AcceptanceRequired(Exception):
    """A Microsoft operation needs the customer's MCA acceptance first (R11). Carries the decision, and the
    outcome of an acceptance submitted in the same call that did not settle it yet."""

    code = ACCEPTANCE_REQUIRED_CODE

    def __init__(self, decision: Decision, outcome: Outcome | None = None) -> None:
        super().__init__(decision.reason)
        self.decision = decision
        self.outcome = outcome


def _normalised(operations: Iterable[GatedOperation | Operation | str]) -> list[GatedOperation]:
    return [item if isinstance(item, GatedOperation) else GatedOperation(item) for item in operations]


def _when(moment: datetime) -> str:
    return date_format(timezone.localtime(moment), "Y-m-d H:i T")


def _pending_for(account: Account) -> PendingAttestation | None:
    latest = Attestation.objects.only(
        "state", "signatory_name", "signatory_email", "acceptance_url", "expires_at", "created_at", "last_error"
    ).current_for(knowledge_key(account))
    if latest is None:
        return None
    return PendingAttestation(
        state=latest.effective_state,
        signatory_name=latest.signatory_name,
        signatory_email=latest.signatory_email,
        link=latest.acceptance_url,
        expires_at=latest.expires_at,
        created_at=latest.created_at,
        last_error=latest.last_error,
    )


def _pending_reason(pending: PendingAttestation) -> tuple[str, str]:
    if pending.expired:
        return (
            ReasonCode.LINK_EXPIRED,
            sentences.SEND_A_NEW_ONE(expired=expired_sentence(pending.signatory_name, pending.expires_at)),
        )
    if pending.state == AttestationState.CREATING:
        return (
            ReasonCode.PENDING_SIGNATORY,
            sentences.PENDING_PREPARING(name=pending.signatory_name),
        )
    name = pending.signatory_name
    return (
        ReasonCode.PENDING_SIGNATORY,
        sentences.PENDING_UNTIL(name=name, expires=_when(pending.expires_at))
        if pending.expires_at
        else sentences.PENDING(name=name),
    )


def check(
    account: Account,
    operations: Iterable[GatedOperation | Operation | str],
    *,
    correlation_id: str | None = None,
    ask_again: bool = False,
) -> Decision:
    """Does performing `operations` for `account` need the customer's MCA acceptance first, and why?

    Operations that never need it (renewals, cancellations, non-Microsoft products: R1) cost nothing. For a
    customer whose acceptance is known here the answer costs one query and no Partner Center call (R2) — no query
    when the account was loaded through `with_known_acceptance`; otherwise
    R3 applies (Partner Center asked within MCA_STATUS_TIME_BUDGET; never blocks, never skips silently), and a
    link out with the signatory is reported with its state and expiry. Partner Center's "not accepted" is reused
    for MCA_NOT_ACCEPTED_TTL seconds unless `ask_again` (what "Check now" does).
    """
    flow = current_flow()
    gated = _normalised(operations)
    if not any(requires_acceptance(item.operation, is_microsoft=item.is_microsoft) for item in gated):
        return Decision(
            needed=False,
            reason_code=ReasonCode.NOT_REQUIRED,
            reason=_not_required_reason(gated),
            flow=flow.name,
            flow_label=flow.label,
        )
    status = acceptance_status(account, correlation_id=correlation_id, ask_again=ask_again)
    if not status.needed:
        return Decision(False, status.reason.code, status.summary, flow.name, flow.label, status)
    pending = _pending_for(account)
    if pending is not None:
        code, reason = _pending_reason(pending)
        return Decision(True, code, reason, flow.name, flow.label, status, pending)
    return Decision(True, status.reason.code, status.reason.message, flow.name, flow.label, status)


def with_known_acceptance(accounts: QuerySet[Account]) -> QuerySet[Account]:
    """`accounts` reading each customer's known acceptance in the same query (a subquery on its unique key), for a
    channel that loads the account on every step anyway: `check` then answers a customer whose acceptance is known
    without a query of its own. "Nothing known" is still read afresh at each check, so an acceptance learned in the
    same request counts at once."""
    return _with_known_acceptance(accounts)


def _not_required_reason(gated: list[GatedOperation]) -> str:
    if not gated:
        return sentences.NOTHING_NEEDS_IT()
    if all(not item.is_microsoft for item in gated):
        return sentences.NO_MICROSOFT_PRODUCT()
    labels = sorted({Operation(item.operation).label.lower() for item in gated if item.is_microsoft})
    return f"Not needed for a {' or '.join(labels)}"


def ensure_accepted(
    account: Account, operations: Iterable[GatedOperation | Operation | str], *, correlation_id: str | None = None
) -> Decision:
    """The decision when nothing stands in the way; raises AcceptanceRequired (with the decision) otherwise."""
    decision = check(account, operations, correlation_id=correlation_id)
    if decision.needed:
        raise AcceptanceRequired(decision)
    return decision


def form_for(actor: AbstractBaseUser, account: Account, data: Any = None) -> forms.Form:
    """The configured flow's form for `actor` confirming for `account`, worded for them (R5)."""
    return current_flow().form(data, actor=actor, account=account, first_party=is_first_party(actor))


def may_confirm(user: AbstractBaseUser | AnonymousUser, account: Account) -> bool:
    """R6: may this user confirm (or name the signatory) for this customer?"""
    return can_confirm_for(user, account)


def submit_acceptance(*, actor: AbstractBaseUser, account: Account, data: Any, context: ConfirmationContext) -> Outcome:
    """Submit the acceptance form for `account` (R5–R10): `accepted` at once in the legacy flow,
    `pending_signatory` (with Microsoft's link and its expiry) in the enhanced flow.

    Raises PermissionDenied (R6), AcceptanceInvalid (a message per field) or IdempotencyConflict, and then
    writes nothing.
    """
    return current_flow().start(actor=actor, account=account, data=data, context=context)


def resend_link(*, actor: AbstractBaseUser, account: Account, context: ConfirmationContext) -> Outcome:
    """A new acceptance link for the signatory (the old one expired or was lost); the old stays in the log."""
    ensure_can_confirm(actor, account)
    return current_flow().reissue(actor=actor, account=account, context=context)


def cancel_link(*, actor: AbstractBaseUser, account: Account, context: ConfirmationContext) -> None:
    """Cancel the link out with the customer's signatory (mistyped or the wrong person), recorded in the log and
    withdrawn at Microsoft; the customer is asked again. To name another signatory instead, submit the form again
    (`submit_acceptance`): the new link supersedes the old one the same way. Raises PermissionDenied (R6) or
    AcceptanceInvalid (no link out)."""
    _cancel_link(actor=actor, account=account, context=context)


def record_link_sent(
    *, actor: AbstractBaseUser, account: Account, context: ConfirmationContext | None, how: str
) -> None:
    """The log records how the customer's acceptance link reached the signatory (a channel calls it after sending:
    "e-mailed to the signatory only (n****@contoso.com)")."""
    _record_link_sent(actor=actor, account=account, context=context, how=how)


def check_now(account: Account) -> Decision:
    """ "Check now": ask Microsoft again at once — open attestations, and (for a synced account) the customer's
    confirmations and direct acceptance — then decide for a new purchase."""
    _check_flows_now(knowledge_key(account))
    # What Microsoft reported may have released and provisioned the customer's orders in this same call, giving
    # the account its tenant (and its knowledge a new key): decide on the account as it is now.
    account.refresh_from_db(fields=["partner_center_tenant_id"])
    return check(account, [Operation.NEW_PURCHASE], ask_again=True)


def state_for(account: Account, *, viewer: AbstractBaseUser | AnonymousUser | None) -> CustomerMcaState:
    """The customer's MCA state for one page (badge, sentence, next action for `viewer`'s role): the full decision
    for a new purchase, so it may ask Partner Center within its budget like any check."""
    return state_from_decision(check(account, [Operation.NEW_PURCHASE]), viewer=viewer)


def live_state(account: Account, *, viewer: AbstractBaseUser | AnonymousUser | None) -> CustomerMcaState:
    """The customer's state for a page's light poll (templates/mca/_poll.html): while a link is out with the
    signatory, Microsoft is asked again (at most once per link per MCA_ATTESTATION_MIN_CHECK_SECONDS), so the page
    sees the acceptance arrive, and the orders it released, without anyone pressing "Check now"."""
    state = state_for(account, viewer=viewer)
    if state.code == McaState.PENDING:
        check_now(account)
        state = state_for(account, viewer=viewer)
    return state


def poll_signature(state: CustomerMcaState, order_status: str = "") -> str:
    """What a polling page compares with what it shows: the page reloads when this changes."""
    return f"{order_status}|{state.code}"


def states_for(
    accounts: Iterable[Account], *, viewer: AbstractBaseUser | AnonymousUser | None
) -> dict[int, CustomerMcaState]:
    """Per account id, the MCA state for a list: a fixed number of queries, never a Partner Center call."""
    return _states_for(accounts, viewer=viewer)


def predict_refusals(
    accounts: Iterable[Account],
    *,
    viewer: AbstractBaseUser | AnonymousUser | None = None,
    states: dict[int, CustomerMcaState] | None = None,
    today: date | None = None,
) -> dict[int, list[PredictedRefusal]]:
    """Per account id, the open orders, scheduled seat changes and auto-renewals Microsoft would refuse for lack of
    a current acceptance, each with the day it would fail (earliest first; accounts with none are absent). The
    gate's own rules (R1 per operation, the state model's R2-R4a, R4 on the day) on local knowledge only: a fixed
    number of queries for any number of accounts, never a Partner Center call. Pass `states` when the caller has
    `states_for` of the same accounts already."""
    return _predict_refusals(accounts, viewer=viewer, states=states, today=today)


def outlooks_for(
    accounts: Iterable[Account],
    *,
    viewer: AbstractBaseUser | AnonymousUser | None = None,
    states: dict[int, CustomerMcaState] | None = None,
    today: date | None = None,
) -> dict[int, Outlook]:
    """Per account id, every planned change (open orders, scheduled seat changes, auto-renewals) and the refusals
    predicted among them (as `predict_refusals`), for pages that list both."""
    return _outlooks_for(accounts, viewer=viewer, states=states, today=today)


def refresh_readiness(accounts: QuerySet[Account] | None = None) -> int:
    """Rewrite the stored readiness (state, refusals, first refusal day) of `accounts` (all by default), in chunks;
    pages count and filter a portfolio on it."""
    return _refresh_readiness(accounts)


def readiness_version() -> str:
    """Changes whenever the stored readiness changes: a key part for caching counts made from it."""
    return _readiness_version()


def set_tenant(account: Account, tenant_id: Any) -> Account:
    """The one way an account gets its Partner Center tenant (admin edit, import, provisioning): what is known
    about its acceptance moves with it (R2), and its deliveries waiting for a customer go out."""
    with transaction.atomic():
        account.partner_center_tenant_id = tenant_id
        account.save(update_fields=["partner_center_tenant_id"])
        if tenant_id:
            link_account_to_tenant(account)
            release_waiting_deliveries(account)
    return account


def prepare_for_orders(account: Account) -> bool:
    """For provisioning, after the account got its tenant and before any Microsoft order goes to Partner Center:
    deliver its acceptances (legacy confirmations; agreements from accepted attestations) now. True when all are
    delivered, so the order may go."""
    return deliver_pending_for(account)


__all__ = [
    "ACCEPTANCE_REQUIRED_CODE",
    "AcceptanceInvalid",
    "AcceptanceRequired",
    "ChangeKind",
    "ConfirmationContext",
    "CustomerMcaState",
    "Decision",
    "GatedOperation",
    "IdempotencyConflict",
    "McaState",
    "Outcome",
    "OutcomeKind",
    "Outlook",
    "PendingAttestation",
    "PlannedChange",
    "PredictedRefusal",
    "cancel_link",
    "check",
    "check_now",
    "ensure_accepted",
    "form_for",
    "is_signatory",
    "live_state",
    # The form's check for names that could pass for another (mixed look-alike scripts, styled letters), for the
    # channels' own name fields (a new customer's company name in the store's checkout).
    "look_alike_problem",
    "mask_email",
    "may_confirm",
    "outlooks_for",
    "poll_signature",
    "predict_refusals",
    "prepare_for_orders",
    "readiness_version",
    "record_link_sent",
    "refresh_readiness",
    "resend_link",
    "set_tenant",
    "state_for",
    "state_from_decision",
    "states_for",
    "submit_acceptance",
    "with_known_acceptance",
]
