from django.apps import AppConfig


class WebhooksConfig(AppConfig):
    name = "webhooks"
    verbose_name = "Webhooks"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from webhooks import delivery, events
        from webhooks.tasks import deliver_webhook_task

        # Messages are handed to the sender through the Celery task after commit (in-process when no broker).
        delivery.send_messages_with(lambda message_id: deliver_webhook_task.delay(message_id))
        events.connect_receivers()
