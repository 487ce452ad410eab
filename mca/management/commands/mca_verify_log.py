import time

from django.core.management.base import BaseCommand, CommandError
from tqdm import tqdm

from mca.checkpoints import (
    find_checkpoint,
    last_verified_checkpoint,
    load_checkpoints,
    newest_covered,
    record_verified,
)
from mca.models import AcceptanceRecord
from mca.verify import verify_chain


class Command(BaseCommand):
    help = (
        "Verify the acceptance log: every record's hash, link and MAC, the end against the chain head, and the log "
        "against every signed checkpoint; exits non-zero naming each break. --incremental starts at the last "
        "checkpoint that verified."
    )

    def add_arguments(self, parser) -> None:
        parser.add_argument("--chunk-size", type=int, default=10_000)
        parser.add_argument("--no-progress", action="store_true", help="No progress bar (e.g. in cron).")
        start = parser.add_mutually_exclusive_group()
        start.add_argument(
            "--incremental",
            action="store_true",
            help="Verify only from the checkpoint the last passing run reached (its signed marker in the checkpoint "
            "storage); the whole log when there is none.",
        )
        start.add_argument(
            "--from-checkpoint",
            metavar="NAME_OR_SEQUENCE",
            help="Verify from this checkpoint (its file name or sequence number) on.",
        )
        parser.add_argument(
            "--no-record",
            action="store_true",
            help="Do not write the 'verified up to' marker after a passing run.",
        )

    def handle(
        self,
        *args,
        chunk_size: int,
        no_progress: bool,
        incremental: bool,
        from_checkpoint: str | None,
        no_record: bool,
        **options,
    ) -> None:
        start = None
        if from_checkpoint:
            try:
                start = find_checkpoint(from_checkpoint)
            except (LookupError, ValueError, OSError) as error:
                raise CommandError(f"--from-checkpoint {from_checkpoint}: {error}") from error
        elif incremental:
            start = last_verified_checkpoint()
            if start is None:
                self.stdout.write("No verified checkpoint yet: verifying the whole log.")
        if start is not None:
            self.stdout.write(f"Verifying from record #{start.sequence}, {start.describe()}.")
        # An estimate is enough for the bar; an exact count would be a second full scan.
        last = AcceptanceRecord.objects.order_by("-sequence").values_list("sequence", flat=True).first() or 0
        total = last - (start.sequence if start else 0)
        started = time.monotonic()
        loaded = load_checkpoints(after=start.sequence if start else 0, start=start)
        with tqdm(total=total, unit="rec", disable=no_progress, file=self.stderr._out, leave=False) as bar:
            result = verify_chain(
                chunk_size=chunk_size,
                progress=bar.update,
                checkpoints=loaded.checkpoints,
                start=start,
            )
        elapsed = time.monotonic() - started
        breaks = list(result.breaks) + [p for p in loaded.problems if p not in result.breaks]
        if breaks:
            others = "".join(f"\n  also: {found}" for found in breaks[1:])
            raise CommandError(
                f"Acceptance log is NOT intact: {breaks[0]}. {result.checked} record(s) before it verified.{others}"
            )
        scope = f"from checkpoint #{start.sequence}" if start else "the whole log"
        self.stdout.write(
            self.style.SUCCESS(
                f"Acceptance log intact: {result.checked} records verified in {elapsed:.2f} s ({scope}, up to "
                f"#{result.last_sequence}); {result.checkpoints_checked} checkpoint(s) checked."
            )
        )
        reached = newest_covered(loaded.checkpoints, result.last_sequence)
        if reached is not None and not no_record and (start is None or reached != start):
            marker = record_verified(reached)
            self.stdout.write(f"Marked verified up to checkpoint #{reached.sequence} ({marker}).")
