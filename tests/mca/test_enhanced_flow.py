"""Microsoft's enhanced attestation end to end, through the gate, against the simulator over HTTP."""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest
import requests
import time_machine
from django.core.exceptions import PermissionDenied
from django.utils import timezone

from bss.choices import Channel, Operation
from mca import gate
from mca.attestation import AcceptanceInvalid
from mca.choices import AttestationState, DeliveryState, EvidenceClass, ReasonCode, RecordEvent
from mca.models import AcceptanceDelivery, AcceptanceRecord, Attestation
from mca.signals import acceptance_known
from mca.verify import verify_chain
from partner_center.client import get_client
from partner_center.errors import McaAcceptanceRequired
from partner_center.types import OrderLineItem
from tests.mca.helpers import context

NEW = [Operation.NEW_PURCHASE]


def signatory(**overrides) -> dict:
    data = {
        "signatory_first_name": "Lena",
        "signatory_last_name": "Fischer",
        "signatory_email": "lena.fischer@example.com",
        "signatory_phone": "",
        "company_name": "Litware",
        "authority_confirmed": "on",
    }
    data.update(overrides)
    return data


def ctx(**overrides) -> gate.ConfirmationContext:
    return gate.ConfirmationContext(channel=overrides.pop("channel", Channel.BSS_EXECUTION), **overrides)


@pytest.fixture
def demo_live(pc_simulator, demo, enhanced, settings):
    settings.PARTNER_CENTER_RETRY_BUDGET = 1.5
    settings.PARTNER_CENTER_READ_TIMEOUT = 0.5
    return demo


def _events(account) -> list[str]:
    return list(AcceptanceRecord.objects.filter(account=account).order_by("sequence").values_list("event", flat=True))


def _place_order(tenant_id: str):
    return get_client().create_order(tenant_id, [OrderLineItem(offer_id="CFQ7TTC0LH18", quantity=1)], str(uuid.uuid4()))


def test_reseller_attests_signatory_accepts_agreement_created_and_orders_allowed(demo_live, demo_user, pc_simulator):
    litware = demo_live["litware"]
    tenant = str(litware.partner_center_tenant_id)
    with pytest.raises(McaAcceptanceRequired):
        _place_order(tenant)
    assert gate.check(litware, NEW).show_form

    heard = []

    def listener(sender, key, accounts, **kwargs):
        heard.append(sorted(accounts.values_list("pk", flat=True)))

    acceptance_known.connect(listener)
    try:
        outcome = gate.submit_acceptance(actor=demo_user("bss"), account=litware, data=signatory(), context=ctx())
        assert outcome.kind == gate.OutcomeKind.PENDING_SIGNATORY
        assert outcome.link.startswith(pc_simulator.base_url) and outcome.expires_at is not None
        decision = gate.check(litware, NEW)
        assert decision.needed and decision.waiting and not decision.show_form
        assert decision.reason_code == ReasonCode.PENDING_SIGNATORY
        assert "waiting for Lena Fischer to accept at Microsoft" in decision.reason
        assert heard == []

        # The signatory accepts on Microsoft's (simulated) page: a POST without any login.
        page = requests.get(outcome.link, timeout=10)
        assert page.status_code == 200 and "Lena" in page.text
        assert requests.post(outcome.link, timeout=10).status_code == 200

        assert gate.check_now(litware).needed is False
    finally:
        acceptance_known.disconnect(listener)

    assert heard == [[litware.pk]]
    assert _events(litware) == [
        RecordEvent.FORM_SUBMITTED,
        RecordEvent.ATTESTATION_CREATED,
        RecordEvent.SIGNATORY_ACCEPTED,
        RecordEvent.AGREEMENT_CREATED,
    ]
    accepted = AcceptanceRecord.objects.get(account=litware, event=RecordEvent.SIGNATORY_ACCEPTED)
    assert accepted.evidence_class == EvidenceClass.SIGNATORY_AT_MICROSOFT
    assert AcceptanceDelivery.objects.get(record=accepted).state == DeliveryState.SENT
    assert verify_chain().ok
    assert _place_order(tenant).order_id


