from django.core.management.base import BaseCommand, CommandError

from mca.checkpoints import CheckpointRefused
from mca.verify import write_checkpoint


class Command(BaseCommand):
    help = (
        "Sign a checkpoint of the acceptance log's head (sequence, head hash, time) and write it to the checkpoint "
        "storage, after verifying the chain from the previous checkpoint. The application does this within "
        "MCA_CHECKPOINT_MAX_LAG_SECONDS of every new record, and beat every MCA_CHECKPOINT_SECONDS."
    )

    def add_arguments(self, parser) -> None:
        parser.add_argument(
            "--force", action="store_true", help="Write one even when the head has not moved since the last."
        )
        parser.add_argument(
            "--adopt",
            action="store_true",
            help="Sign the first checkpoint of a log whose records are older than MCA_CHECKPOINT_OVERDUE_SECONDS "
            "(a log that never had checkpoints, or a new storage). Without it, a log with old records and no "
            "checkpoint is refused: its checkpoints may have been deleted to hide a rewrite.",
        )

    def handle(self, *args, force: bool, adopt: bool, **options) -> None:
        try:
            written = write_checkpoint(force=force, adopt=adopt)
        except CheckpointRefused as refused:
            raise CommandError(str(refused)) from refused
        if written.checkpoint is None:
            where = f"#{written.previous.sequence}" if written.previous else "an empty log"
            self.stdout.write(f"No new checkpoint: the head has not moved since the last one ({where}).")
            return
        checkpoint = written.checkpoint
        self.stdout.write(
            self.style.SUCCESS(
                f"Checkpoint at #{checkpoint.sequence} (head {checkpoint.head_hash[:16]}…, {checkpoint.time}, key "
                f"{checkpoint.key_id}) written to {checkpoint.name}; {written.verified} record(s) verified since "
                + (f"#{written.previous.sequence}." if written.previous else "the start.")
            )
        )
