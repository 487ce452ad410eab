from django.apps import AppConfig


class BssConfig(AppConfig):
    name = "bss"
    verbose_name = "BSS"

    def ready(self) -> None:
        from bss.services.campaigns import queue_sends_with
        from bss.services.execution import queue_provisioning_with, release_on_acceptance
        from bss.services.notify import notice_when_held
        from bss.signals import order_held_for_acceptance
        from bss.tasks import campaign_send_task, provision_order_task
        from mca.signals import acceptance_known

        # Executed orders are provisioned by the Celery task (in-process when no broker is set).
        queue_provisioning_with(lambda order_id: provision_order_task.delay(order_id))
        # A campaign's sends go out through the Celery task (in-process when no broker is set).
        queue_sends_with(lambda send_id: campaign_send_task.delay(send_id))

        # Orders held in "awaiting acceptance" go on once Microsoft reports the customer's acceptance.
        acceptance_known.connect(release_on_acceptance, dispatch_uid="bss.release_held_orders")
        # CSP staff and the customer's reseller's staff hear at once when an order is held (after commit).
        order_held_for_acceptance.connect(notice_when_held, dispatch_uid="bss.hold_notice")
