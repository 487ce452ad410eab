"""One MCA state per customer (issue 18): the same code, sentence and next action on every page and in the API."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from django.utils import timezone

from bss.choices import Channel
from mca import gate, selectors
from mca.choices import AcceptanceKind, AttestationState
from mca.knowledge import knowledge_key, remember_acceptance
from mca.models import Attestation
from mca.state import McaState, mask_email
from tests.mca.test_enhanced_flow import signatory


@pytest.fixture
def enhanced(settings):
    settings.MCA_ATTESTATION_FLOW = "enhanced"


def _link(demo_user, account, *, expires_in: timedelta | None, state=AttestationState.PENDING) -> Attestation:
    """A link out with the signatory, as Microsoft answered it (no simulator: on_commit never runs in `db` tests)."""
    outcome = gate.submit_acceptance(
        actor=demo_user("bss"),
        account=account,
        data=signatory(company_name=account.name),
        context=gate.ConfirmationContext(channel=Channel.BSS_EXECUTION),
    )
    Attestation.objects.filter(pk=outcome.attestation.pk).update(
        state=state,
        acceptance_url="https://simulator.example/accept/1",
        expires_at=timezone.now() + expires_in if expires_in is not None else None,
    )
    return Attestation.objects.get(pk=outcome.attestation.pk)


def test_each_state_from_what_is_known_here(demo, demo_user, enhanced, settings):
    settings.MCA_ATTESTATION_MIN_DATE = "2023-04-01"
    remember_acceptance(
        key=knowledge_key(demo["blue-yonder"]),
        kind=AcceptanceKind.DIRECT_AT_MICROSOFT,
        accepted_at=datetime(2026, 1, 2, tzinfo=UTC),
        verified=True,
    )
    remember_acceptance(
        key=knowledge_key(demo["proseware"]),
        kind=AcceptanceKind.PARTNER_CENTER_ATTESTATION,
        accepted_at=datetime(2022, 5, 1, tzinfo=UTC),
    )
    _link(demo_user, demo["litware"], expires_in=timedelta(days=3))
    _link(demo_user, demo["adventure-works"], expires_in=timedelta(seconds=-1))
    accounts = [demo[key] for key in ("northwind", "blue-yonder", "proseware", "litware", "adventure-works", "trey")]
    states = gate.states_for(accounts, viewer=demo_user("reseller"))
    codes = {key: states[demo[key].pk].code for key in ("northwind", "blue-yonder", "proseware", "litware")}
    assert codes == {
        "northwind": McaState.REQUIRED,  # not synced, nothing known
        "blue-yonder": McaState.ACCEPTED,
        "proseware": McaState.STALE,  # a partner confirmation before the MCA refresh
        "litware": McaState.PENDING,
    }
    # A pending link past Microsoft's expiresAt is expired at once, before any poll says so.
    assert states[demo["adventure-works"].pk].code == McaState.EXPIRED
    # Synced, nothing known here, and Partner Center not asked yet: a list never asks it.
    assert states[demo["trey"].pk].code == McaState.UNKNOWN
    accepted = states[demo["blue-yonder"].pk]
    assert accepted.accepted_how == "Accepted directly at Microsoft" and accepted.verified_at is not None
    pending = states[demo["litware"].pk]
    assert pending.signatory_name == "Lena Fischer" and pending.signatory_email_masked == "l****@example.com"
    assert "change the signatory" in pending.next_action


def test_the_next_action_fits_the_viewer(demo, demo_user):
    northwind = demo["northwind"]
    for_customer = gate.states_for([northwind], viewer=demo_user("customer"))[northwind.pk]
    for_staff = gate.states_for([northwind], viewer=demo_user("bss"))[northwind.pk]
    assert "your company's signatory" in for_customer.next_action
    assert "executing an order" in for_staff.next_action
    assert for_customer.sentence == for_staff.sentence


def test_an_expired_link_never_says_expired_on_a_future_date(demo, demo_user, enhanced):
    """Microsoft may end a link before the expiry it first announced: the sentence then names no date."""
    litware = demo["litware"]
    _link(demo_user, litware, expires_in=timedelta(days=7), state=AttestationState.EXPIRED)
    decision = gate.check(litware, ["new_purchase"])
    assert decision.reason_code == "link_expired"
    assert " on " not in decision.reason and "expired" in decision.reason
    state = gate.state_from_decision(decision, viewer=demo_user("bss"))
    assert state.code == McaState.EXPIRED and state.label == "Expired"


def test_a_link_past_its_expiry_is_expired_in_the_gate_at_once(demo, demo_user, enhanced):
    litware = demo["litware"]
    _link(demo_user, litware, expires_in=timedelta(seconds=-5))
    state = gate.state_for(litware, viewer=demo_user("bss"))
    assert state.code == McaState.EXPIRED
    assert "expired on" in state.sentence  # the expiry is in the past: it is named


def test_a_replaced_link_is_not_listed_and_an_older_expired_one_does_not_come_back(demo, demo_user, enhanced):
    litware = demo["litware"]
    old = _link(demo_user, litware, expires_in=timedelta(seconds=-5), state=AttestationState.EXPIRED)
    new = _link(demo_user, litware, expires_in=timedelta(days=1))
    listed = list(selectors.open_attestations_visible_to(demo_user("bss")).filter(account=litware))
    assert listed == [new] and old not in listed
    Attestation.objects.filter(pk=new.pk).update(state=AttestationState.SUPERSEDED)
    # The newest link was cancelled: nothing is out, and the old expired link is not what the gate reports.
    assert gate.check(litware, ["new_purchase"]).pending is None
    assert gate.states_for([litware], viewer=None)[litware.pk].code == McaState.UNKNOWN


def test_links_are_not_listed_once_the_acceptance_is_known(demo, demo_user, enhanced):
    litware = demo["litware"]
    _link(demo_user, litware, expires_in=timedelta(seconds=-5), state=AttestationState.EXPIRED)
    assert selectors.open_attestations_visible_to(demo_user("reseller")).filter(account=litware).exists()
    remember_acceptance(key=knowledge_key(litware), kind=AcceptanceKind.DIRECT_AT_MICROSOFT, accepted_at=timezone.now())
    assert not selectors.open_attestations_visible_to(demo_user("reseller")).filter(account=litware).exists()


def test_partner_centers_remembered_answer_makes_a_list_say_required(pc_simulator, demo, demo_user):
    from mca.status import acceptance_status

    trey = demo["trey"]
    acceptance_status(trey)  # the simulator has no acceptance for Trey Research: "not accepted" is remembered
    assert gate.states_for([trey], viewer=None)[trey.pk].code == McaState.REQUIRED


def test_list_states_cost_two_queries_whatever_the_number_of_customers(demo, demo_user, enhanced):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from bss.models import Account

    viewer = demo_user("bss")
    _link(demo_user, demo["litware"], expires_in=timedelta(days=1))
    few = list(Account.objects.all()[:2])
    every = list(Account.objects.all())
    assert len(every) > 10
    for accounts in (few, every):
        with CaptureQueriesContext(connection) as queries:
            gate.states_for(accounts, viewer=viewer)
        assert len(queries) == 2


@pytest.mark.parametrize(
    ("email", "masked"),
    [("nancy@northwind.example", "n****@northwind.example"), ("", ""), ("broken", "****")],
)
def test_masked_addresses(email, masked):
    assert mask_email(email) == masked
