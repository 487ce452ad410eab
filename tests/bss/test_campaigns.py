"""Acceptance campaigns (issue 19, item 4): each signatory gets its link once, in its language; reminders after N
days; expired links re-issued; bounces; progress; and a reseller's staff kept to their own customers."""

from __future__ import annotations

import smtplib
from datetime import timedelta

import pytest
import time_machine
from django.core.exceptions import PermissionDenied
from django.urls import reverse
from django.utils import timezone

from bss.choices import CampaignSendState, SignatorySource
from bss.models import Account, Campaign, CampaignSend, Contact
from bss.services import campaigns
from mca import gate
from mca.choices import RecordEvent
from mca.models import AcceptanceRecord, Attestation


@pytest.fixture
def live(pc_simulator, demo, enhanced, settings):
    settings.PARTNER_CENTER_RETRY_BUDGET = 1.5
    settings.PARTNER_CENTER_READ_TIMEOUT = 2.0
    return demo


def _start(user, accounts, **values):
    return campaigns.start_campaign(
        actor=user,
        name=values.pop("name", "Re-accept the MCA"),
        authority_confirmed=True,
        account_ids=[account.pk for account in accounts],
        **values,
    )


def _links(pc_simulator, email: str) -> int:
    return len(pc_simulator.attestations(email=email))


def test_each_link_sent_once_in_the_customers_language_run_twice_or_delivered_twice(
    live, demo_user, pc_simulator, mailoutbox
):
    bss = demo_user("bss")
    wide_world, lucerne = live["wide-world"], live["lucerne"]
    added = _start(bss, [wide_world, lucerne])
    assert sorted(added.queued) == sorted([wide_world.pk, lucerne.pk])
    rows = {row.account_id: row for row in added.campaign.sends.all()}
    assert {row.state for row in rows.values()} == {CampaignSendState.SENT}
    assert rows[wide_world.pk].signatory_source == SignatorySource.CONTACT

    by_address = {message.to[0]: message for message in mailoutbox}
    german, french = by_address["wolfgang@wideworld.example"], by_address["lucie@lucernepublishing.example"]
    assert german.subject == "Bitte akzeptieren Sie den Microsoft-Kundenvertrag für Wide World Importers"
    assert german.body.startswith("Guten Tag Wolfgang Weber,") and "Ihr Microsoft-Partner bittet Sie" in german.body
    assert french.subject == "Veuillez accepter le Contrat client Microsoft pour Lucerne Publishing"
    link = Attestation.objects.get(pk=rows[lucerne.pk].attestation_pk).acceptance_url
    assert link and link in french.body

    # The task delivered again, and the campaign extended with the same accounts: nothing more goes out.
    assert campaigns.send_one(rows[wide_world.pk].pk) is None
    again = campaigns.extend_campaign(actor=bss, campaign=added.campaign, account_ids=[wide_world.pk, lucerne.pk])
    assert again.queued == [] and sorted(again.not_eligible) == sorted([wide_world.pk, lucerne.pk])
    assert len(mailoutbox) == 2
    assert _links(pc_simulator, "wolfgang@wideworld.example") == 1
    assert _links(pc_simulator, "lucie@lucernepublishing.example") == 1
    events = list(
        AcceptanceRecord.objects.filter(account=wide_world).order_by("sequence").values_list("event", flat=True)
    )
    assert events == [RecordEvent.FORM_SUBMITTED, RecordEvent.ATTESTATION_CREATED, RecordEvent.LINK_SENT]


