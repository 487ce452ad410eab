from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from tqdm import tqdm

from mca.reconcile import default_concurrency, reconcile_unknown, unknown_synced_accounts


class Command(BaseCommand):
    help = (
        "Ask Partner Center about synced customers whose MCA acceptance is unknown here (one question per tenant, "
        "bounded concurrency); positive answers are remembered so their next purchase is not asked again."
    )

    def add_arguments(self, parser) -> None:
        parser.add_argument(
            "--concurrency",
            type=int,
            default=None,
            help="Questions in flight at once (default: setting MCA_RECONCILE_CONCURRENCY, 4).",
        )
        parser.add_argument("--no-progress", action="store_true", help="No progress bar (e.g. in cron).")

    def handle(self, *args, concurrency: int | None, no_progress: bool, **options) -> None:
        concurrency = default_concurrency() if concurrency is None else concurrency
        if concurrency < 1:
            raise CommandError("--concurrency must be at least 1.")
        total = len(unknown_synced_accounts())
        with tqdm(total=total, unit="customer", disable=no_progress, file=self.stderr._out, leave=False) as bar:
            summary = reconcile_unknown(concurrency=concurrency, progress=bar.update)
        for line in summary.lines():
            self.stdout.write(line)
        if summary.unreachable:
            raise CommandError(
                f"Partner Center at {settings.PARTNER_CENTER_BASE_URL} could not answer for {summary.unreachable} "
                "customer(s) (see above): nothing was learned about them; run again once it is reachable."
            )
