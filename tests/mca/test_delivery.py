"""R10: each confirmation reaches Partner Center (the simulator, over HTTP) exactly once, whatever fails."""

from datetime import timedelta

import pytest
import time_machine
from django.conf import settings as django_settings
from django.utils import timezone

from bss.choices import Operation
from mca import gate
from mca.attestation.legacy import confirm_acceptance
from mca.choices import DeliveryState, ReasonCode
from mca.delivery import deliver, deliver_pending_for, sweep_due_deliveries
from mca.models import AcceptanceDelivery
from partner_center.client import get_client
from tests.mca.helpers import context, form_data


class ShortTimeoutsWhileFaulty:
    """The simulator's handle, with the client's budget and read timeout short only while a fault is set: a test
    then waits little for the failures it provokes (the "slow" fault answers in 900 ms, past a 0.5-s read timeout).
    With Partner Center answering, the usual timeouts: on a loaded machine a healthy answer can take more than
    0.5 s, and a delivery cut short there was retried (`test_confirmation_is_delivered_after_commit` failed so)."""

    def __init__(self, sim, settings) -> None:
        self._sim = sim
        self._settings = settings
        self._usual = (settings.PARTNER_CENTER_RETRY_BUDGET, settings.PARTNER_CENTER_READ_TIMEOUT)

    def __getattr__(self, name: str):
        return getattr(self._sim, name)

    def set_fault(self, **fault) -> dict:
        self._settings.PARTNER_CENTER_RETRY_BUDGET = 1.5
        self._settings.PARTNER_CENTER_READ_TIMEOUT = 0.5
        return self._sim.set_fault(**fault)

    def clear_faults(self) -> None:
        self._sim.clear_faults()
        self._settings.PARTNER_CENTER_RETRY_BUDGET, self._settings.PARTNER_CENTER_READ_TIMEOUT = self._usual


@pytest.fixture
def sim(pc_simulator, demo, settings):
    # These are about each delivery's own tries: the shared circuit, which would open after however many failures
    # fit in the budget on this machine, is off here and tested in tests/partner_center/test_health.py.
    settings.PARTNER_CENTER_BREAKER_FAILURES = 0
    return ShortTimeoutsWhileFaulty(pc_simulator, settings)


def agreements_for(account, email="jane.smith@example.com"):
    listed = get_client().get_customer_agreements(str(account.partner_center_tenant_id), use_cache=False)
    return [a for a in listed if a.primary_contact and a.primary_contact.email == email]


def confirm(demo, demo_user, key="litware", user="reseller", **data):
    return confirm_acceptance(actor=demo_user(user), account=demo[key], data=form_data(**data), context=context())


def make_due(delivery):
    AcceptanceDelivery.objects.filter(pk=delivery.pk).update(next_attempt_at=timezone.now() - timedelta(seconds=1))


def test_confirmation_is_delivered_after_commit(sim, demo, demo_user):
    record = confirm(demo, demo_user)
    delivery = AcceptanceDelivery.objects.get(record=record)
    assert delivery.state == DeliveryState.SENT
    assert delivery.last_status_code == 201 and delivery.attempts == 1
    assert delivery.response["primaryContact"]["email"] == "jane.smith@example.com"
    assert delivery.tenant_id == str(demo["litware"].partner_center_tenant_id)
    assert len(agreements_for(demo["litware"])) == 1
    assert sim.calls()["confirm_acceptance"] == 1


@pytest.mark.parametrize(
    "fault",
    [
        {"mode": "down"},
        {"mode": "error", "status": 503},
        {"mode": "throttle", "retry_after": 120},
        {"mode": "slow", "latency_ms": 900},
    ],
    ids=["down", "5xx", "429", "slow"],
)
def test_delivery_through_each_fault_ends_delivered_exactly_once(sim, demo, demo_user, fault):
    sim.set_fault(paths="v1/customers", **fault)
    record = confirm(demo, demo_user)
    delivery = AcceptanceDelivery.objects.get(record=record)
    assert delivery.state == DeliveryState.FAILING
    assert delivery.last_error
    assert delivery.next_attempt_at > timezone.now()
    if fault["mode"] == "throttle":
        assert delivery.next_attempt_at >= timezone.now() + timedelta(seconds=110)  # Retry-After honoured
    request_id = delivery.request_id

    sim.clear_faults()
    assert sweep_due_deliveries() == 0  # not due yet: nothing is sent early
    # Its next try has come (a throttled one's only once Retry-After has passed: until then every process's
    # confirmations are paused, partner_center.health).
    later = timedelta(seconds=121) if fault["mode"] == "throttle" else timedelta(0)
    with time_machine.travel(timezone.now() + later, tick=True):
        make_due(delivery)
        assert sweep_due_deliveries() == 1
    delivery.refresh_from_db()
    assert delivery.state == DeliveryState.SENT
    assert delivery.request_id == request_id  # one MS-RequestId for every try
    assert len(agreements_for(demo["litware"])) == 1
    assert sweep_due_deliveries() == 0


