"""Webhooks (issue 19, item 6): one event per change (none for a rolled-back one), Standard Webhooks signatures,
retries, 410 Gone, replay with the same message id, and scoping between resellers. Subscribers are played by
`responses` at the network edge; messages are sent by calling the sender directly (no worker)."""

import json
from datetime import timedelta

import pytest
import responses
from django.db import transaction
from django.utils import timezone
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient
from standardwebhooks.webhooks import Webhook

from bss.choices import OrderStatus
from bss.models import Order
from bss.services.holds import hold_for_acceptance, release
from mca.attestation.base import SendOutcome
from mca.attestation.legacy import confirm_acceptance
from mca.models import AcceptanceDelivery
from partner_center.types import CustomerAgreement
from tests.mca.helpers import context, form_data
from webhooks import delivery, events
from webhooks.models import EventType, Message, MessageState, Subscription
from webhooks.services import create_subscription

HOOK = "http://receiver.example/hook"


@pytest.fixture
def subscribe(demo_user):
    def make(username="bss", types=tuple(EventType.values), url=HOOK):
        return create_subscription(actor=demo_user(username), url=url, event_types=types)

    return make


def confirm(demo, demo_user, key="litware"):
    return confirm_acceptance(actor=demo_user("bss"), account=demo[key], data=form_data(), context=context())


def types_of(messages):
    return sorted(message.event_type for message in messages)


def test_a_confirmation_emits_one_record_and_one_state_change(demo, demo_user, legacy, subscribe):
    subscription = subscribe()
    record = confirm(demo, demo_user)
    messages = list(Message.objects.filter(subscription=subscription))
    assert types_of(messages) == [EventType.ACCEPTANCE_RECORDED, EventType.STATE_CHANGED]
    changed = next(m for m in messages if m.event_type == EventType.STATE_CHANGED).payload
    assert (
        changed["data"]["account"] == {"id": demo["litware"].pk, "name": "Litware, Inc."}
        or changed["data"]["account"]["id"] == demo["litware"].pk
    )
    assert changed["data"]["state"] == "accepted" and changed["data"]["previous"] != "accepted"
    recorded = next(m for m in messages if m.event_type == EventType.ACCEPTANCE_RECORDED).payload
    assert recorded["data"]["record"]["id"] == record.pk
    assert "jane" not in json.dumps(recorded).lower()  # no signatory's personal data
    # The same customer confirmed again: a record, but the state does not move.
    confirm_acceptance(
        actor=demo_user("bss"), account=demo["litware"], data=form_data(first_name="Joan"), context=context()
    )
    assert Message.objects.filter(event_type=EventType.STATE_CHANGED).count() == 1
    assert Message.objects.filter(event_type=EventType.ACCEPTANCE_RECORDED).count() == 2


def test_nothing_is_emitted_for_a_rolled_back_change(demo, demo_user, legacy, subscribe):
    subscribe()
    order = Order.objects.get(number="SO-DEMO-LITWARE")
    with pytest.raises(RuntimeError), transaction.atomic():
        confirm(demo, demo_user)
        hold_for_acceptance(order, reason="Waiting for the signatory")
        raise RuntimeError("rolled back")
    assert not Message.objects.exists()


def test_an_order_held_and_released_emits_one_event_each(demo, subscribe):
    subscribe(types=[EventType.ORDER_HELD, EventType.ORDER_RELEASED])
    order = Order.objects.get(number="SO-DEMO-LITWARE")
    with transaction.atomic():
        hold_for_acceptance(order, reason="Waiting for the signatory")
    with transaction.atomic():
        release(order, OrderStatus.PLACED, note="released")
    held, released = Message.objects.order_by("pk")
    assert (held.event_type, released.event_type) == (EventType.ORDER_HELD, EventType.ORDER_RELEASED)
    assert held.payload["data"]["order"]["number"] == "SO-DEMO-LITWARE"
    assert held.payload["data"]["reason"] == "Waiting for the signatory"
    assert held.payload["data"]["reseller"]["name"] == demo["litware"].reseller.name


