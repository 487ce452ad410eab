"""R10 with a broker: the deliveries committed within MCA_DELIVERY_HANDOVER_SECONDS share one wake-up of the sender
(`mca.outbox.hand_over`), which hands each due row to the sender once (`mca.delivery.send_due_now`); nothing is left
behind by a late, lost or failed wake-up. The real worker path is `tests/mca/test_celery_worker.py`."""

from datetime import timedelta

import pytest
import time_machine
from django.utils import timezone

from mca import outbox
from mca.attestation.legacy import confirm_acceptance
from mca.choices import DeliveryState
from mca.delivery import send_due_now, sweep_due_deliveries
from mca.models import AcceptanceDelivery
from tests.mca.helpers import context, form_data


class Sender:
    """What the app registers in `McaConfig.ready` (the Celery tasks), recorded instead of published."""

    def __init__(self, fail_to_wake: bool = False) -> None:
        self.rows: list[int] = []
        self.drains: list[float] = []
        self.fail_to_wake = fail_to_wake

    def send(self, delivery_id: int) -> None:
        self.rows.append(delivery_id)

    def drain_in(self, seconds: float) -> None:
        if self.fail_to_wake:
            raise ConnectionError("broker down")
        self.drains.append(seconds)


@pytest.fixture
def sender(monkeypatch, settings):
    settings.MCA_DELIVERY_HANDOVER_SECONDS = 1.0
    recorded = Sender()
    monkeypatch.setattr(outbox, "_send_row", recorded.send)
    monkeypatch.setattr(outbox, "_drain_in", recorded.drain_in)
    monkeypatch.setattr(outbox, "_in_process", lambda: False)  # as with a broker
    return recorded


@pytest.fixture
def synced(demo):
    return [account for account in demo.values() if account.is_synced][:3]


def confirm(demo_user, account, captured) -> AcceptanceDelivery:
    with captured(execute=True):
        record = confirm_acceptance(actor=demo_user("bss"), account=account, data=form_data(), context=context())
    return AcceptanceDelivery.objects.get(record=record)


def test_confirmations_in_one_window_wake_the_sender_once_and_publish_no_row(
    sender, synced, demo_user, django_capture_on_commit_callbacks
):
    deliveries = [confirm(demo_user, account, django_capture_on_commit_callbacks) for account in synced]
    assert sender.drains == [1.25]  # one drain, just after the window's key expires
    assert sender.rows == []  # no message per confirmation
    assert {delivery.state for delivery in deliveries} == {DeliveryState.PENDING}


def test_the_drain_hands_out_each_due_row_once_in_order(sender, synced, demo_user, django_capture_on_commit_callbacks):
    ids = [confirm(demo_user, account, django_capture_on_commit_callbacks).pk for account in synced]
    assert send_due_now() == 3
    assert sender.rows == sorted(ids)
    # Their messages wait in the queue: neither the next drain nor the sweep hands them out again.
    assert send_due_now() == 0
    assert sweep_due_deliveries() == 0
    assert sender.rows == sorted(ids)
    # A lost message: once a sending lease has passed, the sweep hands the row out again.
    with time_machine.travel(timezone.now() + timedelta(minutes=3)):
        assert sweep_due_deliveries() == 3
    assert sender.rows == sorted(ids) * 2


def test_a_row_committed_after_the_drain_started_wakes_the_next_one(
    sender, synced, demo_user, django_capture_on_commit_callbacks
):
    first = confirm(demo_user, synced[0], django_capture_on_commit_callbacks)
    assert send_due_now() == 1
    second = confirm(demo_user, synced[1], django_capture_on_commit_callbacks)
    assert len(sender.drains) == 2
    assert send_due_now() == 1
    assert sender.rows == [first.pk, second.pk]


def test_a_row_committed_after_the_window_wakes_a_new_drain_though_the_last_never_ran(
    sender, synced, demo_user, django_capture_on_commit_callbacks
):
    """A lost or late drain costs a wake-up, never a row: the key expires on its own."""
    confirm(demo_user, synced[0], django_capture_on_commit_callbacks)
    with time_machine.travel(timezone.now() + timedelta(seconds=2)):
        confirm(demo_user, synced[1], django_capture_on_commit_callbacks)
        assert len(sender.drains) == 2
        assert send_due_now() == 2


def test_a_broker_outage_at_wake_up_fails_no_confirmation_and_the_sweep_sends_it(
    sender, synced, demo_user, django_capture_on_commit_callbacks, caplog
):
    sender.fail_to_wake = True
    delivery = confirm(demo_user, synced[0], django_capture_on_commit_callbacks)
    assert "Could not wake the delivery sender" in caplog.text
    # The next confirmation tries to wake it again (the key was withdrawn with the failed wake-up).
    sender.fail_to_wake = False
    confirm(demo_user, synced[1], django_capture_on_commit_callbacks)
    assert sender.drains == [1.25]
    assert sweep_due_deliveries() == 2  # beat's sweep: both rows are due and were handed to no one
    assert delivery.pk in sender.rows


def test_without_a_broker_each_row_is_sent_on_its_own_at_once(
    sender, monkeypatch, synced, demo_user, django_capture_on_commit_callbacks
):
    monkeypatch.setattr(outbox, "_in_process", lambda: True)
    delivery = confirm(demo_user, synced[0], django_capture_on_commit_callbacks)
    assert (sender.rows, sender.drains) == ([delivery.pk], [])


def test_a_zero_window_sends_each_row_on_its_own(
    sender, settings, synced, demo_user, django_capture_on_commit_callbacks
):
    settings.MCA_DELIVERY_HANDOVER_SECONDS = 0
    delivery = confirm(demo_user, synced[0], django_capture_on_commit_callbacks)
    assert (sender.rows, sender.drains) == ([delivery.pk], [])
