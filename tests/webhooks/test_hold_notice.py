"""The immediate notice when an order is held for acceptance (issue 19, item 5): CSP staff and the customer's
reseller's staff, each their own e-mail, after commit; nobody of another reseller; nothing for a rollback."""

import pytest
from django.db import transaction

from bss.models import Order
from bss.services.holds import hold_for_acceptance


@pytest.fixture(autouse=True)
def notice_on(settings):
    settings.BSS_HOLD_NOTICE = True


def recipients(mailoutbox):
    return sorted(to for mail in mailoutbox for to in mail.to)


def test_csp_staff_and_the_customers_reseller_are_told_at_once(demo, mailoutbox, django_capture_on_commit_callbacks):
    order = Order.objects.get(number="SO-DEMO-LITWARE")  # a Contoso customer
    with django_capture_on_commit_callbacks(execute=True), transaction.atomic():
        hold_for_acceptance(order, reason="Waiting for Jane Smith to accept at Microsoft")
        assert mailoutbox == []  # not before commit
    assert recipients(mailoutbox) == ["admin@demo.example", "bss@demo.example", "reseller@demo.example"]
    mail = mailoutbox[0]
    assert "SO-DEMO-LITWARE" in mail.subject and "Waiting for Jane Smith" in mail.body
    assert all(len(mail.to) == 1 for mail in mailoutbox)


def test_a_white_label_customers_hold_reaches_its_reseller_not_another(
    demo, mailoutbox, django_capture_on_commit_callbacks
):
    order = Order.objects.get(number="SO-DEMO-TAILSPIN")  # a Fabrikam customer
    with django_capture_on_commit_callbacks(execute=True), transaction.atomic():
        hold_for_acceptance(order, reason="r")
    assert recipients(mailoutbox) == ["admin@demo.example", "bss@demo.example", "wl-bss@demo.example"]


def test_no_notice_for_a_rolled_back_hold(demo, mailoutbox, django_capture_on_commit_callbacks):
    order = Order.objects.get(number="SO-DEMO-LITWARE")
    with django_capture_on_commit_callbacks(execute=True), pytest.raises(RuntimeError), transaction.atomic():
        hold_for_acceptance(order, reason="r")
        raise RuntimeError("rolled back")
    assert mailoutbox == []


def test_the_notice_can_be_turned_off(demo, mailoutbox, settings, django_capture_on_commit_callbacks):
    settings.BSS_HOLD_NOTICE = False
    with django_capture_on_commit_callbacks(execute=True), transaction.atomic():
        hold_for_acceptance(Order.objects.get(number="SO-DEMO-LITWARE"), reason="r")
    assert mailoutbox == []
