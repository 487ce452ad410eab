"""Issue 19's "Done when", walked at client level: the seeded demo (as `make run` seeds it, against the simulator
served over HTTP) shows its customers in every MCA state on the readiness page, and a campaign for the stale
customer e-mails its link and ends accepted once the signatory accepts on the simulator's page."""

from __future__ import annotations

import io
import re

import requests
from django.core.management import call_command
from django.urls import reverse

from bss.choices import CampaignSendState
from bss.models import Account, Campaign
from bss.services import campaigns
from mca.models import Attestation
from mca.state import McaState

EXPECTED = {
    "Adventure Works": McaState.ACCEPTED,  # Partner Center reports its 2024 confirmation (asked by the seed)
    "Fourth Coffee": McaState.STALE,  # only a 2021 confirmation at Partner Center, before the refresh
    "Litware": McaState.REQUIRED,  # synced, nothing at Partner Center
    "Coho Winery": McaState.EXPIRED,  # its signatory's link lapsed at the simulator
    "Alpine Ski House": McaState.PENDING,  # its signatory's link is out
}


def test_make_run_demo_shows_every_state_and_a_campaign_for_the_stale_customer_ends_accepted(
    pc_simulator, live_server, enhanced, settings, demo_user, client, mailoutbox
):
    settings.PARTNER_CENTER_RETRY_BUDGET = 1.5
    settings.PARTNER_CENTER_READ_TIMEOUT = 2.0
    out = io.StringIO()
    call_command("seed_demo", "--base-url", live_server.url, "--wait-for-server", stdout=out)
    assert "Errors: 0" in out.getvalue()

    client.force_login(demo_user("bss"))
    page = client.get(reverse("bss:readiness"))
    assert page.status_code == 200
    counts = page.context["counts"].by_state
    assert {code: counts.get(code, 0) > 0 for code in McaState.values} == {
        **{code: True for code in McaState.values},
        McaState.UNKNOWN: False,  # every synced demo customer was asked: none is "not checked yet"
    }
    shown = {row.account.name: row.state.code for row in page.context["rows"]}
    assert {name: shown[name] for name in EXPECTED} == EXPECTED
    assert not any(state == McaState.UNKNOWN for state in shown.values())

    fourth_coffee = Account.objects.get(name="Fourth Coffee")
    started = client.post(
        reverse("bss:campaign-new"),
        {
            "name": "Stale customers",
            "accounts": str(fourth_coffee.pk),
            "states": [McaState.STALE],
            "authority_confirmed": "on",
        },
    )
    assert started.status_code == 302
    campaign = Campaign.objects.get(name="Stale customers")
    row = campaign.sends.get()
    assert (row.account, row.state) == (fourth_coffee, CampaignSendState.SENT)
    [email] = [message for message in mailoutbox if message.to == ["fiona@fourthcoffee.example"]]
    link = Attestation.objects.get(pk=row.attestation_pk)
    assert link.acceptance_url and link.acceptance_url in email.body

    # The signatory accepts on Microsoft's (the simulator's) page. Nothing has polled yet, so the sweep settles
    # nothing; the campaign page's "Check now" (what `make run`, which has no beat, offers) asks Microsoft.
    assert requests.post(link.acceptance_url, timeout=10).status_code == 200
    campaigns.sweep()
    row.refresh_from_db()
    assert row.state == CampaignSendState.SENT
    checked = client.post(reverse("bss:campaign-check", args=[campaign.pk]))
    assert checked.status_code == 302

    row.refresh_from_db()
    assert row.state == CampaignSendState.ACCEPTED
    detail = client.get(reverse("bss:campaign-detail", args=[campaign.pk])).content.decode()
    assert re.search(r"<dt>Accepted</dt><dd>1\b", detail)
    page = client.get(reverse("bss:readiness"), {"q": "Fourth Coffee"})
    assert [(r.account.name, r.state.code) for r in page.context["rows"]] == [("Fourth Coffee", McaState.ACCEPTED)]


def test_check_now_on_another_organisations_campaign_is_refused(demo, demo_user, client):
    """A reseller's staff cannot make Microsoft be asked about the CSP's campaign (nor learn that it exists)."""
    csp_campaign = Campaign.objects.create(name="CSP", created_by=demo_user("bss"), reminder_days=3)
    client.force_login(demo_user("wl-bss"))
    assert client.post(reverse("bss:campaign-check", args=[csp_campaign.pk])).status_code == 404
    client.force_login(demo_user("reseller"))  # not BSS staff at all
    assert client.post(reverse("bss:campaign-check", args=[csp_campaign.pk])).status_code == 403
