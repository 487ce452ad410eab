"""Re-checks at Partner Center's pace, on any number of workers (issue 19, item 3).

A run (`RecheckRun`) is planned once: one account per Partner Center tenant whose acceptance is unknown here (no
knowledge, or knowledge that no longer counts: never asked, required, stale, pending) or was verified at Partner
Center longer ago than `max_age_days` (MCA_RECHECK_MAX_AGE_DAYS), one `RecheckItem` each. Its items are asked in
chunks by Celery tasks (`mca.tasks.recheck_chunk_task`, acks_late) on however many workers run, or by threads in
this process (`mca_reconcile` without --workers, for small runs): both ask through `ask_item`, the one code path for
asking and recording.

- **Once per account per run.** A worker claims an item (a conditional UPDATE: unanswered, and not claimed by a
  live worker) before asking and records the answer only on an unanswered item, so a chunk delivered twice, two
  chunks overlapping, or a resumed run never ask an answered account again. A worker killed mid-question leaves
  one claimed item; after MCA_RECHECK_CLAIM_SECONDS it may be claimed again (that one account is asked twice: its
  first answer was lost with the worker).
- **At Partner Center's pace.** Every call takes a slot of the one rate limit all processes share
  (PARTNER_CENTER_RATE_LIMIT, partner_center.ratelimit), and a 429's Retry-After pauses every process
  (partner_center.health): a throttled answer puts the item back and the worker waits until Partner Center takes
  calls again, then asks it again (at most MAX_THROTTLE_RETRIES times, then it is recorded as unknown).
- **Resumed.** A run with items left and nothing answered for MCA_RECHECK_STALL_SECONDS (its chunks lost with a
  killed worker, or a broker restart) gets its open items queued again by the beat sweep (`resume_stalled_runs`).
- **Recorded** through `mca.status` / `mca.knowledge`, like every check: a positive answer is remembered (and
  refreshes `verified_at`), a negative one is kept for MCA_NOT_ACCEPTED_TTL; a state change is announced there.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import F, Q
from django.utils import timezone

from bss.models import Account
from mca.choices import RecheckOutcome
from mca.knowledge import still_counts
from mca.models import CustomerKnowledge, RecheckItem, RecheckRun
from mca.status import RecheckAnswer, recheck_acceptance

logger = logging.getLogger(__name__)

MAX_THROTTLE_RETRIES = 3
# The endpoints a re-check calls: a Retry-After on either pauses the run's workers.
ASKED_ENDPOINTS = ("customer_agreements", "direct_signed_status")
# A worker waits this long at most in one go for Partner Center to take calls again, then looks again.
MAX_INLINE_PAUSE = 60.0
_COUNTER = {
    RecheckOutcome.ACCEPTED: "accepted",
    RecheckOutcome.NOT_ACCEPTED: "not_accepted",
    RecheckOutcome.UNKNOWN: "unknown",
}


def default_max_age_days() -> float | None:
    age = settings.MCA_RECHECK_MAX_AGE_DAYS
    return age if age and age > 0 else None


# --- planning ---------------------------------------------------------------------------------------------------


def candidate_ids(max_age_days: float | None = None) -> list[int]:
    """One account id per tenant (the lowest) whose acceptance is unknown here, or verified at Partner Center more
    than `max_age_days` ago. Two accounts of one tenant share the answer (R2): one question."""
    cutoff = timezone.now() - timedelta(days=max_age_days) if max_age_days else None
    known = {knowledge.key: knowledge for knowledge in CustomerKnowledge.objects.filter(key__startswith="tenant:")}
    chosen: dict[str, int] = {}
    synced = Account.objects.filter(partner_center_tenant_id__isnull=False).order_by("pk")
    for pk, tenant in synced.values_list("pk", "partner_center_tenant_id").iterator(chunk_size=5000):
        key = f"tenant:{tenant}"
        if key in chosen:
            continue
        knowledge = known.get(key)
        if still_counts(knowledge) and not _verified_before(knowledge, cutoff):
            continue
        chosen[key] = pk
    return list(chosen.values())


def _verified_before(knowledge: CustomerKnowledge, cutoff) -> bool:
    # Known only here (never verified) is the delivery outbox's business, not a re-check's.
    return cutoff is not None and knowledge.verified_at is not None and knowledge.verified_at < cutoff


def plan_run(*, source: str, max_age_days: float | None = None, account_ids: list[int] | None = None) -> RecheckRun:
    """A run with one item per candidate account (or per given account), nothing asked yet."""
    ids = candidate_ids(max_age_days) if account_ids is None else list(dict.fromkeys(account_ids))
    with transaction.atomic():
        run = RecheckRun.objects.create(source=source, max_age_days=max_age_days, planned=len(ids))
        RecheckItem.objects.bulk_create((RecheckItem(run=run, account_id=pk) for pk in ids), batch_size=5000)
        if not ids:
            RecheckRun.objects.filter(pk=run.pk).update(finished_at=timezone.now())
    run.refresh_from_db()
    return run


def chunks(run: RecheckRun, size: int | None = None) -> Iterator[tuple[int, int]]:
    """(first item id, last item id) of each chunk of `size` open items, in id order."""
    size = max(1, size or settings.MCA_RECHECK_CHUNK_SIZE)
    ids = run.items.filter(outcome="").order_by("pk").values_list("pk", flat=True)
    batch: list[int] = []
    for pk in ids.iterator(chunk_size=5000):
        batch.append(pk)
        if len(batch) == size:
            yield batch[0], batch[-1]
            batch = []
    if batch:
        yield batch[0], batch[-1]


def enqueue_chunks(run: RecheckRun, size: int | None = None) -> int:
    """Queue a chunk task per chunk of the run's open items (Celery; in-process when no broker is set)."""
    from mca.tasks import recheck_chunk_task

    queued = 0
    for first, last in list(chunks(run, size)):
        recheck_chunk_task.delay(run.pk, first, last)
        queued += 1
    return queued