def test_identical_confirmation_already_at_microsoft_counts_as_delivered(sim, demo, demo_user):
    """Adventure Works' seeded partner confirmation has this contact: Partner Center answers 600061."""
    record = confirm(
        demo,
        demo_user,
        key="adventure-works",
        first_name="Alan",
        last_name="Brewer",
        email="alan@adventure-works.example",
        phone="+12065550102",
    )
    delivery = AcceptanceDelivery.objects.get(record=record)
    assert delivery.state == DeliveryState.SENT
    assert delivery.already_confirmed is True


def test_row_left_sending_by_a_crash_is_not_sent_twice(sim, demo, demo_user):
    record = confirm(demo, demo_user)  # delivered once
    delivery = AcceptanceDelivery.objects.get(record=record)
    # The worker "crashed" after Partner Center got it but before the row was marked sent.
    AcceptanceDelivery.objects.filter(pk=delivery.pk).update(state=DeliveryState.SENDING, sent_at=None)
    AcceptanceDelivery.objects.filter(pk=delivery.pk).update(updated_at=timezone.now() - timedelta(minutes=10))
    sim.reset_calls()
    assert sweep_due_deliveries() == 1
    delivery.refresh_from_db()
    assert delivery.state == DeliveryState.SENT
    calls = sim.calls()
    assert calls.get("customer_agreements") == 1  # it asked first ...
    assert not calls.get("confirm_acceptance")  # ... and did not send again
    assert len(agreements_for(demo["litware"])) == 1


def test_row_left_sending_before_the_request_left_is_sent_after_asking(sim, demo, demo_user, settings):
    sim.set_fault(paths="v1/customers", mode="down")
    record = confirm(demo, demo_user)
    sim.clear_faults()
    delivery = AcceptanceDelivery.objects.get(record=record)
    AcceptanceDelivery.objects.filter(pk=delivery.pk).update(state=DeliveryState.SENDING)
    AcceptanceDelivery.objects.filter(pk=delivery.pk).update(updated_at=timezone.now() - timedelta(minutes=10))
    assert deliver(delivery.pk) == DeliveryState.SENT
    assert len(agreements_for(demo["litware"])) == 1


def test_a_fresh_sending_row_is_left_to_its_worker(sim, demo, demo_user):
    sim.set_fault(paths="v1/customers", mode="down")
    record = confirm(demo, demo_user)
    sim.clear_faults()
    delivery = AcceptanceDelivery.objects.get(record=record)
    AcceptanceDelivery.objects.filter(pk=delivery.pk).update(state=DeliveryState.SENDING)
    assert deliver(delivery.pk) is None
    assert sweep_due_deliveries() == 0
    assert not agreements_for(demo["litware"])


@pytest.mark.parametrize("seconds, taken_over", [(110, False), (130, True)])
def test_a_sending_row_is_taken_over_after_the_lease(sim, demo, demo_user, seconds, taken_over):
    """MCA_DELIVERY_SENDING_LEASE_SECONDS (2 minutes): a row claimed 110 s ago is its worker's; 130 s ago, the
    worker died (the lease is above four calls of PARTNER_CENTER_RETRY_BUDGET, the longest a live one holds it)."""
    sim.set_fault(paths="v1/customers", mode="down")
    record = confirm(demo, demo_user)
    sim.clear_faults()
    delivery = AcceptanceDelivery.objects.get(record=record)
    AcceptanceDelivery.objects.filter(pk=delivery.pk).update(state=DeliveryState.SENDING)
    claimed = timezone.now() - timedelta(seconds=seconds)
    AcceptanceDelivery.objects.filter(pk=delivery.pk).update(updated_at=claimed)
    assert sweep_due_deliveries() == (1 if taken_over else 0)
    delivery.refresh_from_db()
    assert delivery.state == (DeliveryState.SENT if taken_over else DeliveryState.SENDING)


def test_the_sending_lease_is_a_setting(sim, demo, demo_user, settings):
    settings.MCA_DELIVERY_SENDING_LEASE_SECONDS = 600
    sim.set_fault(paths="v1/customers", mode="down")
    record = confirm(demo, demo_user)
    sim.clear_faults()
    delivery = AcceptanceDelivery.objects.get(record=record)
    AcceptanceDelivery.objects.filter(pk=delivery.pk).update(state=DeliveryState.SENDING)
    AcceptanceDelivery.objects.filter(pk=delivery.pk).update(updated_at=timezone.now() - timedelta(minutes=5))
    assert sweep_due_deliveries() == 0
    assert deliver(delivery.pk) is None