def test_a_delivery_given_up_emits_delivery_failed_and_the_state_moves_back(demo, demo_user, legacy, subscribe):
    confirm(demo, demo_user)
    subscribe(types=[EventType.DELIVERY_FAILED, EventType.STATE_CHANGED])
    row = AcceptanceDelivery.objects.select_related("record", "account").get(account=demo["litware"])
    stale = CustomerAgreement(
        template_id="t", agreement_type="MicrosoftCustomerAgreement", date_agreed=timezone.now(), primary_contact=None
    )
    from mca.delivery import _mark_refused

    _mark_refused(row, SendOutcome(status_code=409, already_confirmed=True), stale)
    failed, changed = (
        Message.objects.get(event_type=EventType.DELIVERY_FAILED),
        Message.objects.get(event_type=EventType.STATE_CHANGED),
    )
    assert failed.payload["data"]["delivery"] == {
        "id": row.pk,
        "state": "refused",
        "attempts": row.attempts,
        "last_status_code": 409,
    }
    assert changed.payload["data"]["previous"] == "accepted" and changed.payload["data"]["state"] != "accepted"
    assert changed.payload["data"]["source"] == "refused_by_partner_center"


@responses.activate
def test_the_signature_verifies_with_the_library(demo, demo_user, legacy, subscribe):
    subscription = subscribe(types=[EventType.ACCEPTANCE_RECORDED])
    confirm(demo, demo_user)
    message = Message.objects.get()
    responses.post(HOOK, status=204)
    assert delivery.deliver(message.pk) == MessageState.DELIVERED
    sent = responses.calls[0].request
    payload = Webhook(subscription.secret).verify(sent.body, dict(sent.headers))
    assert payload["type"] == "mca.acceptance_recorded" and sent.headers["webhook-id"] == message.msg_id
    with pytest.raises(Exception, match="signature"):
        Webhook("whsec_" + "A" * 44).verify(sent.body, dict(sent.headers))


@responses.activate
def test_a_failing_receiver_is_retried_then_succeeds(demo, subscribe):
    subscribe(types=[EventType.ORDER_HELD])
    with transaction.atomic():
        hold_for_acceptance(Order.objects.get(number="SO-DEMO-LITWARE"), reason="r")
    message = Message.objects.get()
    responses.post(HOOK, status=503, body="down for maintenance")
    responses.post(HOOK, status=429, headers={"Retry-After": "600"})
    responses.post(HOOK, status=200, body="ok")
    assert delivery.deliver(message.pk) == MessageState.FAILING
    assert delivery.deliver(message.pk) is None  # not due yet: its backoff has not passed
    Message.objects.filter(pk=message.pk).update(next_attempt_at=timezone.now())
    before = timezone.now()
    assert delivery.deliver(message.pk) == MessageState.FAILING
    message.refresh_from_db()
    assert message.next_attempt_at >= before + timedelta(seconds=599)  # the receiver's Retry-After
    Message.objects.filter(pk=message.pk).update(next_attempt_at=timezone.now())
    assert delivery.deliver(message.pk) == MessageState.DELIVERED
    log = list(message.attempt_log.values_list("status_code", "response_excerpt"))
    assert log == [(503, "down for maintenance"), (429, ""), (200, "ok")]
    assert len({call.request.headers["webhook-id"] for call in responses.calls}) == 1


@responses.activate
def test_a_receiver_failing_every_time_ends_failed(demo, subscribe, settings):
    settings.WEBHOOKS_MAX_ATTEMPTS = 2
    subscribe(types=[EventType.ORDER_HELD])
    with transaction.atomic():
        hold_for_acceptance(Order.objects.get(number="SO-DEMO-LITWARE"), reason="r")
    message = Message.objects.get()
    responses.post(HOOK, status=500)
    delivery.deliver(message.pk)
    Message.objects.filter(pk=message.pk).update(next_attempt_at=timezone.now())
    assert delivery.deliver(message.pk) == MessageState.FAILED
    message.refresh_from_db()
    assert message.attempts == 2 and "Gave up after 2 attempts" in message.last_error
    assert delivery.sweep_due_messages() == 0  # a failed message is not picked up again


@responses.activate
def test_410_gone_disables_the_subscription(demo, subscribe):
    subscription = subscribe(types=[EventType.ORDER_HELD, EventType.ORDER_RELEASED])
    order = Order.objects.get(number="SO-DEMO-LITWARE")
    with transaction.atomic():
        hold_for_acceptance(order, reason="r")
        release(order, OrderStatus.PLACED, note="n")
    first, second = Message.objects.order_by("pk")
    responses.post(HOOK, status=410)
    assert delivery.deliver(first.pk) == MessageState.FAILED
    subscription.refresh_from_db()
    second.refresh_from_db()
    assert not subscription.is_active and "410" in subscription.disabled_reason
    assert second.state == MessageState.FAILED and len(responses.calls) == 1
    assert not events.subscribed(EventType.ORDER_HELD)  # the routes forgot it: no more rows
    with transaction.atomic():
        hold_for_acceptance(order, reason="again")
    assert Message.objects.count() == 2


