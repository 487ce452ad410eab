from django.core.management.base import BaseCommand, CommandError

from mca.checkpoints import CheckpointRefused
from mca.verify import write_checkpoint


class Command(BaseCommand):
    help = (
        "Sign a checkpoint of the acceptance log's head (sequence, head hash, time) and write it to the checkpoint "
        "storage, after verifying the chain from the previous checkpoint. Celery beat does this every "
        "MCA_CHECKPOINT_SECONDS."
    )

    def add_arguments(self, parser) -> None:
        parser.add_argument(
            "--force", action="store_true", help="Write one even when the head has not moved since the last."
        )

    def handle(self, *args, force: bool, **options) -> None:
        try:
            written = write_checkpoint(force=force)
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
