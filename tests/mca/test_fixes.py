"""Fixes found by an independent test run of the acceptance core: each has its failing case."""

from __future__ import annotations

import time

import pytest
from django.urls import reverse
from django.utils import timezone

from bss.choices import Operation
from bss.models import Account
from mca import gate
from mca.attestation import AcceptanceInvalid
from mca.attestation.legacy import confirm_acceptance
from mca.choices import DeliveryState, ReasonCode
from mca.delivery import deliver
from mca.models import AcceptanceDelivery, AcceptanceRecord, KnownTemplate
from mca.status import acceptance_status
from tests.mca.helpers import context, form_data
from tests.mca.test_enhanced_flow import signatory

NEW = [Operation.NEW_PURCHASE]


@pytest.mark.parametrize("value", ["no", "off", "0", "false", "", "yes", "1", 1, False, None])
def test_legacy_accept_box_counts_only_on_or_true(demo, demo_user, value):
    data = form_data(accepted=value) if value is not None else {**form_data(), "accepted": None}
    with pytest.raises(AcceptanceInvalid) as refused:
        confirm_acceptance(actor=demo_user("bss"), account=demo["litware"], data=data, context=context())
    assert "accepted" in refused.value.error_dict
    assert not AcceptanceRecord.objects.exists()


@pytest.mark.parametrize("value", ["on", True])
def test_legacy_accept_box_takes_the_checkbox_and_json_true(demo, demo_user, value):
    record = confirm_acceptance(
        actor=demo_user("bss"), account=demo["litware"], data=form_data(accepted=value), context=context()
    )
    assert record.pk


@pytest.mark.parametrize("value", ["no", "off", "0", "false", ""])
def test_enhanced_authority_box_counts_only_on_or_true(demo, demo_user, value, settings):
    settings.MCA_ATTESTATION_FLOW = "enhanced"
    with pytest.raises(AcceptanceInvalid) as refused:
        gate.submit_acceptance(
            actor=demo_user("bss"),
            account=demo["litware"],
            data=signatory(authority_confirmed=value),
            context=context(),
        )
    assert "authority_confirmed" in refused.value.error_dict
    assert not AcceptanceRecord.objects.exists()


@pytest.mark.parametrize("value", [20261120, ["2026-11-20"], {"day": 20}, 3.5])
def test_a_date_that_is_not_text_is_a_field_error(demo, demo_user, value):
    with pytest.raises(AcceptanceInvalid) as refused:
        confirm_acceptance(
            actor=demo_user("bss"), account=demo["litware"], data=form_data(date_agreed=value), context=context()
        )
    assert list(refused.value.error_dict) == ["date_agreed"]
    assert not AcceptanceRecord.objects.exists()


def test_a_legacy_confirmation_dated_before_the_minimum_is_refused_with_a_message(demo, demo_user):
    with pytest.raises(AcceptanceInvalid) as refused:
        confirm_acceptance(
            actor=demo_user("bss"), account=demo["litware"], data=form_data(date_agreed="2022-05-01"), context=context()
        )
    (message,) = refused.value.error_dict["date_agreed"][0].messages
    assert "no longer counts" in message and "01 April 2023" in message
    assert not AcceptanceRecord.objects.exists()


def test_names_are_normalised_to_nfc(demo, demo_user):
    decomposed = "Jose\u0301"
    record = confirm_acceptance(
        actor=demo_user("bss"), account=demo["litware"], data=form_data(first_name=decomposed), context=context()
    )
    assert record.first_name == "Jos\u00e9"


@pytest.fixture
def sim(pc_simulator, demo, settings):
    settings.PARTNER_CENTER_RETRY_BUDGET = 1.5
    settings.PARTNER_CENTER_READ_TIMEOUT = 0.5
    return pc_simulator


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

    decision = gate.check(fourth, NEW)
    assert decision.needed and decision.reason_code == ReasonCode.STALE_ATTESTATION
    assert "someone other than Frank Miller" in decision.reason


def test_tenant_set_in_the_admin_keeps_the_acceptance_and_sends_the_waiting_delivery(
    sim, demo, demo_user, client, django_capture_on_commit_callbacks
):
    northwind = demo["northwind"]
    record = confirm_acceptance(actor=demo_user("customer"), account=northwind, data=form_data(), context=context())
    delivery = AcceptanceDelivery.objects.get(record=record)
    assert delivery.state == DeliveryState.WAITING_FOR_CUSTOMER

    tenant = "5f0e7e5c-3c57-4d7c-9d3b-0a1f7f1e2a11"
    sim.add_customer(tenant, company_name="Northwind Traders")
    client.force_login(demo_user("admin"))
    url = reverse("admin:bss_account_change", args=[northwind.pk])
    page = client.get(url)
    form = page.context["adminform"].form
    data = {name: form[name].value() or "" for name in form.fields}
    created = timezone.localtime(northwind.created_at)
    data.update({"created_at_0": created.date().isoformat(), "created_at_1": created.strftime("%H:%M:%S")})
    data.update(
        {
            "partner_center_tenant_id": tenant,
            "contacts-TOTAL_FORMS": "0",
            "contacts-INITIAL_FORMS": "0",
            "contacts-MIN_NUM_FORMS": "0",
            "contacts-MAX_NUM_FORMS": "1000",
        }
    )
    response = client.post(url, data)
    assert response.status_code == 302, response.context["adminform"].form.errors if response.context else response

    northwind = Account.objects.get(pk=northwind.pk)
    assert str(northwind.partner_center_tenant_id) == tenant
    assert not gate.check(northwind, NEW).needed
    delivery.refresh_from_db()
    assert delivery.state == DeliveryState.SENT


def test_the_status_budget_bounds_the_whole_check(sim, demo, settings):
    """Measured before: 6.0 s with a 3 s budget while Partner Center was slow (the template lookups had their own)."""
    settings.MCA_STATUS_TIME_BUDGET = 1.0
    settings.PARTNER_CENTER_READ_TIMEOUT = 5.0
    sim.set_fault(mode="slow", latency_ms=700)
    started = time.monotonic()
    status = acceptance_status(demo["litware"])
    elapsed = time.monotonic() - started
    assert status.needed
    # One budget for everything, plus at most one connection's worth of slack.
    assert elapsed < 1.0 + 0.5, elapsed


def test_a_record_written_while_partner_center_is_down_names_the_last_known_template(sim, demo, demo_user):
    litware = demo["litware"]
    shown = acceptance_status(litware)  # Partner Center answers: the template and document are remembered
    assert shown.template is not None
    assert KnownTemplate.objects.filter(country=shown.document_country, language=shown.document_language).exists()

    sim.set_fault(mode="down")
    from django.core.cache import cache

    cache.clear()
    record = confirm_acceptance(
        actor=demo_user("bss"),
        account=litware,
        data=form_data(),
        context=context(template_id="", template_version_rank=None, document_link=""),
    )
    assert record.template_id == shown.template.template_id
    assert record.document_link == shown.document_link


def test_gate_query_counts(demo, demo_user, django_assert_num_queries, django_capture_on_commit_callbacks):
    """Exact costs: nothing for operations that never need acceptance, one query for a customer known here."""
    litware = demo["litware"]
    with django_assert_num_queries(0):
        assert not gate.check(litware, [Operation.RENEWAL, Operation.CANCELLATION]).needed
    confirm_acceptance(actor=demo_user("bss"), account=litware, data=form_data(), context=context())
    with django_assert_num_queries(1):
        assert not gate.check(litware, NEW).needed