def start_run(
    *, source: str, max_age_days: float | None = None, chunk_size: int | None = None
) -> tuple[RecheckRun, int]:
    """Plan a run and queue its chunks for the workers: the run and the number of chunk tasks queued."""
    run = plan_run(source=source, max_age_days=max_age_days)
    RecheckRun.objects.filter(pk=run.pk).update(last_progress_at=timezone.now())
    return run, enqueue_chunks(run, chunk_size)


# --- asking -----------------------------------------------------------------------------------------------------


def _claim(item_id: int) -> bool:
    now = timezone.now()
    lease = timedelta(seconds=settings.MCA_RECHECK_CLAIM_SECONDS)
    return bool(
        RecheckItem.objects.filter(pk=item_id, outcome="")
        .filter(Q(claimed_until__isnull=True) | Q(claimed_until__lt=now))
        .update(claimed_until=now + lease, attempts=F("attempts") + 1)
    )


def ask_item(item_id: int, *, last_try: bool = True) -> RecheckAnswer | None:
    """Claim the item, ask Partner Center about its account and record the answer; None when the item is answered
    already or another worker holds it. A throttled answer puts the item back (unless `last_try`: then it is
    recorded as unknown) and is returned so the caller can wait."""
    if not _claim(item_id):
        return None
    item = RecheckItem.objects.select_related("account").get(pk=item_id)
    RecheckRun.objects.filter(pk=item.run_id).update(asked=F("asked") + 1)
    try:
        answer = recheck_acceptance(item.account)
    except Exception as error:  # recorded, so one broken account does not stall the run
        logger.exception("Re-check of account %s failed", item.account_id)
        answer = RecheckAnswer(RecheckOutcome.UNKNOWN, "error", f"{type(error).__name__}: {error}")
    if answer.outcome == RecheckOutcome.THROTTLED and not last_try:
        RecheckItem.objects.filter(pk=item.pk, outcome="").update(claimed_until=None)
        RecheckRun.objects.filter(pk=item.run_id).update(throttled=F("throttled") + 1)
        return answer
    _record(item, answer)
    return answer


