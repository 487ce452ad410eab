"""Refusals predicted (issue 19, item 2): per operation kind and date, from the gate's own rules, on local knowledge
only (a fixed number of queries, no Partner Center call)."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest
from django.utils import timezone

from bss.choices import BillingTerm, Operation, OrderStatus
from bss.models import Order, Product, ScheduledSeatChange, Subscription
from mca import gate
from mca.choices import AcceptanceKind
from mca.knowledge import knowledge_key, remember_acceptance
from mca.models import AccountReadiness
from mca.state import McaState
from tests.bss.conftest import make_order
from tests.mca.test_state import _link

TODAY = date(2026, 3, 2)


@pytest.fixture
def no_partner_center(monkeypatch):
    """Any Partner Center call fails the test: the prediction must never ask it."""

    def refuse(*args, **kwargs):
        raise AssertionError("Partner Center was called")

    monkeypatch.setattr("partner_center.client.transport.Transport._call", refuse)


@pytest.fixture
def demo(demo):
    """The demo accounts without the demo's own orders and subscriptions: each test plans its own changes."""
    ScheduledSeatChange.objects.all().delete()
    Order.objects.all().delete()
    Subscription.objects.all().delete()
    return demo


def _accept(account, kind=AcceptanceKind.DIRECT_AT_MICROSOFT, when=datetime(2026, 1, 2, tzinfo=UTC)):
    remember_acceptance(key=knowledge_key(account), kind=kind, accepted_at=when, verified=True)


def _subscription(account, sku="MS-M365-BS", seats=10, **values) -> Subscription:
    return Subscription.objects.create(account=account, product=Product.objects.get(sku=sku), seats=seats, **values)


def _predicted(account) -> list[gate.PredictedRefusal]:
    return gate.predict_refusals([account], today=TODAY).get(account.pk, [])


def test_an_open_order_of_a_customer_without_acceptance_fails_at_execution(demo, no_partner_center):
    northwind = demo["northwind"]  # not synced, nothing known: required
    order = make_order(northwind)
    [refusal] = _predicted(northwind)
    assert refusal.change.kind == gate.ChangeKind.ORDER and refusal.change.reference == order.number
    assert refusal.fails_on == TODAY and refusal.state == McaState.REQUIRED and refusal.certain
    order.move_to(OrderStatus.CANCELLED)
    assert _predicted(northwind) == []  # a cancelled order goes nowhere


def test_a_renewal_as_it_is_is_never_refused_but_one_with_a_change_is(demo):
    litware = demo["litware"]
    renews = TODAY + timedelta(days=30)
    unchanged = _subscription(litware, renews_on=renews)
    assert _predicted(litware) == []  # renewals never need the MCA (R1)
    Subscription.objects.filter(pk=unchanged.pk).update(next_term_seats=15)
    [refusal] = _predicted(litware)
    assert refusal.change.kind == gate.ChangeKind.RENEWAL and refusal.fails_on == renews
    assert {item.operation for item in refusal.change.operations} == {Operation.RENEWAL, Operation.SEAT_INCREASE}
    Subscription.objects.filter(pk=unchanged.pk).update(
        next_term_seats=None, next_term_billing_term=BillingTerm.MONTHLY
    )
    # The product is billed annually: a monthly next term is a billing-plan change.
    [refusal] = _predicted(litware)
    assert Operation.TERM_CHANGE in {item.operation for item in refusal.change.operations}
    Subscription.objects.filter(pk=unchanged.pk).update(auto_renew=False)
    assert _predicted(litware) == []  # not renewing: nothing goes to Microsoft


def test_scheduled_seat_changes_both_ways_fail_on_their_day_unless_not_microsoft(demo, settings):
    settings.MCA_ATTESTATION_MIN_DATE = "2023-04-01"
    proseware = demo["proseware"]
    _accept(proseware, AcceptanceKind.PARTNER_CENTER_ATTESTATION, datetime(2022, 5, 1, tzinfo=UTC))  # stale
    subscription = _subscription(proseware, seats=20)
    ScheduledSeatChange.objects.create(subscription=subscription, seats=18, effective_on=TODAY + timedelta(days=14))
    ScheduledSeatChange.objects.create(subscription=subscription, seats=25, effective_on=TODAY + timedelta(days=3))
    backup = _subscription(proseware, sku="ACR-CYBER-BACKUP", seats=5)
    ScheduledSeatChange.objects.create(subscription=backup, seats=9, effective_on=TODAY + timedelta(days=1))
    refusals = _predicted(proseware)
    assert [(r.change.operations[0].operation, r.fails_on) for r in refusals] == [
        (Operation.SEAT_INCREASE, TODAY + timedelta(days=3)),
        (Operation.SEAT_DECREASE, TODAY + timedelta(days=14)),
    ]
    assert all(r.state == McaState.STALE and r.certain for r in refusals)
    assert "before the MCA refresh" in refusals[0].reason


