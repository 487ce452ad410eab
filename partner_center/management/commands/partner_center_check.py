"""Can the app obtain its Partner Center tokens, and does the App+User token carry MFA? (partner_center.readiness)"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from partner_center.readiness import check_tokens


class Command(BaseCommand):
    help = (
        "Ask for the app-only and the App+User token now and say whether each was obtained and whether the App+User "
        "token carries MFA (Partner Center requires it); the result is also what the BSS banner shows."
    )

    def handle(self, *args: Any, **options: Any) -> None:
        readiness = check_tokens()
        self.stdout.write(f"Partner Center ({readiness.mode}, {settings.PARTNER_CENTER_BASE_URL}):")
        for line in readiness.lines():
            self.stdout.write(f"  {line}")
        if not readiness.ok:
            raise CommandError("Partner Center tokens are not ready: checkouts that need them will fail (see above).")
        self.stdout.write("Tokens ready.")