def _record(item: RecheckItem, answer: RecheckAnswer) -> None:
    outcome = RecheckOutcome.UNKNOWN if answer.outcome == RecheckOutcome.THROTTLED else answer.outcome
    now = timezone.now()
    with transaction.atomic():
        answered = RecheckItem.objects.filter(pk=item.pk, outcome="").update(
            outcome=outcome, code=answer.code[:40], answered_at=now, claimed_until=None
        )
        if answered:  # counted once, even if a worker that lost its claim answers too
            counter = _COUNTER[outcome]
            RecheckRun.objects.filter(pk=item.run_id).update(**{counter: F(counter) + 1}, last_progress_at=now)


def pause_for_throttling() -> float:
    """Seconds until Partner Center takes a re-check's calls again (Retry-After, shared by every process; the circuit
    when open), or the first reconcile pause when it did not say (our own limit had no slot in time)."""
    from partner_center.client import get_client

    health = get_client().health
    moments = [moment for moment in (health.resume_at(kind) for kind in ASKED_ENDPOINTS) if moment]
    if moments:
        return max(max(moments) - time.time(), 0.0)
    return settings.MCA_RECONCILE_THROTTLE_PAUSE


def ask_chunk(run_id: int, first_id: int, last_id: int) -> dict[str, int]:
    """Ask about every open item of the run with an id in [first_id, last_id], one at a time: what was recorded
    here, per outcome. Safe to run twice, or beside another worker running the same chunk."""
    done: dict[str, int] = {}
    open_ids = list(
        RecheckItem.objects.filter(run_id=run_id, pk__gte=first_id, pk__lte=last_id, outcome="")
        .order_by("pk")
        .values_list("pk", flat=True)
    )
    for item_id in open_ids:
        tries = 0
        while True:
            answer = ask_item(item_id, last_try=tries >= MAX_THROTTLE_RETRIES)
            if answer is None or answer.outcome != RecheckOutcome.THROTTLED or tries >= MAX_THROTTLE_RETRIES:
                break
            tries += 1
            # Every worker sees the same Retry-After: they all wait, and come back when Partner Center does.
            time.sleep(min(pause_for_throttling(), MAX_INLINE_PAUSE))
        if answer is not None:
            key = RecheckOutcome.UNKNOWN if answer.outcome == RecheckOutcome.THROTTLED else answer.outcome
            done[str(key)] = done.get(str(key), 0) + 1
    finish_if_done(run_id)
    return done


def finish_if_done(run_id: int) -> bool:
    """Mark the run finished once no item is left to answer."""
    if RecheckItem.objects.filter(run_id=run_id, outcome="").exists():
        return False
    RecheckRun.objects.filter(pk=run_id, finished_at__isnull=True).update(finished_at=timezone.now())
    return True


def resume_run(run: RecheckRun, chunk_size: int | None = None) -> int:
    """Queue the run's open items again (answered ones are never asked again): chunk tasks queued."""
    if finish_if_done(run.pk):
        return 0
    RecheckRun.objects.filter(pk=run.pk).update(last_progress_at=timezone.now())
    return enqueue_chunks(run, chunk_size)


def resume_stalled_runs() -> int:
    """Beat: resume every unfinished run with nothing answered for MCA_RECHECK_STALL_SECONDS. Runs resumed."""
    stalled_since = timezone.now() - timedelta(seconds=settings.MCA_RECHECK_STALL_SECONDS)
    resumed = 0
    for run in RecheckRun.objects.filter(finished_at__isnull=True).filter(
        Q(last_progress_at__lt=stalled_since) | Q(last_progress_at__isnull=True, started_at__lt=stalled_since)
    ):
        if resume_run(run):
            logger.warning("Re-check run %s stalled: its open items are queued again", run.pk)
            resumed += 1
    return resumed


def progress_line(run: RecheckRun) -> str:
    return (
        f"Re-check {run.pk}: {run.done}/{run.planned} answered ({run.progress_percent} %) - accepted {run.accepted}, "
        f"not accepted {run.not_accepted}, unknown {run.unknown}; questions asked {run.asked}, "
        f"throttled {run.throttled}" + (f"; finished {run.finished_at:%Y-%m-%d %H:%M:%S}" if run.finished_at else "")
    )
