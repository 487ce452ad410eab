"""The Decision answers the channels' questions (blocks_order, undetermined, hold_reason), so no channel reads
reason codes; "the customer's current attestation" and its expiry are judged in one place."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from mca import gate, selectors
from mca.choices import AttestationState, ReasonCode
from mca.models import Attestation
from tests.mca.helpers import context

pytestmark = pytest.mark.django_db
NEW = ["new_purchase"]


@pytest.fixture(autouse=True)
def _partner_center_absent(settings):
    settings.MCA_STATUS_TIME_BUDGET = 0.2
    settings.PARTNER_CENTER_RETRY_BUDGET = 0.2


def test_a_customer_who_has_not_accepted_blocks_the_order_and_is_not_undetermined(demo):
    decision = gate.check(demo["northwind"], NEW)  # not synced, nothing recorded: no Partner Center question
    assert decision.reason_code == ReasonCode.NEW_CUSTOMER
    assert decision.blocks_order and not decision.undetermined and decision.hold_reason == decision.reason


def test_partner_center_unreachable_is_undetermined(demo):
    decision = gate.check(demo["litware"], NEW)  # synced: Partner Center must be asked, and is not there
    assert decision.needed and decision.blocks_order
    assert decision.undetermined, decision.reason_code


def test_not_needed_neither_blocks_nor_holds(demo, other_product_sku="ACR-CYBER-BACKUP"):
    from bss.models import Product

    product = Product.objects.get(sku=other_product_sku)
    decision = gate.check(demo["northwind"], [gate.GatedOperation.for_product("new_purchase", product)])
    assert not decision.blocks_order and not decision.undetermined and decision.hold_reason == ""


def _attestation(actor, account, state, expires_in, created_ago=0) -> Attestation:
    """A submitted form's attestation, put in `state` with its link expiring `expires_in` from now."""
    record = gate.submit_acceptance(
        actor=actor,
        account=account,
        data={
            "signatory_first_name": "Nancy",
            "signatory_last_name": "Davolio",
            "signatory_email": "nancy@northwind.example",
            "company_name": account.name,
            "authority_confirmed": "on",
        },
        context=context(),
    ).record
    attestation = Attestation.objects.get(form_record=record)
    Attestation.objects.filter(pk=attestation.pk).update(
        state=state,
        expires_at=timezone.now() + expires_in,
        created_at=timezone.now() - timedelta(minutes=created_ago),
    )
    attestation.refresh_from_db()
    return attestation


def test_a_pending_link_past_its_expiry_is_expired_for_the_gate_and_the_lists_alike(demo, demo_user):
    account = demo["northwind"]
    _attestation(demo_user("bss"), account, AttestationState.PENDING, timedelta(minutes=-1))
    decision = gate.check(account, NEW)
    assert decision.pending.expired and decision.blocks_order and decision.reason_code == ReasonCode.LINK_EXPIRED
    local = selectors.local_status_for([account])[account.pk]
    assert local.link_expired and not local.waiting


def test_a_waiting_link_lets_the_order_wait_and_the_current_attestation_is_the_newest_unsettled(demo, demo_user):
    account = demo["northwind"]
    _attestation(demo_user("bss"), account, AttestationState.PENDING, timedelta(days=1), created_ago=10)
    newest = _attestation(demo_user("bss"), account, AttestationState.PENDING, timedelta(days=2))
    decision = gate.check(account, NEW)
    assert decision.waiting and not decision.blocks_order and decision.hold_reason
    assert Attestation.objects.current_for(newest.key) == newest
    assert decision.pending.expires_at == newest.expires_at
    assert selectors.local_status_for([account])[account.pk].waiting
