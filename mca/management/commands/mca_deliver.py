from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone
from django.utils.formats import date_format

from mca.choices import DeliveryState
from mca.delivery import retry_now, sweep_due_deliveries
from mca.models import AcceptanceDelivery
from mca.selectors import deliveries_needing_attention


def _when(moment) -> str:
    return date_format(timezone.localtime(moment), "Y-m-d H:i:s T") if moment else "—"


def _line(delivery: AcceptanceDelivery) -> str:
    record = delivery.record
    head = (
        f"record #{record.sequence} for {record.account_name} (delivery {delivery.pk}, {delivery.attempts} attempt(s))"
    )
    error = delivery.last_error or "no error recorded"
    if delivery.state == DeliveryState.REFUSED:
        return f"  refused  {head}: {error} — Partner Center said no for good; not retried"
    return f"  failing  {head}: {error}; next try {_when(delivery.next_attempt_at)}"


class Command(BaseCommand):
    help = (
        "Send every acceptance delivery that is due (or stuck in 'sending'), as the beat sweeper does, then list "
        "the deliveries that are failing (with their last error and next try) or were refused by Partner Center. "
        "--retry-failing sends the failing ones now, whatever their backoff says, and prints each outcome. "
        "Exits non-zero while any delivery is still failing."
    )

    def add_arguments(self, parser) -> None:
        parser.add_argument(
            "--retry-failing",
            action="store_true",
            help="Make failing deliveries due now and send them in this process, printing each outcome.",
        )
        parser.add_argument(
            "--list", dest="list_only", action="store_true", help="Only list failing and refused deliveries."
        )

    def handle(self, *args, retry_failing: bool, list_only: bool, **options) -> None:
        if retry_failing and list_only:
            raise CommandError("--retry-failing and --list exclude each other.")
        if retry_failing:
            self._retry_failing()
        elif not list_only:
            enqueued = sweep_due_deliveries()
            self.stdout.write(f"{enqueued} due deliver{'y' if enqueued == 1 else 'ies'} sent to the delivery task.")
        self._report()

    def _retry_failing(self) -> None:
        failing = [d for d in deliveries_needing_attention() if d.state == DeliveryState.FAILING]
        if not failing:
            self.stdout.write("No failing delivery to retry.")
            return
        self.stdout.write(f"Retrying {len(failing)} failing deliver{'y' if len(failing) == 1 else 'ies'} now:")
        outcomes = retry_now([delivery.pk for delivery in failing])
        after = {
            d.pk: d for d in AcceptanceDelivery.objects.filter(pk__in=outcomes).select_related("record").order_by("pk")
        }
        for delivery in failing:
            row = after[delivery.pk]
            label = f"record #{row.record.sequence} for {row.record.account_name}"
            if row.state == DeliveryState.SENT:
                code = f" (HTTP {row.last_status_code})" if row.last_status_code else ""
                self.stdout.write(self.style.SUCCESS(f"  sent     {label}{code}"))
            elif row.state == DeliveryState.FAILING:
                self.stdout.write(
                    self.style.ERROR(f"  failing  {label}: {row.last_error}; next try {_when(row.next_attempt_at)}")
                )
            else:
                self.stdout.write(f"  {row.get_state_display().lower()}  {label}: {row.last_error or 'not sent now'}")

    def _report(self) -> None:
        rows = list(deliveries_needing_attention())
        failing = [row for row in rows if row.state == DeliveryState.FAILING]
        refused = [row for row in rows if row.state == DeliveryState.REFUSED]
        if refused:
            self.stdout.write(f"{len(refused)} refused by Partner Center (the customer must accept again):")
            for row in refused:
                self.stdout.write(_line(row))
        if failing:
            self.stdout.write(f"{len(failing)} failing (retried with backoff):")
            for row in failing:
                self.stdout.write(_line(row))
            raise CommandError(
                f"{len(failing)} deliver{'y is' if len(failing) == 1 else 'ies are'} still failing "
                f"(Partner Center at {settings.PARTNER_CENTER_BASE_URL}); "
                "run `manage.py mca_deliver --retry-failing` once it answers."
            )
        if not refused:
            self.stdout.write(self.style.SUCCESS("No delivery is failing."))
