"""seed_simulator: the simulator's half of the pinned demo, idempotent."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from django.apps import apps
from django.core import serializers

from demo.accounts import DEMO_ACCOUNTS, demo_tenant_id
from demo.simulator import MCA_TEMPLATE_ID, seed_simulator
from partner_center.simulator.models import SimAgreement, SimAgreementTemplate, SimCustomer
from partner_center.simulator.services import has_mca_acceptance

pytestmark = pytest.mark.django_db


def snapshot() -> str:
    rows = []
    for model in apps.get_app_config("pc_simulator").get_models():
        rows.extend(model.objects.order_by("pk"))
    return serializers.serialize("json", rows)


def test_seed_simulator_twice_changes_no_row():
    seed_simulator()
    first = snapshot()
    seed_simulator()
    assert snapshot() == first


def test_seed_simulator_restores_a_changed_seeded_row():
    seed_simulator()
    first = snapshot()
    SimCustomer.objects.filter(tenant_id=demo_tenant_id("litware")).update(direct_signed=True)
    seed_simulator()
    assert snapshot() == first


def test_seed_simulator_pins_the_templates():
    seed_simulator()
    mca = SimAgreementTemplate.objects.get(template_id=MCA_TEMPLATE_ID)
    assert (mca.agreement_type, mca.version_rank, mca.agreement_link) == (
        "MicrosoftCustomerAgreement",
        0,
        "https://aka.ms/customeragreement",
    )
    assert SimAgreementTemplate.objects.filter(agreement_type="MicrosoftCloudAgreement").count() == 1


def test_seed_simulator_pins_the_customers_and_their_acceptance():
    seed_simulator()
    customers = {c.tenant_id: c for c in SimCustomer.objects.all()}
    assert set(customers) == {demo_tenant_id(a.tenant) for a in DEMO_ACCOUNTS if a.tenant}
    keys = ["adventure-works", "litware", "alpine-ski-house", "coho-winery", "fourth-coffee"]
    assert not any(c.direct_signed for c in customers.values())

    def agreements(key):
        return [
            (a.agreement_type, a.date_agreed)
            for a in SimAgreement.objects.filter(customer__tenant_id=demo_tenant_id(key))
        ]

    aw = SimAgreement.objects.get(customer__tenant_id=demo_tenant_id("adventure-works"))
    assert (aw.agreement_type, aw.date_agreed, aw.first_name, aw.last_name, aw.email, aw.phone_number) == (
        "MicrosoftCustomerAgreement",
        datetime(2024, 5, 10, tzinfo=UTC),
        "Alan",
        "Brewer",
        "alan@adventure-works.example",
        "+12065550102",
    )
    assert agreements("litware") == [] and agreements("alpine-ski-house") == []
    assert agreements("coho-winery") == [("MicrosoftCloudAgreement", datetime(2019, 11, 15, tzinfo=UTC))]
    assert agreements("fourth-coffee") == [("MicrosoftCustomerAgreement", datetime(2021, 6, 15, tzinfo=UTC))]
    accepted = {key for key in keys if has_mca_acceptance(customers[demo_tenant_id(key)])}
    assert accepted == {"adventure-works"}


def test_seed_demo_command_seeds_the_simulator():
    import io

    from django.core.management import call_command

    call_command("seed_demo", stdout=io.StringIO())
    synced = {demo_tenant_id(a.tenant) for a in DEMO_ACCOUNTS if a.tenant}
    assert set(SimCustomer.objects.values_list("tenant_id", flat=True)) >= synced
    assert SimAgreementTemplate.objects.filter(template_id=MCA_TEMPLATE_ID).exists()