def api_as(user):
    client = APIClient()
    token, _ = Token.objects.get_or_create(user=user)
    client.credentials(HTTP_AUTHORIZATION=f"Token {token.key}")
    return client


@responses.activate
def test_replay_resends_the_same_message_id(demo, demo_user, subscribe, django_capture_on_commit_callbacks):
    subscription = subscribe(types=[EventType.ORDER_HELD])
    responses.post(HOOK, status=200)
    with django_capture_on_commit_callbacks(execute=True), transaction.atomic():
        hold_for_acceptance(Order.objects.get(number="SO-DEMO-LITWARE"), reason="r")
    message = Message.objects.get()
    assert message.state == MessageState.DELIVERED and len(responses.calls) == 1  # sent after commit (eager task)
    with django_capture_on_commit_callbacks(execute=True):
        answer = api_as(demo_user("bss")).post(f"/api/v1/webhooks/messages/{message.pk}/replay/")
    assert answer.status_code == 202, answer.content
    first, again = (call.request for call in responses.calls)
    assert again.headers["webhook-id"] == first.headers["webhook-id"] == message.msg_id
    assert again.body == first.body
    Webhook(subscription.secret).verify(again.body, dict(again.headers))
    assert Message.objects.get().attempt_log.count() == 2


def test_the_secret_is_shown_once(demo, demo_user):
    client = api_as(demo_user("bss"))
    created = client.post(
        "/api/v1/webhooks/subscriptions/", {"url": HOOK, "event_types": ["order.released"]}, format="json"
    )
    assert created.status_code == 201 and created.json()["secret"].startswith("whsec_")
    shown = client.get(f"/api/v1/webhooks/subscriptions/{created.json()['id']}/").json()
    assert "secret" not in shown and shown["reseller"] is None


def test_bad_input_is_refused_and_nothing_written(demo, demo_user):
    client = api_as(demo_user("bss"))
    unknown = client.post("/api/v1/webhooks/subscriptions/", {"url": HOOK, "event_types": ["x"]}, format="json")
    no_url = client.post("/api/v1/webhooks/subscriptions/", {"url": "ftp://x", "event_types": []}, format="json")
    assert unknown.status_code == 400 and "event_types[0]" in unknown.json()["errors"]
    assert no_url.status_code == 400 and {"url", "event_types"} <= set(no_url.json()["errors"])
    assert not Subscription.objects.exists()


def test_a_reseller_cannot_reach_another_resellers_events_or_deliveries(demo, demo_user, subscribe):
    contoso = api_as(demo_user("reseller"))
    fabrikam_id = demo["trey"].reseller_id
    crossing = contoso.post(
        "/api/v1/webhooks/subscriptions/",
        {"url": HOOK, "event_types": ["order.held_for_acceptance"], "reseller": fabrikam_id},
        format="json",
    )
    assert crossing.status_code == 403
    own = contoso.post(
        "/api/v1/webhooks/subscriptions/", {"url": HOOK, "event_types": ["order.held_for_acceptance"]}, format="json"
    )
    assert own.status_code == 201 and own.json()["reseller"] == demo["litware"].reseller_id
    theirs = subscribe("wl-bss", types=[EventType.ORDER_HELD])  # Fabrikam's white-label staff
    with transaction.atomic():
        hold_for_acceptance(Order.objects.get(number="SO-DEMO-TAILSPIN"), reason="r")  # a Fabrikam customer
        hold_for_acceptance(Order.objects.get(number="SO-DEMO-LITWARE"), reason="r")  # a Contoso customer
    assert list(Message.objects.filter(subscription=theirs).values_list("payload__data__account__id", flat=True)) == [
        demo["tailspin"].pk
    ]
    mine = Message.objects.get(subscription_id=own.json()["id"])
    assert mine.account_id == demo["litware"].pk
    their_message = Message.objects.get(subscription=theirs)
    for url in (
        f"/api/v1/webhooks/subscriptions/{theirs.pk}/",
        f"/api/v1/webhooks/messages/{their_message.pk}/",
    ):
        assert contoso.get(url).status_code == 404
    assert (
        contoso.patch(f"/api/v1/webhooks/subscriptions/{theirs.pk}/", {"url": HOOK}, format="json").status_code == 404
    )
    assert contoso.delete(f"/api/v1/webhooks/subscriptions/{theirs.pk}/").status_code == 404
    assert contoso.post(f"/api/v1/webhooks/messages/{their_message.pk}/replay/").status_code == 404
    listed = contoso.get("/api/v1/webhooks/messages/").json()["results"]
    assert [m["id"] for m in listed] == [mine.pk]
    assert Subscription.objects.filter(pk=theirs.pk, is_active=True).exists()
    assert api_as(demo_user("customer")).get("/api/v1/webhooks/subscriptions/").status_code == 403
    # CSP staff see every subscription.
    assert len(api_as(demo_user("bss")).get("/api/v1/webhooks/subscriptions/").json()["results"]) == 2


