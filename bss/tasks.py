"""Celery tasks of the BSS: thin wrappers around the provisioning and execution services."""

from celery import shared_task


@shared_task(bind=True, acks_late=True, ignore_result=True)
def provision_order_task(self, order_id: int) -> str:
    # acks_late: a worker killed mid-run leaves the message for another; `provision_order` is idempotent (a lease
    # decides who runs, and every Partner Center write reuses its persisted MS-RequestId).
    from bss.services.provisioning import provision_order

    result = provision_order(order_id=order_id)
    if result.retry_in is not None and not self.request.is_eager:
        # With a broker, the next attempt is scheduled now; the beat sweep is the backstop (and, without a broker,
        # the only retry: an in-process retry would block the web request that started provisioning).
        provision_order_task.apply_async((order_id,), countdown=result.retry_in)
    return str(result)


@shared_task(ignore_result=True)
def retry_provisioning_task() -> int:
    """Beat: restart failed provisioning that is due, runs whose worker died, and executed orders whose message was
    lost; release held orders whose acceptance became known while no signal reached us."""
    from bss.services.execution import release_due_held_orders
    from bss.services.provisioning import due_order_ids

    ids = due_order_ids()
    for order_id in ids:
        provision_order_task.delay(order_id)
    return len(ids) + release_due_held_orders()


@shared_task(ignore_result=True)
def send_readiness_digest_task() -> int:
    """Beat, daily: the readiness digest to CSP staff and each reseller's staff."""
    from bss.services.digest import send_readiness_digest

    return send_readiness_digest()


@shared_task(acks_late=True, ignore_result=True)
def campaign_send_task(send_id: int) -> str | None:
    # acks_late: a worker killed mid-send leaves the message for another (or the sweep re-queues the row after its
    # lease); `send_one` claims the row and replays the gate's submission by its key, so a link goes out once.
    from bss.services.campaigns import send_one

    return send_one(send_id)


@shared_task(ignore_result=True)
def campaign_sweep_task() -> dict[str, int]:
    """Beat: accepted and expired links, reminders due, sends due or abandoned by a dead worker."""
    from bss.services.campaigns import sweep

    return sweep()
