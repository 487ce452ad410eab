from django.core.management.base import BaseCommand

from bss.services.digest import send_readiness_digest


class Command(BaseCommand):
    help = (
        "E-mail CSP staff and each reseller's staff the customers whose next order or change Microsoft would refuse "
        "for lack of a current MCA acceptance (what beat sends daily)."
    )

    def add_arguments(self, parser) -> None:
        parser.add_argument(
            "--no-refresh", action="store_true", help="Use the stored readiness as it is (skip rewriting it first)."
        )

    def handle(self, *args, no_refresh: bool, **options) -> None:
        sent = send_readiness_digest(refresh=not no_refresh)
        self.stdout.write(self.style.SUCCESS(f"Readiness digest: {sent} e-mail(s) sent."))