def test_no_subscription_costs_the_confirmation_no_query(demo, demo_user, legacy, django_capture_on_commit_callbacks):
    """With nobody subscribed (the routes cached), a confirmation runs the same queries as with the webhooks'
    receivers disconnected: none reads a subscription, none builds a state."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from mca import signals

    events.routes()  # warm: the cache holds "no subscriptions"
    actor = demo_user("bss")
    with django_capture_on_commit_callbacks(execute=False):
        confirm_acceptance(actor=actor, account=demo["fourth-coffee"], data=form_data(), context=context())
        with CaptureQueriesContext(connection) as with_receivers:
            confirm_acceptance(actor=actor, account=demo["coho"], data=form_data(), context=context())
        receivers = [
            (signals.state_changed, "webhooks.state_changed"),
            (signals.acceptance_recorded, "webhooks.acceptance_recorded"),
        ]
        for signal, uid in receivers:
            signal.disconnect(dispatch_uid=uid)
        try:
            with CaptureQueriesContext(connection) as without:
                confirm_acceptance(actor=actor, account=demo["woodgrove"], data=form_data(), context=context())
        finally:
            events.connect_receivers()
    assert len(with_receivers) == len(without)
    assert not any("webhooks_" in query["sql"] for query in with_receivers.captured_queries)


def test_executing_an_order_that_waits_for_the_signatory_emits_held_once(demo, demo_user, enhanced, subscribe):
    from bss.services.execution import execute_order
    from tests.mca.test_enhanced_flow import signatory

    subscribe(types=[EventType.ORDER_HELD, EventType.STATE_CHANGED])
    order = Order.objects.get(number="SO-DEMO-LITWARE")
    result = execute_order(actor=demo_user("bss"), order=order, acceptance=signatory(company_name="Litware"))
    assert result.held
    execute_order(actor=demo_user("bss"), order=order)  # executed again while held: no second hold
    assert types_of(Message.objects.all()) == [EventType.STATE_CHANGED, EventType.ORDER_HELD]
    changed = Message.objects.get(event_type=EventType.STATE_CHANGED).payload["data"]
    assert (changed["previous"], changed["state"], changed["source"]) == ("unknown", "pending", "link_sent")


def test_the_process_copy_of_the_routes_follows_a_subscription_saved_here_at_once_and_elsewhere_within_a_second(
    demo, demo_user, subscribe, monkeypatch
):
    from django.core.cache import cache

    assert events.routes() == []  # this process now holds "nobody subscribed" for ROUTES_MEMO_SECONDS
    subscription = subscribe()  # saved here: the copy is forgotten at once
    assert [route.subscription_id for route in events.routes()] == [subscription.pk]
    # Deactivated by another process: its save forgets the shared cache, not this process's copy...
    Subscription.objects.filter(pk=subscription.pk).update(is_active=False)
    cache.delete(events.ROUTES_KEY)
    assert [route.subscription_id for route in events.routes()] == [subscription.pk]
    # ...which is read again once it is older than ROUTES_MEMO_SECONDS.
    monkeypatch.setattr(events, "ROUTES_MEMO_SECONDS", 0.0)
    cache.delete(events.ROUTES_KEY)
    events.forget_cached_routes()
    assert events.routes() == []