def test_an_accepted_customer_is_refused_nothing(demo):
    blue = demo["blue-yonder"]
    _accept(blue)
    make_order(blue)
    _subscription(blue, renews_on=TODAY + timedelta(days=5), next_term_seats=40)
    outlook = gate.outlooks_for([blue], today=TODAY)[blue.pk]
    assert len(outlook.changes) == 2 and outlook.refusals == ()


def test_a_cloud_agreement_counts_until_the_cut_over_day_of_each_change(demo, settings):
    coho = demo["coho"]  # Cloud Agreement accepted in 2019
    settings.MCA_CLOUD_AGREEMENT_CUTOFF = (timezone.now() + timedelta(days=10)).isoformat()
    today = timezone.localdate()
    subscription = _subscription(coho, seats=4)
    ScheduledSeatChange.objects.create(subscription=subscription, seats=6, effective_on=today + timedelta(days=5))
    ScheduledSeatChange.objects.create(subscription=subscription, seats=7, effective_on=today + timedelta(days=20))
    [refusal] = gate.predict_refusals([coho], today=today)[coho.pk]
    assert refusal.fails_on == today + timedelta(days=20) and refusal.state == McaState.REQUIRED
    assert "Cloud Agreement no longer counts" in refusal.reason


def test_a_pending_link_is_at_risk_and_says_when_it_expires(demo, demo_user, enhanced):
    litware = demo["litware"]
    _link(demo_user, litware, expires_in=timedelta(days=2))
    subscription = _subscription(litware)
    today = timezone.localdate()
    ScheduledSeatChange.objects.create(subscription=subscription, seats=11, effective_on=today + timedelta(days=1))
    ScheduledSeatChange.objects.create(subscription=subscription, seats=12, effective_on=today + timedelta(days=9))
    soon, later = gate.predict_refusals([litware], today=today)[litware.pk]
    assert not soon.certain and soon.state == McaState.PENDING and "Lena Fischer accepts" in soon.reason
    assert "before the link expires" in later.reason


def test_prediction_costs_a_fixed_number_of_queries(demo, django_assert_num_queries, no_partner_center):
    accounts = [demo[key] for key in ("northwind", "litware", "proseware", "trey")]
    for account in accounts:
        make_order(account)
        subscription = _subscription(account, renews_on=TODAY, next_term_seats=3)
        ScheduledSeatChange.objects.create(subscription=subscription, seats=2, effective_on=TODAY)
    # states_for: knowledge and links (2); planned changes: orders, their lines, seat changes, renewals (4).
    with django_assert_num_queries(6):
        few = gate.predict_refusals(accounts[:1], today=TODAY)
    with django_assert_num_queries(6):
        more = gate.predict_refusals(accounts, today=TODAY)
    assert len(few[accounts[0].pk]) == 3 and sum(len(found) for found in more.values()) == 12


def test_refresh_stores_state_and_first_refusal_for_counting(demo, django_capture_on_commit_callbacks):
    litware, blue = demo["litware"], demo["blue-yonder"]
    _accept(blue)
    subscription = _subscription(litware)
    ScheduledSeatChange.objects.create(subscription=subscription, seats=3, effective_on=date(2031, 5, 1))
    assert gate.refresh_readiness() == len(demo)
    stored = {row.account_id: row for row in AccountReadiness.objects.all()}
    assert stored[blue.pk].state == McaState.ACCEPTED and stored[blue.pk].refusals == 0
    assert stored[litware.pk].state == McaState.UNKNOWN and stored[litware.pk].first_refusal_on == date(2031, 5, 1)
    # An acceptance becoming known rewrites that customer's row (after commit).
    with django_capture_on_commit_callbacks(execute=True):
        _accept(litware)
    stored = AccountReadiness.objects.get(account=litware)
    assert stored.state == McaState.ACCEPTED and stored.refusals == 0
