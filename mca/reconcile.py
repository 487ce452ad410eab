"""Reconcile: ask Partner Center about synced customers whose MCA acceptance is unknown here (`mca_reconcile`).

In this process, for small runs: a `RecheckRun` (mca.recheck) whose items are asked by threads through
`mca.recheck.ask_item`, the path Celery workers take for large runs (`mca_reconcile --workers`).

- Candidates: accounts with a Partner Center tenant whose knowledge row is missing or no longer counts (a partner
  confirmation from before the MCA refresh, R4a). One question per tenant: two accounts of one Microsoft
  customer (two resellers) share the answer (R2).
- Each question is `mca.status.recheck_acceptance` (for an unknown customer `acceptance_status(account,
  ask_again=True)`), which asks Partner Center (even if it said "not
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
from mca.choices import AcceptanceKind, ReasonCode, RecheckOutcome
from mca.recheck import MAX_THROTTLE_RETRIES, ask_item, candidate_ids, finish_if_done, plan_run
from mca.status import RecheckAnswer

logger = logging.getLogger(__name__)

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
    run_id: int | None = None  # the RecheckRun this reconcile recorded its answers in

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


def unknown_synced_accounts(max_age_days: float | None = None) -> list[Account]:
    """One account per tenant whose acceptance is not known (or known only by a stale attestation), and per tenant
    verified at Partner Center more than `max_age_days` ago when given (mca.recheck.candidate_ids)."""
    ids = candidate_ids(max_age_days)
    by_pk = Account.objects.in_bulk(ids)
    return [by_pk[pk] for pk in ids]


def _ask(item_id: int, last_try: bool) -> RecheckAnswer | None:
    try:
        return ask_item(item_id, last_try=last_try)  # the one path of every re-check, workers' included
    finally:
        connection.close()  # this worker thread's connection; the pool's threads are reused


def reconcile_unknown(
    *,
    concurrency: int | None = None,
    progress: Callable[[int], None] | None = None,
    max_age_days: float | None = None,
) -> ReconcileSummary:
    """Ask Partner Center about every unknown synced customer (and those verified more than `max_age_days` ago),
    `concurrency` questions at a time, in this process: a `RecheckRun` asked by threads instead of workers."""
    concurrency = max(1, concurrency or default_concurrency())
    run = plan_run(source="reconcile", max_age_days=max_age_days)
    summary = ReconcileSummary(candidates=run.planned, run_id=run.pk)
    items = run.items.select_related("account").order_by("pk")
    queue: list[tuple[int, Account, int]] = [(item.pk, item.account, 0) for item in items]
    first_pause, max_pause = _throttle_pause(), _max_throttle_pause()
    pause, resume_at = first_pause, 0.0
    in_flight: dict[Future, tuple[int, Account, int]] = {}
    with ThreadPoolExecutor(max_workers=concurrency, thread_name_prefix="mca-reconcile") as pool:
        while queue or in_flight:
            while queue and len(in_flight) < concurrency and time.monotonic() >= resume_at:
                item_id, account, tries = queue.pop(0)
                in_flight[pool.submit(_ask, item_id, tries >= MAX_THROTTLE_RETRIES)] = (item_id, account, tries)
                summary.asked += 1
            if not in_flight:  # everything left waits for the throttling pause
                time.sleep(max(0.0, resume_at - time.monotonic()))
                continue
            timeout = max(0.0, resume_at - time.monotonic()) if queue and resume_at > time.monotonic() else None
            done, _ = wait(in_flight, timeout=timeout, return_when=FIRST_COMPLETED)
            for future in done:
                item_id, account, tries = in_flight.pop(future)
                tenant = str(account.partner_center_tenant_id)
                error = future.exception()
                answer = future.result() if error is None else None
                if error is not None or (answer is not None and answer.code == "error"):
                    text = f"{type(error).__name__}: {error}" if error is not None else answer.message
                    logger.error("Reconcile failed for account %s: %s", account.pk, text)
                    summary.errors.append(f"account {account.pk} ({account.name}): {text}")
                    summary.outcomes[tenant] = "error"
                    _tick(progress)
                    continue
                if answer is None:  # answered by someone else meanwhile (a worker resuming the same run)
                    _tick(progress)
                    continue
                if answer.outcome == RecheckOutcome.THROTTLED and tries < MAX_THROTTLE_RETRIES:
                    summary.throttled_pauses += 1
                    resume_at = time.monotonic() + pause
                    pause = min(max_pause, pause * 2)
                    queue.append((item_id, account, tries + 1))
                    continue
                if answer.outcome != RecheckOutcome.THROTTLED:
                    pause = first_pause  # Partner Center answers again: back to the first pause length
                summary.outcomes[tenant] = answer.code
                if answer.outcome == RecheckOutcome.ACCEPTED:
                    summary.accepted[answer.code] += 1
                else:
                    summary.still_needed[answer.code] += 1
                    summary.needing.append((account.name, tenant, answer.message))
                _tick(progress)
    finish_if_done(run.pk)
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