def test_customer_accepts_at_checkout_before_it_has_a_tenant(demo_live, demo_user, pc_simulator):
    northwind = demo_live["northwind"]
    assert northwind.partner_center_tenant_id is None
    customer = demo_user("customer")
    form = gate.form_for(customer, northwind)
    assert "I am authorised to accept" in str(form["authority_confirmed"].label)
    outcome = gate.submit_acceptance(
        actor=customer,
        account=northwind,
        data=signatory(company_name="Northwind Traders", signatory_email=customer.email or "it@northwind.example"),
        context=ctx(channel=Channel.STOREFRONT),
    )
    attestation_id = outcome.attestation.attestation_id
    pc_simulator.accept_attestation(attestation_id)
    assert not gate.check_now(northwind).needed

    accepted = AcceptanceRecord.objects.get(account=northwind, event=RecordEvent.SIGNATORY_ACCEPTED)
    assert AcceptanceDelivery.objects.get(record=accepted).state == DeliveryState.WAITING_FOR_CUSTOMER

    # Provisioning creates the customer, sets the tenant through the gate, and delivers before any order.
    tenant = str(uuid.uuid4())
    pc_simulator.add_customer(tenant, company_name="Northwind Traders")
    gate.set_tenant(northwind, tenant)
    assert gate.prepare_for_orders(northwind)
    assert not gate.check(northwind, NEW).needed
    assert _events(northwind)[-1] == RecordEvent.AGREEMENT_CREATED
    assert _place_order(tenant).order_id


def test_expired_link_is_reported_and_a_new_one_issued(demo_live, demo_user, pc_simulator):
    litware = demo_live["litware"]
    bss = demo_user("bss")
    first = gate.submit_acceptance(actor=bss, account=litware, data=signatory(), context=ctx())
    pc_simulator.expire_attestation(first.attestation.attestation_id)
    decision = gate.check_now(litware)
    assert decision.needed and decision.reason_code == ReasonCode.LINK_EXPIRED
    assert decision.pending.expired and "send a new one" in decision.reason

    second = gate.resend_link(actor=bss, account=litware, context=ctx())
    assert second.attestation.attestation_id != first.attestation.attestation_id
    assert gate.check(litware, NEW).waiting
    assert Attestation.objects.get(pk=first.attestation.pk).state == AttestationState.EXPIRED
    assert _events(litware) == [
        RecordEvent.FORM_SUBMITTED,
        RecordEvent.ATTESTATION_CREATED,
        RecordEvent.LINK_EXPIRED,
        RecordEvent.LINK_REISSUED,
        RecordEvent.ATTESTATION_CREATED,
    ]
    pc_simulator.accept_attestation(second.attestation.attestation_id)
    assert not gate.check_now(litware).needed


def test_partner_center_down_while_polling_loses_nothing(demo_live, demo_user, pc_simulator):
    litware = demo_live["litware"]
    outcome = gate.submit_acceptance(actor=demo_user("bss"), account=litware, data=signatory(), context=ctx())
    pc_simulator.accept_attestation(outcome.attestation.attestation_id)
    pc_simulator.set_fault(mode="down")
    gate.check_now(litware)
    attestation = Attestation.objects.get(pk=outcome.attestation.pk)
    assert attestation.state == AttestationState.PENDING and attestation.last_error
    assert gate.check(litware, NEW).waiting

    pc_simulator.clear_faults()
    # Partner Center's circuit opened while it was down: the next look waits for its open time to pass.
    with time_machine.travel(timezone.now() + timedelta(seconds=31), tick=True):
        assert not gate.check_now(litware).needed
    assert _events(litware)[-2:] == [RecordEvent.SIGNATORY_ACCEPTED, RecordEvent.AGREEMENT_CREATED]


