from django.apps import AppConfig


class McaConfig(AppConfig):
    name = "mca"
    verbose_name = "MCA acceptance"

    def ready(self) -> None:
        from celery import current_app

        from mca import checkpoints, knowledge, outbox, state
        from mca.tasks import deliver_acceptance_task, send_due_deliveries_task, write_checkpoint_task

        # The outbox hands rows to the sender through the Celery task (in-process when no broker is set); with a
        # broker, the rows committed within MCA_DELIVERY_HANDOVER_SECONDS share one wake-up of the sender.
        outbox.send_rows_with(
            lambda delivery_id: deliver_acceptance_task.delay(delivery_id),
            drain_in=lambda seconds: send_due_deliveries_task.apply_async(countdown=seconds),
            in_process=lambda: bool(current_app.conf.task_always_eager),
        )
        # A checkpoint follows new records within MCA_CHECKPOINT_MAX_LAG_SECONDS, batched through the cache.
        checkpoints.schedule_checkpoints_with(lambda lag: write_checkpoint_task.apply_async(countdown=lag))
        # Partner Center's circuit opened or closed: the sweeps run when its trial may go and once it has closed.
        from mca.tasks import sweep_when_partner_center_can_be_asked
        from partner_center.health import circuit_closed, circuit_opened

        circuit_opened.connect(sweep_when_partner_center_can_be_asked, dispatch_uid="mca.sweep_after_open")
        circuit_closed.connect(sweep_when_partner_center_can_be_asked, dispatch_uid="mca.sweep_after_close")
        # Writes that may move a customer's MCA state announce it (mca.signals.state_changed) through mca.state.
        knowledge.announce_state_changes_with(state.state_changes)
        # The stored readiness (counts and filters of the readiness page) follows a customer whose acceptance
        # became known, after the change commits; beat rewrites everything periodically (MCA_READINESS_REFRESH_SECONDS).
        # Not on every state_changed: a receiver that always wants it makes every state-moving write compute the
        # states before and after (mca.signals.connect_when); the page shows each listed row's state live anyway.
        from mca.signals import acceptance_known

        acceptance_known.connect(_refresh_after_acceptance, dispatch_uid="mca.readiness.acceptance_known")


def _refresh_after_acceptance(sender: object, accounts: object = None, **kwargs: object) -> None:
    from mca.tasks import refresh_readiness_task

    ids = list(accounts.values_list("pk", flat=True)) if accounts is not None else []  # type: ignore[attr-defined]
    if ids:
        refresh_readiness_task.delay(ids)
