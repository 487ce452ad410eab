"""Provisioning (SPEC flow 5) end to end against the Partner Center simulator over HTTP: customer created for a
not-synced account, agreement before the order, subscriptions stored; outages retried; held without acceptance;
never a second customer, order or subscription."""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest
import requests
import time_machine
from django.core import mail
from django.utils import timezone

from bss.choices import OrderStatus, ProvisioningStepName
from bss.models import Order, Subscription
from bss.services import execution
from bss.services.provisioning import provision_order
from bss.tasks import provision_order_task, retry_provisioning_task
from mca import gate
from mca.choices import DeliveryState, RecordEvent
from mca.models import AcceptanceDelivery, AcceptanceRecord
from partner_center.client import get_client
from partner_center.simulator.models import SimAgreement, SimCustomer, SimOrder, SimSubscription
from partner_center.types import OrderLineItem
from tests.bss.conftest import legacy_data, make_order, signatory_data

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def live(pc_simulator, demo, settings):
    settings.PARTNER_CENTER_RETRY_BUDGET = 1.0
    settings.PARTNER_CENTER_READ_TIMEOUT = 0.5
    settings.MCA_ATTESTATION_POLL_SECONDS = 0
    return demo


def _provisioned(account):
    """The account's subscriptions from provisioning (the demo gives Litware one of its own, DEMO-SUB-LITWARE)."""
    return Subscription.objects.filter(account=account).exclude(partner_center_subscription_id__startswith="DEMO-")


def ctx() -> gate.ConfirmationContext:
    return gate.ConfirmationContext(channel="bss_execution")


def _steps(order) -> list[tuple[str, str]]:
    return list(order.provisioning_events.values_list("step", "outcome"))


def _make_due(order) -> None:
    Order.objects.filter(pk=order.pk).update(next_attempt_at=timezone.now() - timedelta(seconds=1))


def test_not_synced_customer_held_then_released_by_the_signatorys_acceptance_and_provisioned(
    live, demo_user, pc_simulator, enhanced
):
    northwind = live["northwind"]
    order = make_order(northwind, "MS-M365-E3", 4)
    result = execution.execute_order(
        actor=demo_user("bss"), order=order, acceptance=signatory_data("Northwind Traders"), context=ctx()
    )
    assert result.held and not result.executed
    order.refresh_from_db()
    assert order.status == OrderStatus.AWAITING_ACCEPTANCE
    assert SimOrder.objects.count() == 0  # R11: nothing went to Partner Center

    # The signatory got Microsoft's link by e-mail and accepts there (no sign-in).
    assert [m.to for m in mail.outbox] == [["lena.fischer@example.com"]]
    link = result.outcome.link
    assert link and link in mail.outbox[0].body
    assert requests.post(link, timeout=10).status_code == 200

    # Microsoft reports it (the poll; "Check now" here): the signal releases the order, provisioning runs.
    gate.check_now(northwind)
    order.refresh_from_db()
    northwind.refresh_from_db()
    assert not gate.check(northwind, ["new_purchase"]).needed
    assert order.status == OrderStatus.PROVISIONED, (order.last_error, _steps(order))
    assert northwind.is_synced
    customer = SimCustomer.objects.get(tenant_id=northwind.partner_center_tenant_id)
    assert customer.domain == "northwindtraders.onmicrosoft.com"
    # The agreement was created for the new customer before the order (the simulator refuses orders otherwise).
    assert SimAgreement.objects.filter(customer=customer).count() == 1
    assert AcceptanceRecord.objects.filter(account=northwind, event=RecordEvent.AGREEMENT_CREATED).exists()
    accepted = AcceptanceRecord.objects.get(account=northwind, event=RecordEvent.SIGNATORY_ACCEPTED)
    assert AcceptanceDelivery.objects.get(record=accepted).state == DeliveryState.SENT
    steps = [step for step, _ in _steps(order)]
    assert steps.index(ProvisioningStepName.CUSTOMER) < steps.index(ProvisioningStepName.ACCEPTANCES)
    assert steps.index(ProvisioningStepName.ACCEPTANCES) < steps.index(ProvisioningStepName.ORDER)
    sim_order = SimOrder.objects.get(customer=customer)
    assert order.pc_order_id == str(sim_order.order_id)
    subscription = Subscription.objects.get(account=northwind)
    assert subscription.seats == 4
    assert subscription.partner_center_subscription_id == str(
        SimSubscription.objects.get(order=sim_order).subscription_id
    )

    # Running the task again (a redelivered message, a double click) changes nothing.
    provision_order_task.delay(order.pk)
    assert SimCustomer.objects.filter(domain=customer.domain).count() == 1
    assert SimOrder.objects.count() == 1 and Subscription.objects.filter(account=northwind).count() == 1


