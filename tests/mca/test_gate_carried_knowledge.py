"""`gate.with_known_acceptance`: the customer's knowledge read in the same query as its account, so the gate's
checks of a known customer cost no query of their own (issue 13: the gate in a checkout) — and what an account
carries can never make a check answer "not needed" when a plain check would not."""

from __future__ import annotations

import uuid

import pytest

from bss.choices import Operation
from bss.models import Account
from mca import gate
from mca.attestation.legacy import confirm_acceptance
from mca.choices import ReasonCode
from mca.knowledge import knowledge_key, known_acceptance
from mca.models import CustomerKnowledge
from tests.mca.helpers import context, form_data

NEW = [Operation.NEW_PURCHASE]


@pytest.fixture(autouse=True)
def partner_center_unreachable_fast(settings):
    """No simulator here: a check that asks Partner Center gives up on the closed port at once (R3)."""
    settings.MCA_STATUS_TIME_BUDGET = 0.2
    settings.PARTNER_CENTER_RETRY_BUDGET = 0.2


def loaded(account: Account) -> Account:
    return gate.with_known_acceptance(Account.objects.filter(pk=account.pk)).get()


@pytest.mark.parametrize("name", ["northwind", "litware"])  # key "account:<pk>" and key "tenant:<uuid>"
def test_known_customer_loaded_with_its_knowledge_is_checked_without_a_query(
    demo, demo_user, name, django_assert_num_queries
):
    confirm_acceptance(actor=demo_user("bss"), account=demo[name], data=form_data(), context=context())
    with django_assert_num_queries(1):
        account = loaded(demo[name])
    with django_assert_num_queries(0):
        decision = gate.check(account, NEW)
        gate.check(account, NEW)  # the place-order guard and place_order: the same instance, still no query
    assert not decision.needed and decision.reason_code == ReasonCode.CONFIRMED_HERE
    assert decision.reason == gate.check(Account.objects.get(pk=account.pk), NEW).reason
    stored = CustomerKnowledge.objects.get(key=knowledge_key(account))
    carried = known_acceptance(account)
    for field in CustomerKnowledge._meta.concrete_fields:
        assert getattr(carried, field.attname) == getattr(stored, field.attname), field.name


def test_account_without_knowledge_carries_nothing(demo):
    account = loaded(demo["northwind"])
    assert account.mca_known_acceptance is None
    assert gate.check(account, NEW).reason_code == ReasonCode.NEW_CUSTOMER


def test_acceptance_learned_after_loading_counts_at_once(demo, demo_user, django_assert_num_queries):
    """Nothing known is read afresh: the same request may just have recorded the acceptance."""
    account = loaded(demo["northwind"])
    confirm_acceptance(actor=demo_user("customer"), account=account, data=form_data(), context=context())
    with django_assert_num_queries(1):
        decision = gate.check(account, NEW)
    assert not decision.needed and decision.reason_code == ReasonCode.CONFIRMED_HERE


def test_carried_knowledge_that_no_longer_counts_is_not_used(demo, demo_user, settings):
    wide_world = demo["wide-world"]
    data = form_data(date_agreed="2024-05-01")
    confirm_acceptance(actor=demo_user("reseller"), account=wide_world, data=data, context=context())
    account = loaded(wide_world)
    settings.MCA_ATTESTATION_MIN_DATE = "2025-01-01"  # R4a moves past it
    decision = gate.check(account, NEW)
    assert decision.needed and decision.reason_code == ReasonCode.STALE_ATTESTATION


def test_knowledge_carried_for_another_key_is_not_used(demo, demo_user, django_assert_num_queries):
    """The account got a tenant after it was loaded: what it carries is the old key's, so it is read again."""
    wide_world = demo["wide-world"]
    confirm_acceptance(actor=demo_user("reseller"), account=wide_world, data=form_data(), context=context())
    account = loaded(wide_world)
    account.partner_center_tenant_id = uuid.uuid4()  # a tenant nothing is known about
    with django_assert_num_queries(1):
        assert known_acceptance(account) is None