def test_partner_center_down_at_submission_creates_the_link_later(demo_live, demo_user, pc_simulator):
    litware = demo_live["litware"]
    pc_simulator.set_fault(mode="down", paths="v1/attestations")
    outcome = gate.submit_acceptance(actor=demo_user("bss"), account=litware, data=signatory(), context=ctx())
    assert outcome.kind == gate.OutcomeKind.PENDING_SIGNATORY and outcome.link == ""
    decision = gate.check(litware, NEW)
    assert decision.waiting and "preparing" in decision.reason
    pc_simulator.clear_faults()
    # The failed creation may have opened Partner Center's circuit (how many tries fit in the budget depends on the
    # machine's speed): "later" is after its open time, as the sweep would come back.
    with time_machine.travel(timezone.now() + timedelta(seconds=31), tick=True):
        gate.check_now(litware)
        assert gate.check(litware, NEW).pending.link.startswith(pc_simulator.base_url)


def test_direct_acceptance_found_meanwhile_settles_the_attestation(demo_live, demo_user, pc_simulator):
    litware = demo_live["litware"]
    outcome = gate.submit_acceptance(actor=demo_user("bss"), account=litware, data=signatory(), context=ctx())
    pc_simulator.set_direct_signed(litware.partner_center_tenant_id, True)
    assert not gate.check_now(litware).needed
    assert Attestation.objects.get(pk=outcome.attestation.pk).state == AttestationState.SUPERSEDED


def test_a_customer_cannot_name_a_signatory_for_another_account(demo_live, demo_user):
    with pytest.raises(PermissionDenied):
        gate.submit_acceptance(
            actor=demo_user("customer"), account=demo_live["litware"], data=signatory(), context=ctx()
        )
    assert not AcceptanceRecord.objects.filter(account=demo_live["litware"]).exists()


def test_evidence_export_tells_the_whole_story(demo_live, demo_user, pc_simulator, tmp_path):
    import json

    from mca.export import export_evidence

    litware = demo_live["litware"]
    outcome = gate.submit_acceptance(actor=demo_user("bss"), account=litware, data=signatory(), context=ctx())
    pc_simulator.accept_attestation(outcome.attestation.attestation_id)
    gate.check_now(litware)
    folder = export_evidence(litware, tmp_path)
    records = json.loads((folder / "records.json").read_text())
    assert [r["event"] for r in records] == [
        "form_submitted",
        "attestation_created",
        "signatory_accepted",
        "agreement_created",
    ]
    assert {r["attestation_id"] for r in records[1:]} == {outcome.attestation.attestation_id}
    assert json.loads(records[-1]["microsoft_answer"])  # Microsoft's answer to creating the agreement, kept
    (attestation,) = json.loads((folder / "attestations.json").read_text())
    assert attestation["state"] == "accepted" and attestation["signatory"] == "Lena Fischer"
    readme = (folder / "README.md").read_text()
    assert "Signatory accepted at Microsoft" in readme and "Agreement created at Microsoft" in readme


def test_many_pollers_ask_microsoft_about_a_link_at_most_once_per_interval(
    demo_live, demo_user, pc_simulator, settings
):
    """A checkout page polls, the customer clicks "Continue", a BSS user presses "Check now": Microsoft is asked
    about the link once per MCA_ATTESTATION_MIN_CHECK_SECONDS, not once per page."""
    litware = demo_live["litware"]
    gate.submit_acceptance(actor=demo_user("bss"), account=litware, data=signatory(), context=ctx())
    settings.MCA_ATTESTATION_MIN_CHECK_SECONDS = 60
    before = pc_simulator.calls().get("enhanced_attestation", 0)
    for _ in range(5):
        assert gate.check_now(litware).waiting
    assert pc_simulator.calls().get("enhanced_attestation", 0) == before  # the link was just created
    settings.MCA_ATTESTATION_MIN_CHECK_SECONDS = 0
    gate.check_now(litware)
    assert pc_simulator.calls().get("enhanced_attestation", 0) == before + 1


@pytest.mark.parametrize("value", ["no", "off", "0", "false", ""])
def test_enhanced_authority_box_counts_only_on_or_true(demo, demo_user, value, settings):
    settings.MCA_ATTESTATION_FLOW = "enhanced"
    with pytest.raises(AcceptanceInvalid) as refused:
        gate.submit_acceptance(
            actor=demo_user("bss"),
            account=demo["litware"],
            data=signatory(authority_confirmed=value),
            context=context(),
        )
    assert "authority_confirmed" in refused.value.error_dict
    assert not AcceptanceRecord.objects.exists()