def test_not_synced_customer_waits_then_is_delivered_after_provisioning(sim, demo, demo_user):
    import uuid

    northwind = demo["northwind"]
    record = confirm(demo, demo_user, key="northwind", user="customer")
    delivery = AcceptanceDelivery.objects.get(record=record)
    assert delivery.state == DeliveryState.WAITING_FOR_CUSTOMER
    assert sweep_due_deliveries() == 0
    assert not sim.calls().get("confirm_acceptance")

    # Provisioning creates the Partner Center customer and stores its tenant id, then delivers first.
    tenant = uuid.uuid4()
    sim.add_customer(tenant, company_name="Northwind Traders")
    northwind.partner_center_tenant_id = tenant
    northwind.save(update_fields=["partner_center_tenant_id"])
    assert deliver_pending_for(northwind) is True
    delivery.refresh_from_db()
    assert delivery.state == DeliveryState.SENT and delivery.tenant_id == str(tenant)
    assert len(agreements_for(northwind)) == 1

    # What was known under the account now belongs to the tenant.
    from mca.models import CustomerKnowledge

    assert CustomerKnowledge.objects.filter(key=f"tenant:{tenant}").exists()
    assert not CustomerKnowledge.objects.filter(key=f"account:{northwind.pk}").exists()


def test_deliver_pending_for_reports_failure_so_provisioning_holds(sim, demo, demo_user):
    import uuid

    northwind = demo["northwind"]
    confirm(demo, demo_user, key="northwind", user="customer")
    tenant = uuid.uuid4()
    sim.add_customer(tenant, company_name="Northwind Traders")
    northwind.partner_center_tenant_id = tenant
    northwind.save(update_fields=["partner_center_tenant_id"])
    sim.set_fault(paths="v1/customers", mode="error", status=500)
    assert deliver_pending_for(northwind) is False
    assert AcceptanceDelivery.objects.get(account=northwind).state == DeliveryState.FAILING


def test_template_shown_is_looked_up_when_the_channel_does_not_name_it(sim, demo, demo_user):
    record = confirm_acceptance(
        actor=demo_user("reseller"), account=demo["litware"], data=form_data(), context=context(template_id="")
    )
    assert record.template_id == "117a77b0-9360-443b-8795-c6dedc750cf9"
    assert record.template_version_rank == 0 and record.document_link.startswith(
        django_settings.PARTNER_CENTER_BASE_URL + "/agreements/"
    )


def test_confirmation_is_recorded_even_when_partner_center_is_down_and_sent_later(sim, demo, demo_user):
    sim.set_fault(mode="down")
    record = confirm_acceptance(
        actor=demo_user("reseller"), account=demo["litware"], data=form_data(), context=context(template_id="")
    )
    assert record.template_id == ""  # nothing could be shown from Partner Center; the record is still written
    delivery = AcceptanceDelivery.objects.get(record=record)
    assert delivery.state == DeliveryState.FAILING
    sim.clear_faults()
    make_due(delivery)
    assert deliver(delivery.pk) == DeliveryState.SENT
    delivery.refresh_from_db()
    assert delivery.template_id == "117a77b0-9360-443b-8795-c6dedc750cf9"  # resolved when sent


def test_deliver_command_sends_what_is_due(sim, demo, demo_user):
    import io

    from django.core.management import call_command

    sim.set_fault(paths="v1/customers", mode="error", status=500)
    record = confirm(demo, demo_user)
    sim.clear_faults()
    make_due(AcceptanceDelivery.objects.get(record=record))
    out = io.StringIO()
    call_command("mca_deliver", stdout=out)
    assert "1 due delivery" in out.getvalue()
    assert AcceptanceDelivery.objects.get(record=record).state == DeliveryState.SENT


def test_same_contact_as_a_stale_confirmation_is_not_success(sim, demo, demo_user):
    """Fourth Coffee's 2021 confirmation is by Frank Miller: Microsoft answers 600061 to the same contact and keeps
    the stale one (orders still refused with 13605), so the delivery is refused and the gate keeps asking."""
    fourth = demo["fourth-coffee"]
    record = confirm_acceptance(
        actor=demo_user("bss"),
        account=fourth,
        data=form_data(
            first_name="Frank", last_name="Miller", email="frank@fourthcoffee.example", phone="+12065550108"
        ),
        context=context(),
    )
    delivery = AcceptanceDelivery.objects.get(record=record)
    deliver(delivery.pk)
    delivery.refresh_from_db()
    assert delivery.state == DeliveryState.REFUSED and delivery.already_confirmed
    assert "2021-06-15" in delivery.last_error and "other than Frank Miller" in delivery.last_error

    decision = gate.check(fourth, [Operation.NEW_PURCHASE])
    assert decision.needed and decision.reason_code == ReasonCode.STALE_ATTESTATION
    assert "someone other than Frank Miller" in decision.reason
