"""Reconcile: ask Partner Center about synced customers whose MCA acceptance is unknown here (`mca_reconcile`).

- Candidates: accounts with a Partner Center tenant whose knowledge row is missing or no longer counts (a partner
  confirmation from before the MCA refresh, R4a). One question per tenant: two accounts of one Microsoft
  customer (two resellers) share the answer (R2).
- Each question is `acceptance_status(account, ask_again=True)`, which asks Partner Center (even if it said "not
  accepted" within MCA_NOT_ACCEPTED_TTL) and remembers a positive answer.
- Bounded concurrency: at most `concurrency` questions in flight (a ThreadPoolExecutor fed one at a time); each
  worker closes its database connection when its question is done.
- Throttling: when an answer says Partner Center is throttling, no new question is submitted for a pause that
  doubles on each throttled answer (MCA_RECONCILE_THROTTLE_PAUSE, default 2 s, at most
  MCA_RECONCILE_THROTTLE_MAX_PAUSE, default 60 s; back to the first length once an answer is not throttled), and
  the tenant is asked again later (at most MAX_THROTTLE_RETRIES times): the run slows down instead of hammering.
"""

from __future__ import annotations

import logging
import time
from collections import Counter
from collections.abc import Callable
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field

from django.conf import settings
from django.db import connection

from bss.models import Account
from mca.choices import AcceptanceKind, ReasonCode
from mca.knowledge import still_counts
from mca.models import CustomerKnowledge
from mca.status import AcceptanceStatus, acceptance_status

logger = logging.getLogger(__name__)

MAX_THROTTLE_RETRIES = 3
UNREACHABLE = (
    ReasonCode.PARTNER_CENTER_UNAVAILABLE,
    ReasonCode.PARTNER_CENTER_SLOW,
    ReasonCode.PARTNER_CENTER_BAD_RESPONSE,
)


def default_concurrency() -> int:
    return settings.MCA_RECONCILE_CONCURRENCY


def _throttle_pause() -> float:
    return settings.MCA_RECONCILE_THROTTLE_PAUSE


def _max_throttle_pause() -> float:
    return settings.MCA_RECONCILE_THROTTLE_MAX_PAUSE


@dataclass
class ReconcileSummary:
    candidates: int = 0  # tenants whose acceptance was unknown
    asked: int = 0  # questions put to Partner Center (a retried tenant counts once per try)
    accepted: Counter = field(default_factory=Counter)  # AcceptanceKind -> tenants now known accepted
    still_needed: Counter = field(default_factory=Counter)  # ReasonCode -> tenants still asked at checkout
    errors: list[str] = field(default_factory=list)
    throttled_pauses: int = 0
    outcomes: dict[str, str] = field(default_factory=dict)  # tenant id -> AcceptanceKind or ReasonCode
    # Who is still asked at checkout, and why: (account name, tenant id, the reason sentence).
    needing: list[tuple[str, str, str]] = field(default_factory=list)
    attestations: Counter = field(default_factory=Counter)  # AttestationState -> links looked at

    @property
    def unreachable(self) -> int:
        """Questions Partner Center did not answer (down, slow, unreadable): the run could not do its job."""
        return sum(self.still_needed[code] for code in UNREACHABLE) + len(self.errors)

    def lines(self) -> list[str]:
        lines = [f"Unknown customers (tenants): {self.candidates}; questions asked: {self.asked}"]
        accepted = sum(self.accepted.values())
        lines.append(f"Accepted: {accepted}")
        lines += [f"  {_label(kind)}: {count}" for kind, count in sorted(self.accepted.items())]
        lines.append(f"Still needed: {sum(self.still_needed.values())}")
        lines += [f"  {code} ({_label(code)}): {n}" for code, n in sorted(self.still_needed.items())]
        lines += [f"  - {name} ({tenant}): {reason}" for name, tenant, reason in self.needing]
        if self.attestations:
            lines.append(f"Pending attestations looked at: {sum(self.attestations.values())}")
            lines += [f"  {state}: {count}" for state, count in sorted(self.attestations.items())]
        if self.throttled_pauses:
            lines.append(f"Paused {self.throttled_pauses} time(s) for Partner Center throttling")
        lines.append(f"Errors: {len(self.errors)}")
        lines += [f"  {error}" for error in self.errors]
        return lines


def _label(code: str) -> str:
    for choices in (AcceptanceKind, ReasonCode):
        if code in choices.values:
            return str(choices(code).label)
    return code