def test_a_worker_dying_mid_send_resumes_without_a_second_link_or_e_mail(
    live, demo_user, pc_simulator, mailoutbox, monkeypatch
):
    tailspin = live["tailspin"]
    real_email = campaigns._email

    def dies(*args, **kwargs):
        raise SystemExit("worker killed after Microsoft issued the link, before the e-mail")

    monkeypatch.setattr(campaigns, "_email", dies)
    with pytest.raises(SystemExit):
        _start(demo_user("wl-bss"), [tailspin])
    row = CampaignSend.objects.get(account=tailspin)
    assert row.state == CampaignSendState.SENDING and mailoutbox == []
    monkeypatch.setattr(campaigns, "_email", real_email)

    assert campaigns.send_one(row.pk) is None  # the dead worker's lease still holds it
    CampaignSend.objects.filter(pk=row.pk).update(
        lease_until=timezone.now() - timedelta(seconds=1), updated_at=timezone.now() - timedelta(minutes=5)
    )
    assert campaigns.due_send_ids() == [row.pk]
    assert campaigns.sweep()["queued"] == 1  # published again (run at once here: eager tasks)
    row.refresh_from_db()
    assert row.state == CampaignSendState.SENT and campaigns.due_send_ids() == []
    assert campaigns.send_one(row.pk) is None
    assert len(mailoutbox) == 1 and mailoutbox[0].subject.startswith("Veuillez accepter")
    assert _links(pc_simulator, "thomas@tailspin.example") == 1  # the submission was replayed by its key

    # Killed during the mail server hand-off: it may have gone out, so it is never sent a second time.
    CampaignSend.objects.filter(pk=row.pk).update(
        state=CampaignSendState.SENDING, email_started_at=timezone.now(), lease_until=None
    )
    assert campaigns.send_one(row.pk) == CampaignSendState.SENT
    assert len(mailoutbox) == 1


def test_reminders_after_n_days_once_each_and_expired_links_reissued(live, demo_user, pc_simulator, mailoutbox):
    wide_world = live["wide-world"]
    added = _start(demo_user("bss"), [wide_world], reminder_days=3)
    row = added.campaign.sends.get()
    first_link = Attestation.objects.get(pk=row.attestation_pk)
    assert len(mailoutbox) == 1

    with time_machine.travel(timezone.now() + timedelta(days=2, hours=23), tick=False):
        assert campaigns.send_due_reminders() == 0
    with time_machine.travel(timezone.now() + timedelta(days=3, minutes=1), tick=False):
        assert campaigns.send_due_reminders() == 1
        assert campaigns.send_due_reminders() == 0  # not again until another 3 days
    assert mailoutbox[1].subject.startswith("Erinnerung:") and first_link.acceptance_url in mailoutbox[1].body

    pc_simulator.expire_attestation(first_link.attestation_id)
    gate.check_now(wide_world)  # the poller learns that Microsoft's link expired
    assert campaigns.sweep()["progressed"] == 1
    row.refresh_from_db()
    assert row.state == CampaignSendState.SENT and row.reissues == 1
    new_link = Attestation.objects.get(pk=row.attestation_pk)
    assert new_link.pk != first_link.pk and new_link.acceptance_url in mailoutbox[2].body
    assert mailoutbox[2].subject.startswith("Ein neuer Link")
    assert _links(pc_simulator, "wolfgang@wideworld.example") == 2
    assert campaigns.sweep() == {"progressed": 0, "reminded": 0, "queued": 0}
    assert len(mailoutbox) == 3


def test_progress_counts_sent_accepted_bounced_failed_and_needs_a_signatory(
    live, demo_user, pc_simulator, mailoutbox, monkeypatch
):
    wide_world, lucerne, tailspin = live["wide-world"], live["lucerne"], live["tailspin"]
    Contact.objects.filter(account=tailspin).update(email="not an address")
    nobody = Account.objects.create(name="Nod Publishers", language="fr-FR")  # no contact, nothing in the log
    real_send_mail = campaigns.notify.send_mail

    def refuse_lucie(subject, body, sender, to):
        if to == ["lucie@lucernepublishing.example"]:
            raise smtplib.SMTPRecipientsRefused({to[0]: (550, b"No such user")})
        return real_send_mail(subject, body, sender, to)

    monkeypatch.setattr(campaigns.notify, "send_mail", refuse_lucie)
    added = _start(demo_user("bss"), [wide_world, lucerne, tailspin, nobody])
    assert added.needs_signatory == [nobody.pk]
    campaign = added.campaign
    wide_world_link = Attestation.objects.get(pk=campaign.sends.get(account=wide_world).attestation_pk)
    pc_simulator.accept_attestation(wide_world_link.attestation_id)
    gate.check_now(wide_world)
    assert campaigns.sync_progress() == 1

    counts = campaigns.progress(campaign)
    assert [counts[state] for state in ("accepted", "bounced", "failed", "needs_signatory", "sent")] == [1, 1, 1, 1, 0]
    assert counts.total == 4 and counts.links_sent == 1 and counts.links_expired == 0 and counts.emails == 1
    assert "signatory_email" in campaign.sends.get(account=tailspin).last_error
    skipped = campaign.sends.get(account=nobody)
    assert skipped.attempts == 0 and not skipped.signatory_email and len(mailoutbox) == 1


