from django.core.management.base import BaseCommand

from mca.delivery import sweep_due_deliveries


class Command(BaseCommand):
    help = (
        "Send every acceptance delivery that is due (or stuck in 'sending'), as the beat sweeper does. "
        "For installations without celery beat, e.g. `make run`, where tasks run in-process."
    )

    def handle(self, *args, **options) -> None:
        enqueued = sweep_due_deliveries()
        self.stdout.write(f"{enqueued} due deliver{'y' if enqueued == 1 else 'ies'} sent to the delivery task.")
