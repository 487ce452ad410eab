from django.core.management.base import BaseCommand

from mca.digest import send_checkpoint_digest


class Command(BaseCommand):
    help = (
        "E-mail the acceptance log's newest signed checkpoint and its public key to MCA_CHECKPOINT_WITNESS_EMAILS "
        "(or --to), so people outside the CSP's systems keep a copy. Beat sends it daily."
    )

    def add_arguments(self, parser) -> None:
        parser.add_argument("--to", action="append", metavar="EMAIL", help="send to this address instead (repeat)")

    def handle(self, *args, to: list[str] | None, **options) -> None:
        sent = send_checkpoint_digest(to)
        if not sent:
            self.stdout.write("MCA_CHECKPOINT_WITNESS_EMAILS is empty: no digest sent.")
            return
        self.stdout.write(self.style.SUCCESS(f"Checkpoint digest sent to {sent} address(es)."))
