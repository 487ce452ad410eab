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
