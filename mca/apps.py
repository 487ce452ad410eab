from django.apps import AppConfig


class McaConfig(AppConfig):
    name = "mca"
    verbose_name = "MCA acceptance"

    def ready(self) -> None:
        from mca import checkpoints, outbox
        from mca.tasks import deliver_acceptance_task, write_checkpoint_task

        # The outbox hands rows to the sender through the Celery task (in-process when no broker is set).
        outbox.send_rows_with(lambda delivery_id: deliver_acceptance_task.delay(delivery_id))
        # A checkpoint follows new records within MCA_CHECKPOINT_MAX_LAG_SECONDS, batched through the cache.
        checkpoints.schedule_checkpoints_with(lambda lag: write_checkpoint_task.apply_async(countdown=lag))
        # The stored readiness (counts and filters of the readiness page) follows a customer whose acceptance
        # became known or whose state moved, after the change commits; beat rewrites everything periodically.
        from mca.signals import acceptance_known, state_changed

        acceptance_known.connect(_refresh_after_acceptance, dispatch_uid="mca.readiness.acceptance_known")
        state_changed.connect(_refresh_after_state_change, dispatch_uid="mca.readiness.state_changed")


def _refresh_after_acceptance(sender: object, accounts: object = None, **kwargs: object) -> None:
    from mca.tasks import refresh_readiness_task

    ids = list(accounts.values_list("pk", flat=True)) if accounts is not None else []  # type: ignore[attr-defined]
    if ids:
        refresh_readiness_task.delay(ids)


def _refresh_after_state_change(sender: object, account: object = None, **kwargs: object) -> None:
    from django.db import transaction

    from mca.tasks import refresh_readiness_task

    pk = getattr(account, "pk", None)
    if pk is not None:
        transaction.on_commit(lambda: refresh_readiness_task.delay([pk]))
