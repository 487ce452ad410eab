import requests
import tenacity
from django.core.management.base import BaseCommand, CommandError

from demo.accounts import DEMO_PASSWORD, DEMO_USERS, seed_demo_data
from demo.history import seed_history, seed_links
from demo.simulator import seed_simulator
from mca import gate
from mca.reconcile import reconcile_unknown


class Command(BaseCommand):
    help = "Load the demo CSP, resellers, customers, products, users and acceptance history (idempotent)."

    def add_arguments(self, parser) -> None:
        parser.add_argument("--base-url", default="http://127.0.0.1:8000", help="Printed with the logins.")
        parser.add_argument(
            "--wait-for-server",
            action="store_true",
            help="Wait until --base-url answers first, so the demo history is delivered to its simulator and the "
            "signatories' acceptance links (one pending, one expired) are created there.",
        )

    def handle(self, *args, base_url: str, wait_for_server: bool, **options) -> None:
        base = base_url.rstrip("/")
        if wait_for_server:
            self._wait_for(base + "/")
        accounts = seed_demo_data()
        seed_simulator()
        history = seed_history(accounts)
        # Acceptance links need Microsoft (the simulator served by the server) to answer: only when it does.
        links = seed_links(accounts) if wait_for_server else []
        # Ask Partner Center about the synced customers nobody has asked yet, as `mca_reconcile` does (the same
        # re-check path, in this process): the readiness page then shows what Microsoft says (accepted there, stale,
        # none) instead of "not checked yet", and the open links are looked at (the lapsed one becomes expired).
        rechecked = reconcile_unknown(max_age_days=None) if wait_for_server else None
        gate.refresh_readiness()  # the readiness page counts the demo customers at once, not at the next beat
        self.stdout.write(
            self.style.SUCCESS(
                f"Demo data ready: {len(accounts)} customer accounts, {len(history)} past MCA confirmations, "
                f"{len(links)} acceptance links out."
            )
        )
        if rechecked is not None:
            for line in rechecked.lines():
                self.stdout.write(f"  {line}")
        self.stdout.write("")
        self.stdout.write(f"Logins (password '{DEMO_PASSWORD}' for all):")
        for username, role, org, *_ in DEMO_USERS:
            where = f" — {org}" if org else ""
            self.stdout.write(f"  {username:<12} {role.label}{where}")
        self.stdout.write("")
        for label, path in [
            ("Home", "/"),
            ("Storefront", "/store/"),
            ("White-label storefront", "/store/fabrikam/"),
            ("BSS", "/bss/"),
            ("MCA readiness (BSS)", "/bss/mca/"),
            ("Setup area (admin)", "/admin/"),
            ("API", "/api/v1/"),
            ("API docs (Swagger UI)", "/api/docs/"),
            ("API docs (ReDoc)", "/api/redoc/"),
            ("Partner Center simulator", "/simulator/partner-center/_control/faults"),
        ]:
            self.stdout.write(f"  {label:<26} {base}{path}")

    def _wait_for(self, url: str) -> None:
        try:
            for attempt in tenacity.Retrying(
                stop=tenacity.stop_after_delay(60), wait=tenacity.wait_fixed(0.5), reraise=True
            ):
                with attempt:
                    requests.get(url, timeout=2).raise_for_status()
        except requests.RequestException as error:
            raise CommandError(f"{url} did not answer within 60 s: {error}") from error
