"""The gate API with each flow: the form it gives, what submitting does, what the decision says."""

from __future__ import annotations

import pytest
from django.core.exceptions import PermissionDenied

from bss.choices import Operation
from mca import gate
from mca.attestation.enhanced import SignatoryForm
from mca.attestation.legacy import LegacyAcceptanceForm, confirm_acceptance
from mca.choices import ReasonCode, RecordEvent
from mca.models import AcceptanceRecord
from tests.mca.helpers import context, form_data


def test_legacy_flow_accepts_at_once_through_the_gate(legacy, demo, demo_user, django_capture_on_commit_callbacks):
    litware = demo["litware"]
    form = gate.form_for(demo_user("reseller"), demo["wide-world"])
    assert isinstance(form, LegacyAcceptanceForm)
    assert "I confirm that the customer has accepted" in str(form["accepted"].label)
    outcome = gate.submit_acceptance(actor=demo_user("bss"), account=litware, data=form_data(), context=context())
    assert outcome.kind == gate.OutcomeKind.ACCEPTED and outcome.link == ""
    assert outcome.record.event == RecordEvent.LEGACY_CONFIRMATION
    decision = gate.check(litware, [Operation.SEAT_DECREASE])
    assert not decision.needed and decision.reason_code == ReasonCode.CONFIRMED_HERE
    assert decision.flow == "legacy"


def test_enhanced_is_the_default_flow(demo, demo_user):
    form = gate.form_for(demo_user("customer"), demo["northwind"])
    assert isinstance(form, SignatoryForm)
    assert form["company_name"].initial == "Northwind Traders"
    assert "I am authorised to accept the Microsoft Customer Agreement for Northwind Traders" in str(
        form["authority_confirmed"].label
    )
    bss_form = gate.form_for(demo_user("bss"), demo["litware"])
    assert "I confirm that the person named above is authorised" in str(bss_form["authority_confirmed"].label)


def test_renewal_cancellation_and_other_vendors_never_need_it(demo):
    litware = demo["litware"]
    assert not gate.check(litware, [Operation.RENEWAL]).needed
    assert not gate.check(litware, [gate.GatedOperation(Operation.NEW_PURCHASE, is_microsoft=False)]).needed
    decision = gate.check(litware, [Operation.CANCELLATION, gate.GatedOperation(Operation.SEAT_INCREASE, False)])
    assert decision.reason_code == ReasonCode.NOT_REQUIRED


def test_ensure_accepted_raises_with_the_decision(demo, settings):
    settings.MCA_STATUS_TIME_BUDGET = 0.2
    with pytest.raises(gate.AcceptanceRequired) as required:
        gate.ensure_accepted(demo["northwind"], [Operation.NEW_PURCHASE])
    assert required.value.code == "mca_acceptance_required"
    assert required.value.decision.reason_code == ReasonCode.NEW_CUSTOMER
    assert required.value.decision.show_form


def test_unknown_flow_setting_is_refused(demo, settings):
    from django.core.exceptions import ImproperlyConfigured

    settings.MCA_ATTESTATION_FLOW = "carrier-pigeon"
    with pytest.raises(ImproperlyConfigured):
        gate.form_for(None, demo["northwind"])


@pytest.mark.parametrize("flow", ["legacy", "enhanced"])
def test_a_reseller_cannot_confirm_for_another_resellers_customer(demo, demo_user, settings, flow):
    settings.MCA_ATTESTATION_FLOW = flow
    other = demo["tailspin"]  # a Fabrikam customer; "reseller" is Contoso's
    with pytest.raises(PermissionDenied):
        gate.submit_acceptance(actor=demo_user("reseller"), account=other, data=form_data(), context=context())
    assert not AcceptanceRecord.objects.exists()


def test_gate_query_counts(demo, demo_user, django_assert_num_queries, django_capture_on_commit_callbacks):
    """Exact costs: nothing for operations that never need acceptance, one query for a customer known here."""
    litware = demo["litware"]
    with django_assert_num_queries(0):
        assert not gate.check(litware, [Operation.RENEWAL, Operation.CANCELLATION]).needed
    confirm_acceptance(actor=demo_user("bss"), account=litware, data=form_data(), context=context())
    with django_assert_num_queries(1):
        assert not gate.check(litware, [Operation.NEW_PURCHASE]).needed
