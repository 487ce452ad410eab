"""Report bounces that arrived after a campaign's e-mail went out (the mail system's delivery-status notifications):

    manage.py campaign_bounce lucie@example.com --reason "550 5.1.1 mailbox unknown" [--campaign 12]

A refusal at sending time (SMTP 5xx for the recipient) is recorded by the send itself; this is for the later ones.
"""

from django.core.management.base import BaseCommand, CommandError

from bss.models import Campaign
from bss.services.campaigns import mark_bounced


class Command(BaseCommand):
    help = "Mark the open campaign sends to an e-mail address as bounced (no more reminders)."

    def add_arguments(self, parser):
        parser.add_argument("emails", nargs="+", help="the address(es) that bounced")
        parser.add_argument("--reason", default="", help="what the mail system said")
        parser.add_argument("--campaign", type=int, help="only this campaign (its number)")

    def handle(self, *args, **options):
        campaign = None
        if options["campaign"] is not None:
            campaign = Campaign.objects.filter(pk=options["campaign"]).first()
            if campaign is None:
                raise CommandError(f"No campaign {options['campaign']}.")
        total = 0
        for email in options["emails"]:
            count = mark_bounced(email=email, reason=options["reason"], campaign=campaign)
            self.stdout.write(f"{email}: {count} send(s) marked bounced")
            total += count
        if total == 0:
            raise CommandError("No open campaign send was e-mailed to these addresses.")
