"""Celery tasks: thin wrappers around the delivery service of the same name."""

from celery import shared_task


@shared_task(acks_late=True, ignore_result=True)
def deliver_acceptance_task(delivery_id: int) -> str | None:
    # acks_late: a worker killed mid-task leaves the message for another; `deliver` is idempotent (the row's
    # state and lease decide whether anything is sent, and a "sending" row first asks Partner Center).
    from mca.delivery import deliver

    return deliver(delivery_id)


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


@shared_task(ignore_result=True)
def refresh_readiness_task(account_ids: list[int] | None = None) -> int:
    """Beat (all accounts), or after a change (those accounts): rewrite the stored readiness."""
    from bss.models import Account
    from mca.readiness import refresh_readiness

    return refresh_readiness(None if account_ids is None else Account.objects.filter(pk__in=account_ids))