def unknown_synced_accounts() -> list[Account]:
    """One account per tenant whose acceptance is not known (or known only by a stale attestation)."""
    known = {knowledge.key: knowledge for knowledge in CustomerKnowledge.objects.filter(key__startswith="tenant:")}
    chosen: dict[str, Account] = {}
    for account in Account.objects.filter(partner_center_tenant_id__isnull=False).order_by("pk").iterator():
        key = f"tenant:{account.partner_center_tenant_id}"
        if key in chosen:
            continue
        knowledge = known.get(key)
        if still_counts(knowledge):
            continue
        chosen[key] = account
    return list(chosen.values())


def _ask(account: Account) -> AcceptanceStatus:
    try:
        return acceptance_status(account, ask_again=True)  # asking Partner Center is the point of the run
    finally:
        connection.close()  # this worker thread's connection; the pool's threads are reused


def reconcile_unknown(
    *, concurrency: int | None = None, progress: Callable[[int], None] | None = None
) -> ReconcileSummary:
    """Ask Partner Center about every unknown synced customer, `concurrency` questions at a time."""
    concurrency = max(1, concurrency or default_concurrency())
    accounts = unknown_synced_accounts()
    summary = ReconcileSummary(candidates=len(accounts))
    queue: list[tuple[Account, int]] = [(account, 0) for account in accounts]
    first_pause, max_pause = _throttle_pause(), _max_throttle_pause()
    pause, resume_at = first_pause, 0.0
    in_flight: dict[Future, tuple[Account, int]] = {}
    with ThreadPoolExecutor(max_workers=concurrency, thread_name_prefix="mca-reconcile") as pool:
        while queue or in_flight:
            while queue and len(in_flight) < concurrency and time.monotonic() >= resume_at:
                account, tries = queue.pop(0)
                in_flight[pool.submit(_ask, account)] = (account, tries)
                summary.asked += 1
            if not in_flight:  # everything left waits for the throttling pause
                time.sleep(max(0.0, resume_at - time.monotonic()))
                continue
            timeout = max(0.0, resume_at - time.monotonic()) if queue and resume_at > time.monotonic() else None
            done, _ = wait(in_flight, timeout=timeout, return_when=FIRST_COMPLETED)
            for future in done:
                account, tries = in_flight.pop(future)
                error = future.exception()
                if error is not None:
                    logger.exception("Reconcile failed for account %s", account.pk, exc_info=error)
                    summary.errors.append(f"account {account.pk} ({account.name}): {type(error).__name__}: {error}")
                    summary.outcomes[str(account.partner_center_tenant_id)] = "error"
                    _tick(progress)
                    continue
                status = future.result()
                if status.reason.code == ReasonCode.PARTNER_CENTER_THROTTLED and tries < MAX_THROTTLE_RETRIES:
                    summary.throttled_pauses += 1
                    resume_at = time.monotonic() + pause
                    pause = min(max_pause, pause * 2)
                    queue.append((account, tries + 1))
                    continue
                if status.reason.code != ReasonCode.PARTNER_CENTER_THROTTLED:
                    pause = first_pause  # Partner Center answers again: back to the first pause length
                tenant = str(account.partner_center_tenant_id)
                if not status.needed:
                    outcome = summary.outcomes[tenant] = str(status.known_by or status.reason.code)
                    summary.accepted[outcome] += 1
                else:
                    outcome = summary.outcomes[tenant] = str(status.reason.code)
                    summary.still_needed[outcome] += 1
                    summary.needing.append((account.name, tenant, status.reason.message))
                _tick(progress)
    _look_at_open_attestations(summary)
    return summary


def _look_at_open_attestations(summary: ReconcileSummary) -> None:
    """Pending enhanced attestations are part of what is unknown: ask Microsoft about each one now."""
    from mca.attestation.enhanced import advance_attestation
    from mca.choices import AttestationState
    from mca.models import Attestation

    open_ids = Attestation.objects.filter(state__in=[AttestationState.CREATING, AttestationState.PENDING]).values_list(
        "pk", flat=True
    )
    for attestation_id in list(open_ids):
        Attestation.objects.filter(pk=attestation_id).update(next_check_at=None)
        state = advance_attestation(attestation_id)
        summary.attestations[state or "busy elsewhere"] += 1


def _tick(progress: Callable[[int], None] | None) -> None:
    if progress is not None:
        progress(1)
