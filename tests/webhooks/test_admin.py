"""Webhooks in the admin: the secret shown once after adding, the replay action, and a white-label reseller's
staff seeing only their own subscriptions and messages."""

import pytest
import responses
from django.db import transaction
from django.test import Client

from bss.models import Order
from bss.services.holds import hold_for_acceptance
from webhooks.models import EventType, Message, Subscription
from webhooks.services import create_subscription

HOOK = "http://receiver.example/hook"


def signed_in(demo_user, username):
    client = Client()
    client.force_login(demo_user(username))
    return client


def test_adding_a_subscription_shows_its_secret_once(demo, demo_user):
    client = signed_in(demo_user, "bss")
    answer = client.post(
        "/admin/webhooks/subscription/add/",
        {"url": HOOK, "event_types": '["order.released"]', "description": "PSA", "is_active": "on"},
        follow=True,
    )
    subscription = Subscription.objects.get()
    assert subscription.secret.startswith("whsec_") and subscription.secret in answer.content.decode()
    again = client.get(f"/admin/webhooks/subscription/{subscription.pk}/change/")
    assert again.status_code == 200 and subscription.secret not in again.content.decode()


@pytest.mark.parametrize(
    ("types", "error"), [('["nope"]', "Unknown event type: nope."), ("[]", "This field is required.")]
)
def test_adding_with_bad_event_types_writes_nothing(demo, demo_user, types, error):
    client = signed_in(demo_user, "bss")
    answer = client.post("/admin/webhooks/subscription/add/", {"url": HOOK, "event_types": types, "is_active": "on"})
    assert answer.status_code == 200 and error in answer.content.decode()
    assert not Subscription.objects.exists()


@responses.activate
def test_replay_action_and_scoping(demo, demo_user, django_capture_on_commit_callbacks):
    ours = create_subscription(actor=demo_user("wl-bss"), url=HOOK, event_types=[EventType.ORDER_HELD])
    csp = create_subscription(actor=demo_user("bss"), url=HOOK, event_types=[EventType.ORDER_HELD])
    with transaction.atomic():
        hold_for_acceptance(Order.objects.get(number="SO-DEMO-TAILSPIN"), reason="r")
        hold_for_acceptance(Order.objects.get(number="SO-DEMO-LITWARE"), reason="r")
    mine = Message.objects.get(subscription=ours)
    theirs = Message.objects.filter(subscription=csp).first()
    client = signed_in(demo_user, "wl-bss")
    listing = client.get("/admin/webhooks/message/").content.decode()
    assert mine.msg_id in listing and Message.objects.filter(subscription=csp).count() == 2
    assert not any(m.msg_id in listing for m in Message.objects.filter(subscription=csp))
    assert client.get(f"/admin/webhooks/subscription/{csp.pk}/change/").status_code in (302, 404)
    responses.post(HOOK, status=200)
    with django_capture_on_commit_callbacks(execute=True):
        client.post(
            "/admin/webhooks/message/",
            {"action": "replay_selected", "_selected_action": [mine.pk, theirs.pk]},
        )
    assert [call.request.headers["webhook-id"] for call in responses.calls] == [mine.msg_id]
