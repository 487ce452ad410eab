"""Celery tasks: thin wrappers around the delivery service of the same name."""

from celery import shared_task


@shared_task(acks_late=True, ignore_result=True)
def deliver_acceptance_task(delivery_id: int) -> str | None:
    # acks_late: a worker killed mid-task leaves the message for another; `deliver` is idempotent (the row's
    # state and lease decide whether anything is sent, and a "sending" row first asks Partner Center).
    from mca.delivery import deliver

    return deliver(delivery_id)


@shared_task(ignore_result=True)
def send_due_deliveries_task() -> int:
    # Woken after commits, at most once per MCA_DELIVERY_HANDOVER_SECONDS (mca.outbox.hand_over).
    from mca.delivery import send_due_now

    return send_due_now()


@shared_task(ignore_result=True)
def sweep_deliveries_task() -> int:
    from mca.delivery import sweep_due_deliveries

    return sweep_due_deliveries()


@shared_task(acks_late=True, ignore_result=True)
def advance_attestation_task(attestation_id: int, flow: str = "enhanced") -> str | None:
    # Idempotent: a claim with a short lease decides who talks to Microsoft; creating reuses the MS-RequestId.
    # `flow` defaults to the only flow that polls, for messages queued before it was passed.
    from mca.attestation import advance

    return advance(flow, attestation_id)


@shared_task(ignore_result=True)
def poll_attestations_task() -> int:
    """Beat: enqueue what every attestation flow has due at Microsoft (links to create, answers to poll)."""
    from mca.attestation import advance_due

    due = advance_due()
    for flow, attestation_id in due:
        advance_attestation_task.delay(attestation_id, flow)
    return len(due)


@shared_task(ignore_result=True)
def write_checkpoint_task() -> int | None:
    """Scheduled after a record commits, and by beat: sign a checkpoint of the log's head (none when it has not
    moved); a log that does not verify is logged as an error and nothing is signed."""
    import logging

    from mca.checkpoints import CheckpointRefused, scheduled_checkpoint_due
    from mca.verify import write_checkpoint

    scheduled_checkpoint_due()
    try:
        written = write_checkpoint()
    except CheckpointRefused as refused:
        logging.getLogger(__name__).error("%s", refused)
        return None
    return written.checkpoint.sequence if written.checkpoint else None


def sweep_when_partner_center_can_be_asked(*, until: float | None = None, **kwargs: object) -> None:
    """Receiver of `partner_center.health.circuit_opened` / `circuit_closed` (connected in mca.apps): the outbox's
    sweeps run when the circuit's open period ends (one of them then makes the one trial call) and again the moment
    a trial closes it, so what Partner Center's outage held back goes out at once, not at the sweeps' next beat
    (30 s for attestations by default; a trial could come up to a beat after its open period). A row held back
    while the trial was out is due again TRIAL_OUT_RETRY_SECONDS later, so a second sweep follows the closing one
    (it waited the trial's timeouts, 13 s, before: the `enhanced_down` drill saw links 15.6 s after recovery
    instead of 1.5-3 s). Only with a broker: without one there is no beat to wait
    for, and a sweep run in-process would run inside the call that changed the circuit."""
    import time

    from celery import current_app

    from partner_center.health import TRIAL_OUT_RETRY_SECONDS

    if current_app.conf.task_always_eager:
        return
    # Closed: now, and again once what was held back while the trial was out is due (TRIAL_OUT_RETRY_SECONDS).
    # Opened: a little after `until`, when the trial may go on every process's clock.
    closed = until is None
    countdowns = [0.0, TRIAL_OUT_RETRY_SECONDS + 0.5] if closed else [max(0.0, until - time.time()) + 0.5]
    for countdown in countdowns:
        for task in (sweep_deliveries_task, poll_attestations_task):
            task.apply_async(countdown=countdown)


@shared_task(ignore_result=True)
def send_checkpoint_digest_task() -> int:
    """Beat, daily: the checkpoint digest to MCA_CHECKPOINT_WITNESS_EMAILS (nothing when empty)."""
    from mca.digest import send_checkpoint_digest

    return send_checkpoint_digest()


@shared_task(acks_late=True, ignore_result=True)
def recheck_chunk_task(run_id: int, first_item_id: int, last_item_id: int) -> dict[str, int]:
    # acks_late: a worker killed mid-chunk leaves the message for another; each account is claimed before it is
    # asked and answered once per run (mca.recheck), so a chunk delivered twice asks nobody twice.
    from mca.recheck import ask_chunk

    return ask_chunk(run_id, first_item_id, last_item_id)


@shared_task(ignore_result=True)
def start_recheck_task() -> int:
    """Beat (MCA_RECHECK_EVERY_SECONDS): re-check the unknown customers and those verified too long ago."""
    from mca.recheck import default_max_age_days, start_run

    run, _queued = start_run(source="beat", max_age_days=default_max_age_days())
    return run.pk


@shared_task(ignore_result=True)
def resume_rechecks_task() -> int:
    from mca.recheck import resume_stalled_runs

    return resume_stalled_runs()


@shared_task(ignore_result=True)
def refresh_readiness_task(account_ids: list[int] | None = None) -> int:
    """Beat (all accounts), or after a change (those accounts): rewrite the stored readiness."""
    from bss.models import Account
    from mca.readiness import refresh_readiness

    return refresh_readiness(None if account_ids is None else Account.objects.filter(pk__in=account_ids))
