import time

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from tqdm import tqdm

from mca.models import RecheckRun
from mca.recheck import candidate_ids, default_max_age_days, progress_line, resume_run, start_run
from mca.reconcile import default_concurrency, reconcile_unknown


class Command(BaseCommand):
    help = (
        "Ask Partner Center about synced customers whose MCA acceptance is unknown here, or was verified there longer "
        "ago than --max-age-days (one question per tenant). In this process with bounded concurrency, or with "
        "--workers fanned out in chunks to the Celery workers, all sharing one rate limit; positive answers are "
        "remembered so their next purchase is not asked again."
    )

    def add_arguments(self, parser) -> None:
        parser.add_argument(
            "--concurrency",
            type=int,
            default=None,
            help="In this process: questions in flight at once (default: setting MCA_RECONCILE_CONCURRENCY, 4).",
        )
        parser.add_argument(
            "--max-age-days",
            type=float,
            default=None,
            help="Also re-check customers verified at Partner Center longer ago than this (default: setting "
            "MCA_RECHECK_MAX_AGE_DAYS; 0: only the unknown ones).",
        )
        parser.add_argument(
            "--workers", action="store_true", help="Queue the run in chunks for the Celery workers and follow it."
        )
        parser.add_argument("--chunk-size", type=int, default=None, help="With --workers: accounts per chunk task.")
        parser.add_argument("--no-wait", action="store_true", help="With --workers: queue the run and return.")
        parser.add_argument("--resume", type=int, metavar="RUN", help="Queue the open accounts of run RUN again.")
        parser.add_argument("--no-progress", action="store_true", help="No progress bar (e.g. in cron).")

    def handle(self, *args, concurrency: int | None, no_progress: bool, **options) -> None:
        max_age = options["max_age_days"]
        max_age = default_max_age_days() if max_age is None else (max_age if max_age > 0 else None)
        if options["resume"] is not None or options["workers"]:
            self._on_workers(max_age, no_progress=no_progress, **options)
            return
        concurrency = default_concurrency() if concurrency is None else concurrency
        if concurrency < 1:
            raise CommandError("--concurrency must be at least 1.")
        total = len(candidate_ids(max_age))
        with tqdm(total=total, unit="customer", disable=no_progress, file=self.stderr._out, leave=False) as bar:
            summary = reconcile_unknown(concurrency=concurrency, progress=bar.update, max_age_days=max_age)
        for line in summary.lines():
            self.stdout.write(line)
        if summary.unreachable:
            raise CommandError(
                f"Partner Center at {settings.PARTNER_CENTER_BASE_URL} could not answer for {summary.unreachable} "
                "customer(s) (see above): nothing was learned about them; run again once it is reachable."
            )

    def _on_workers(self, max_age: float | None, *, no_progress: bool, **options) -> None:
        if options["chunk_size"] is not None and options["chunk_size"] < 1:
            raise CommandError("--chunk-size must be at least 1.")
        if options["resume"] is not None:
            run = RecheckRun.objects.filter(pk=options["resume"]).first()
            if run is None:
                raise CommandError(f"No re-check run {options['resume']}.")
            queued = resume_run(run, options["chunk_size"])
        else:
            run, queued = start_run(source="command", max_age_days=max_age, chunk_size=options["chunk_size"])
        self.stdout.write(f"Re-check {run.pk}: {run.planned} customer(s) planned, {queued} chunk task(s) queued")
        if options["no_wait"]:
            return
        last = ""
        while True:
            run.refresh_from_db()
            line = progress_line(run)
            if line != last and not no_progress:
                self.stdout.write(line)
                last = line
            if run.finished_at is not None:
                break
            time.sleep(2)
        if no_progress:
            self.stdout.write(progress_line(run))
