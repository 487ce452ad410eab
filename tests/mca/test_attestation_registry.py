"""The attestation flows' registry: a record's flow is found by the event it records, never by if/else, and the
outbox asks that flow for everything flow-specific."""

import pytest
from django.core.exceptions import ImproperlyConfigured

from mca import attestation
from mca.attestation import FLOWS, AttestationFlow, SendOutcome, flow_for_record, register
from mca.attestation.legacy import confirm_acceptance
from mca.choices import DeliveryState, RecordEvent
from mca.delivery import deliver
from mca.models import AcceptanceDelivery, AcceptanceRecord
from tests.mca.helpers import context, form_data


def test_every_event_belongs_to_exactly_one_flow():
    owners = {event: [flow.name for flow in FLOWS.values() if event in flow.record_events] for event in RecordEvent}
    assert {event: len(names) for event, names in owners.items()} == dict.fromkeys(RecordEvent, 1)
    assert flow_for_record(AcceptanceRecord(event=RecordEvent.LEGACY_CONFIRMATION)).name == "legacy"
    assert flow_for_record(AcceptanceRecord(event=RecordEvent.SIGNATORY_ACCEPTED)).name == "enhanced"


def test_a_record_no_flow_writes_is_refused_by_name():
    with pytest.raises(ValueError, match="No attestation flow writes 'unknown' records"):
        flow_for_record(AcceptanceRecord(event="unknown"))


def test_a_flow_claiming_another_flows_event_is_refused():
    class Impostor(AttestationFlow):
        name = "impostor"
        label = "Impostor"
        record_events = frozenset({RecordEvent.LEGACY_CONFIRMATION})
        form = start = send = None

    with pytest.raises(ImproperlyConfigured, match="impostor"):
        register(Impostor())
    assert "impostor" not in FLOWS
    assert flow_for_record(AcceptanceRecord(event=RecordEvent.LEGACY_CONFIRMATION)).name == "legacy"


def test_the_outbox_sends_through_the_records_flow(demo, demo_user, monkeypatch, django_capture_on_commit_callbacks):
    sent = []

    def send(record, *, tenant_id, request_id):
        sent.append((record.pk, tenant_id, request_id))
        return SendOutcome(201, False, {"from": "the flow"}, record.template_id)

    monkeypatch.setattr(attestation.FLOWS["legacy"], "send", send)
    with django_capture_on_commit_callbacks(execute=False):
        record = confirm_acceptance(
            actor=demo_user("bss"), account=demo["litware"], data=form_data(), context=context()
        )
    delivery = AcceptanceDelivery.objects.get(record=record)

    assert deliver(delivery.pk) == DeliveryState.SENT
    delivery.refresh_from_db()
    assert sent == [(record.pk, str(demo["litware"].partner_center_tenant_id), str(delivery.request_id))]
    assert delivery.response == {"from": "the flow"}
