from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from bss.models import Account
from mca.export import export_evidence_pack


class Command(BaseCommand):
    help = (
        "Export the MCA acceptance evidence of one customer (R14): every record of its Microsoft customer, the "
        "chain check, Partner Center's delivery answers and a README, into a new folder."
    )

    def add_arguments(self, parser) -> None:
        parser.add_argument("--account", type=int, required=True, help="The BSS account id.")
        parser.add_argument("--out", default=".", help="Directory to create the evidence folder in (default: .).")

    def handle(self, *args, account: int, out: str, **options) -> None:
        customer = Account.objects.select_related("reseller").filter(pk=account).first()
        if customer is None:
            raise CommandError(f"No account with id {account}.")
        out_dir = Path(out)
        if out_dir.exists() and not out_dir.is_dir():
            raise CommandError(f"--out {out} is not a directory.")
        folder = export_evidence_pack(customer, out_dir)
        self.stdout.write(
            self.style.SUCCESS(f"Evidence for {customer.name} (account {customer.pk}) written to {folder}")
        )