@pytest.mark.parametrize(
    "fault",
    [
        {"mode": "down"},
        {"mode": "error", "status": 503},
        {"mode": "throttle", "retry_after": 2},
        {"mode": "slow", "latency_ms": 1500, "count": 1},
    ],
    ids=["down", "5xx", "throttle", "slow"],
)
def test_partner_center_failing_during_provisioning_is_retried_and_completes_with_one_order(
    live, demo_user, pc_simulator, legacy, fault
):
    litware = live["litware"]
    tenant = str(litware.partner_center_tenant_id)
    order = Order.objects.get(number="SO-DEMO-LITWARE")
    pc_simulator.set_fault(paths=f"v1/customers/{tenant}/orders", **fault)
    result = execution.execute_order(actor=demo_user("bss"), order=order, acceptance=legacy_data(), context=ctx())
    assert result.executed
    order.refresh_from_db()
    if fault["mode"] != "slow":  # a slow answer may still arrive within the budget
        assert order.status == OrderStatus.FAILED
        assert order.last_error and order.next_attempt_at > timezone.now()
        if fault["mode"] == "throttle":
            assert order.next_attempt_at >= timezone.now() + timedelta(seconds=1)
        assert SimOrder.objects.filter(customer__tenant_id=tenant).count() == 0

    pc_simulator.clear_faults()
    if order.status == OrderStatus.FAILED:
        # A 429's Retry-After pauses every order call from every process until it has passed (partner_center.health).
        later = timedelta(seconds=3) if fault["mode"] == "throttle" else timedelta(0)
        with time_machine.travel(timezone.now() + later, tick=True):
            _make_due(order)
            retry_provisioning_task.delay()
    order.refresh_from_db()
    assert order.status == OrderStatus.PROVISIONED, (order.last_error, _steps(order))
    assert SimOrder.objects.filter(customer__tenant_id=tenant).count() == 1
    assert _provisioned(litware).count() == 1
    assert order.provisioning_events.filter(step=ProvisioningStepName.ORDER).exists()


def test_retry_after_a_lost_answer_reuses_the_request_id_and_places_one_order(live, demo_user, pc_simulator, legacy):
    litware = live["litware"]
    tenant = str(litware.partner_center_tenant_id)
    order = Order.objects.get(number="SO-DEMO-LITWARE")
    pc_simulator.set_fault(mode="down", paths=f"v1/customers/{tenant}/orders")
    execution.execute_order(actor=demo_user("bss"), order=order, acceptance=legacy_data(), context=ctx())
    order.refresh_from_db()
    assert order.status == OrderStatus.FAILED and order.pc_order_request_id
    pc_simulator.clear_faults()
    # Microsoft took the order but its answer never reached us (timeout): the same MS-RequestId went out.
    get_client().create_order(tenant, [OrderLineItem("CFQ7TTC0LDPB:0001", 10)], str(order.pc_order_request_id))
    pc_simulator.reset_calls()

    assert provision_order(order_id=order.pk) == OrderStatus.PROVISIONED
    assert provision_order(order_id=order.pk) == OrderStatus.PROVISIONED  # twice: nothing more
    assert pc_simulator.calls().get("orders") == 1
    assert SimOrder.objects.filter(customer__tenant_id=tenant).count() == 1
    assert _provisioned(litware).count() == 1


def test_partner_center_refusing_for_lack_of_acceptance_holds_the_order(live, demo_user, pc_simulator):
    litware = live["litware"]
    pc_simulator.set_direct_signed(litware.partner_center_tenant_id, True)
    assert not gate.check_now(litware).needed  # known here from now on
    pc_simulator.set_direct_signed(litware.partner_center_tenant_id, False)  # ... but Microsoft refuses (13605)

    order = make_order(litware)
    execution.execute_order(actor=demo_user("bss"), order=order)
    order.refresh_from_db()
    assert order.status == OrderStatus.AWAITING_ACCEPTANCE
    assert "Microsoft refuses the purchase" in order.last_error
    assert order.provisioning_events.filter(outcome="held").exists()
    assert SimOrder.objects.count() == 0


def test_seat_change_updates_the_partner_center_quantity(live, demo_user, pc_simulator, legacy):
    from bss.services import subscriptions

    litware = live["litware"]
    order = Order.objects.get(number="SO-DEMO-LITWARE")
    execution.execute_order(actor=demo_user("bss"), order=order, acceptance=legacy_data(), context=ctx())
    subscription = _provisioned(litware).get()
    result = subscriptions.change_seats(actor=demo_user("bss"), subscription=subscription, seats=4)
    result.order.refresh_from_db()
    assert result.order.status == OrderStatus.PROVISIONED, result.order.last_error
    assert (
        SimSubscription.objects.get(subscription_id=uuid.UUID(subscription.partner_center_subscription_id)).quantity
        == 4
    )
    subscription.refresh_from_db()
    assert subscription.seats == 4
