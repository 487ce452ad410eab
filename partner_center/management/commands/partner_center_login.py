"""Obtain the Secure Application Model refresh token for App+User calls, with the device-code flow.

A partner admin runs this once (and again when the refresh token expires), signs in with MFA on another device,
and stores the printed refresh token as PARTNER_CENTER_REFRESH_TOKEN. The token goes to this terminal only, never
to the logs: it is a long-lived secret.
"""

from __future__ import annotations

from typing import Any

import msal
from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from partner_center.auth import USER_IMPERSONATION_SCOPE


class Command(BaseCommand):
    help = (
        "Sign in as a partner admin (device code, MFA) and print the refresh token to store in "
        "PARTNER_CENTER_REFRESH_TOKEN."
    )

    def handle(self, *args: Any, **options: Any) -> None:
        client_id = settings.PARTNER_CENTER_CLIENT_ID
        if not client_id:
            raise CommandError(
                "PARTNER_CENTER_CLIENT_ID is not set: set it to the Entra ID application (client) id of the "
                "Partner Center app before signing in."
            )
        # Without a tenant, any work account may sign in; the partner tenant keeps it to the partner's admins.
        tenant = settings.PARTNER_CENTER_TENANT_ID or "organizations"
        authority = f"{settings.PARTNER_CENTER_AUTHORITY_HOST.rstrip('/')}/{tenant}"
        try:
            app = msal.PublicClientApplication(client_id, authority=authority)
            # MSAL adds offline_access itself, which is what makes Entra ID return a refresh token.
            flow = app.initiate_device_flow(scopes=[USER_IMPERSONATION_SCOPE])
        except Exception as exc:  # discovery or network failure
            raise CommandError(f"Could not start the sign-in with {authority}: {type(exc).__name__}") from None
        if "user_code" not in flow:
            raise CommandError(
                f"Entra ID refused to start the sign-in: {flow.get('error', 'unknown error')}: "
                f"{flow.get('error_description', '')}".rstrip(": ")
            )

        self.stdout.write(flow.get("message") or f"Open {flow['verification_uri']} and enter {flow['user_code']}")
        self.stdout.write("Waiting for the sign-in to complete (sign in as a partner admin, with MFA)...")
        result = app.acquire_token_by_device_flow(flow)
        if not result or "refresh_token" not in result:
            error = (result or {}).get("error", "no refresh token in the answer")
            description = str((result or {}).get("error_description", "")).split("\n", 1)[0]
            raise CommandError(f"Sign-in failed: {error}" + (f": {description}" if description else ""))

        self.stdout.write(self.style.SUCCESS("Signed in."))
        self.stdout.write(
            "Store this refresh token as the PARTNER_CENTER_REFRESH_TOKEN environment variable of every web and "
            "worker process (your secret store, or the .env file next to manage.py for a local setup), then "
            "restart them. Treat it like a password: it is not shown again and not written to any log.\n"
        )
        self.stdout.write(f"PARTNER_CENTER_REFRESH_TOKEN={result['refresh_token']}")