def test_a_bounce_reported_later_stops_reminders(live, demo_user, mailoutbox):
    added = _start(demo_user("bss"), [live["lucerne"]], reminder_days=1)
    assert campaigns.mark_bounced(email="LUCIE@lucernepublishing.example", reason="550 mailbox unknown") == 1
    row = added.campaign.sends.get()
    assert row.state == CampaignSendState.BOUNCED and "550" in row.last_error
    with time_machine.travel(timezone.now() + timedelta(days=2), tick=False):
        assert campaigns.send_due_reminders() == 0
    assert campaigns.progress(added.campaign)["bounced"] == 1 and len(mailoutbox) == 1


@pytest.mark.django_db
def test_a_resellers_staff_cannot_see_start_or_extend_a_campaign_over_anothers_customers(demo, demo_user, client):
    wl_bss, bss = demo_user("wl-bss"), demo_user("bss")
    contoso_customer = demo["wide-world"]  # Contoso's, not Fabrikam's
    with pytest.raises(campaigns.CampaignInvalid) as refused:
        _start(wl_bss, [demo["tailspin"], contoso_customer])
    assert str(contoso_customer.pk) in str(refused.value)
    with pytest.raises(campaigns.CampaignInvalid):
        campaigns.start_campaign(
            actor=wl_bss, name="All Contoso", authority_confirmed=True, reseller=contoso_customer.reseller
        )
    assert not Campaign.objects.exists() and not CampaignSend.objects.exists()

    csp_campaign = Campaign.objects.create(name="CSP", created_by=bss, reminder_days=3)
    fabrikam_campaign = Campaign.objects.create(
        name="Fabrikam", created_by=wl_bss, reseller=demo["tailspin"].reseller, reminder_days=3
    )
    assert list(campaigns.campaigns_visible_to(wl_bss)) == [fabrikam_campaign]
    with pytest.raises(PermissionDenied):
        campaigns.extend_campaign(actor=wl_bss, campaign=csp_campaign, account_ids=[demo["tailspin"].pk])
    with pytest.raises(campaigns.CampaignInvalid):
        campaigns.extend_campaign(actor=wl_bss, campaign=fabrikam_campaign, account_ids=[contoso_customer.pk])
    assert not CampaignSend.objects.exists()

    client.force_login(wl_bss)
    assert client.get(reverse("bss:campaign-detail", args=[csp_campaign.pk])).status_code == 404
    response = client.post(
        reverse("bss:campaign-new"),
        {"name": "Sneaky", "accounts": str(contoso_customer.pk), "states": ["required"], "authority_confirmed": "on"},
    )
    assert response.status_code == 400 and str(contoso_customer.pk) in response.content.decode()
    assert Campaign.objects.count() == 2
    client.force_login(demo_user("reseller"))  # a reseller user, not BSS staff
    assert client.get(reverse("bss:campaign-list")).status_code == 403


@pytest.mark.django_db
def test_campaign_pages_show_progress_in_a_fixed_number_of_queries(demo, demo_user, client, django_assert_num_queries):
    bss = demo_user("bss")
    campaign = Campaign.objects.create(name="Stale customers", created_by=bss, reminder_days=3)
    states = [CampaignSendState.SENT, CampaignSendState.ACCEPTED, CampaignSendState.BOUNCED, CampaignSendState.FAILED]
    for key, state in zip(["wide-world", "lucerne", "tailspin", "litware"], states, strict=True):
        CampaignSend.objects.create(campaign=campaign, account=demo[key], state=state, reissues=1)
    client.force_login(bss)
    client.get(reverse("bss:campaign-list"))  # the session and permission caches warm
    with django_assert_num_queries(9):
        page = client.get(reverse("bss:campaign-detail", args=[campaign.pk])).content.decode()
    assert "<dt>Sent</dt><dd>2 (0 e-mail(s), 0 reminder(s))</dd>" in page
    assert "<dt>Expired</dt><dd>4 (4 re-issued)</dd>" in page and "<dt>Bounced</dt><dd>1</dd>" in page
    Campaign.objects.create(name="Second campaign", created_by=bss, reminder_days=3)
    with django_assert_num_queries(6):  # the same for any number of campaigns
        listing = client.get(reverse("bss:campaign-list")).content.decode()
    assert "Stale customers" in listing and "Second campaign" in listing
