"""Celery tasks: thin wrappers around the webhook sender."""

from celery import shared_task


@shared_task(acks_late=True, ignore_result=True)
def deliver_webhook_task(message_id: int) -> str | None:
    # acks_late: a worker killed mid-task leaves the message for another; the claim's lease makes it idempotent.
    from webhooks.delivery import deliver

    return deliver(message_id)


@shared_task(ignore_result=True)
def sweep_webhooks_task() -> int:
    from webhooks.delivery import sweep_due_messages

    return sweep_due_messages()
