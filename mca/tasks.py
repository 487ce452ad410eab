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
def advance_attestation_task(attestation_id: int) -> str | None:
    # Idempotent: a claim with a short lease decides who talks to Microsoft; creating reuses the MS-RequestId.
    from mca.attestation.enhanced import advance_attestation

    return advance_attestation(attestation_id)


@shared_task(ignore_result=True)
def poll_attestations_task() -> int:
    """Beat: enqueue every attestation due for a look (its link to create, or the signatory's answer)."""
    from mca.attestation.enhanced import due_attestation_ids

    ids = due_attestation_ids()
    for attestation_id in ids:
        advance_attestation_task.delay(attestation_id)
    return len(ids)


@shared_task(ignore_result=True)
def write_checkpoint_task() -> int | None:
    """Scheduled after a record commits, and by beat: sign a checkpoint of the log's head (none when it has not
    moved); a log that does not verify is logged as an error and nothing is signed."""
    import logging

    from mca.checkpoints import CheckpointRefused, scheduled_checkpoint_due, write_checkpoint

    scheduled_checkpoint_due()
    try:
        written = write_checkpoint()
    except CheckpointRefused as refused:
        logging.getLogger(__name__).error("%s", refused)
        return None
    return written.checkpoint.sequence if written.checkpoint else None
