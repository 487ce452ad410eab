from django.core.management.base import BaseCommand

from api.idempotency import purge_expired


class Command(BaseCommand):
    help = "Forget stored Idempotency-Key answers older than API_IDEMPOTENCY_TTL_HOURS (run it daily, e.g. cron)."

    def handle(self, *args, **options) -> None:
        self.stdout.write(f"Forgot {purge_expired()} expired idempotent answers.")
