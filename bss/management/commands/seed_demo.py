from django.core.management.base import BaseCommand

from bss.demo import DEMO_PASSWORD, DEMO_USERS, seed_demo_data
from partner_center.simulator.demo import seed_simulator


class Command(BaseCommand):
    help = "Load the demo CSP, resellers, customers, products and users (idempotent)."

    def add_arguments(self, parser) -> None:
        parser.add_argument("--base-url", default="http://127.0.0.1:8000", help="Printed with the logins.")

    def handle(self, *args, base_url: str, **options) -> None:
        accounts = seed_demo_data()
        seed_simulator()
        self.stdout.write(self.style.SUCCESS(f"Demo data ready: {len(accounts)} customer accounts."))
        self.stdout.write("")
        self.stdout.write(f"Logins (password '{DEMO_PASSWORD}' for all):")
        for username, role, org, *_ in DEMO_USERS:
            where = f" — {org}" if org else ""
            self.stdout.write(f"  {username:<12} {role.label}{where}")
        self.stdout.write("")
        base = base_url.rstrip("/")
        for label, path in [
            ("Home", "/"),
            ("Storefront", "/store/"),
            ("White-label storefront", "/store/fabrikam/"),
            ("BSS", "/bss/"),
            ("Setup area (admin)", "/admin/"),
            ("API docs", "/api/docs/"),
        ]:
            self.stdout.write(f"  {label:<24} {base}{path}")
