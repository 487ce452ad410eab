"""The real client (partner_center.client) against the simulator over HTTP: every method, every fault mode."""

from __future__ import annotations

import time
import uuid
from datetime import UTC, datetime

import pytest

from demo.accounts import demo_tenant_id
from demo.simulator import MCA_TEMPLATE_ID, seed_simulator
from partner_center import client as client_module
from partner_center import health
from partner_center.client import transport
from partner_center.errors import (
    McaAcceptanceRequired,
    PartnerCenterNotFound,
    PartnerCenterRejected,
    PartnerCenterThrottled,
    PartnerCenterUnavailable,
)
from partner_center.simulator.models import SimAgreement, SimOrder
from partner_center.types import AgreementContact, CustomerProfile, OrderLineItem

OFFER = "CFQ7TTC0LDPB:0001"
LISA = AgreementContact("Lisa", "Andrews", "lisa@litware.example", "+442079460103")


@pytest.fixture
def pc(pc_simulator, monkeypatch):
    """The process-wide client pointed at the simulator; retry waits are recorded instead of slept."""
    seed_simulator()
    sleeps: list[float] = []
    monkeypatch.setattr(transport, "_sleep", sleeps.append)
    # Partner Center's shared health sees the waits as slept: a Retry-After waited out is over.
    monkeypatch.setattr(health, "_now", lambda: time.time() + sum(sleeps))
    client = client_module.get_client()
    assert client.base_url == pc_simulator.base_url
    client.sleeps = sleeps  # type: ignore[attr-defined]
    return client


def tenant(key: str) -> str:
    return str(demo_tenant_id(key))


def new_id() -> str:
    return str(uuid.uuid4())


def test_agreement_reads_round_trip(pc):
    current = pc.get_current_template()
    assert (current.template_id, current.version_rank) == (str(MCA_TEMPLATE_ID), 0)
    document = pc.get_agreement_document(current.template_id, "de-DE", "DE", use_cache=False)
    assert (document.language, document.country) == ("de-DE", "DE")
    assert document.display_uri and document.download_uri
    [agreement] = pc.get_customer_agreements(tenant("adventure-works"))
    assert agreement.date_agreed == datetime(2024, 5, 10, tzinfo=UTC)
    assert agreement.primary_contact.email == "alan@adventure-works.example"
    assert pc.get_customer_agreements(tenant("litware")) == []
    assert pc.get_direct_signed_status(tenant("litware")).is_signed is False


def test_published_template_becomes_current(pc, pc_simulator):
    published = pc_simulator.publish_template(1)
    pc_simulator.reset_calls()
    from django.core.cache import cache

    cache.clear()
    assert pc.get_current_template().template_id == published["templateId"]


def test_direct_signed_change_is_seen(pc, pc_simulator):
    pc_simulator.set_direct_signed(tenant("litware"), True)
    assert pc.get_direct_signed_status(tenant("litware"), use_cache=False).is_signed is True


def test_unknown_customer_is_not_found(pc):
    with pytest.raises(PartnerCenterNotFound) as caught:
        pc.get_customer_agreements(new_id())
    assert caught.value.code == "60003"


def test_order_refused_without_acceptance_then_accepted_after_confirmation(pc):
    litware = tenant("litware")
    with pytest.raises(McaAcceptanceRequired) as caught:
        pc.create_order(litware, [OrderLineItem(OFFER, 3)], new_id())
    assert caught.value.code == "13605"

    result = pc.confirm_customer_acceptance(
        litware, LISA, str(MCA_TEMPLATE_ID), datetime(2025, 11, 1, tzinfo=UTC), new_id()
    )
    assert result.already_confirmed is False and result.status_code == 201
    assert result.agreement.user_id

    order = pc.create_order(litware, [OrderLineItem(OFFER, 3)], new_id())
    assert order.status in {"pending", "completed"}
    [line] = order.line_items
    subscription = pc.get_subscription(litware, line.subscription_id)
    assert (subscription.quantity, subscription.offer_id) == (3, OFFER)
    updated = pc.update_subscription_quantity(litware, line.subscription_id, 5)
    assert updated.quantity == 5 and updated.etag != subscription.etag


def test_stale_attestation_refuses_orders(pc):
    with pytest.raises(McaAcceptanceRequired):
        pc.create_order(tenant("fourth-coffee"), [OrderLineItem(OFFER, 1)], new_id())


def test_identical_confirmation_is_already_confirmed(pc):
    alan = AgreementContact("Alan", "Brewer", "alan@adventure-works.example", "+12065550102")
    result = pc.confirm_customer_acceptance(
        tenant("adventure-works"), alan, str(MCA_TEMPLATE_ID), datetime(2025, 1, 1, tzinfo=UTC), new_id()
    )
    assert result.already_confirmed is True


def test_confirmation_retried_with_the_same_request_id_creates_one_agreement(pc):
    request_id = new_id()
    args = (tenant("litware"), LISA, str(MCA_TEMPLATE_ID), datetime(2025, 11, 1, tzinfo=UTC), request_id)
    first = pc.confirm_customer_acceptance(*args)
    again = pc.confirm_customer_acceptance(*args)
    assert first.already_confirmed is False and again.already_confirmed is False
    assert SimAgreement.objects.filter(customer__tenant_id=tenant("litware")).count() == 1


def test_create_customer_round_trip(pc):
    profile = CustomerProfile(
        domain="roundtrip",
        company_name="Round Trip",
        email="ada@roundtrip.example",
        first_name="Ada",
        last_name="Lovelace",
        country="GB",
    )
    customer = pc.create_customer(profile, new_id())
    assert customer.domain == "roundtrip.onmicrosoft.com"
    assert "userCredentials" not in customer.raw
    assert pc.get_direct_signed_status(customer.tenant_id).is_signed is False


def test_invalid_input_is_rejected(pc):
    with pytest.raises(PartnerCenterRejected) as caught:
        pc.create_order(tenant("adventure-works"), [OrderLineItem(OFFER, 0)], new_id())
    assert caught.value.code == "800002"


def test_throttle_once_is_retried_after_retry_after(pc, pc_simulator):
    pc_simulator.set_fault(mode="throttle", count=1, retry_after=2)
    assert pc.get_direct_signed_status(tenant("litware")).is_signed is False
    assert pc.sleeps == [2]
    assert pc_simulator.calls()["direct_signed_status"] == 2


def test_throttle_longer_than_the_budget_raises_throttled(pc, pc_simulator):
    pc_simulator.set_fault(mode="throttle", retry_after=3600)
    with pytest.raises(PartnerCenterThrottled) as caught:
        pc.get_direct_signed_status(tenant("litware"))
    assert caught.value.retry_after == 3600


def test_server_errors_are_retried(pc, pc_simulator):
    pc_simulator.set_fault(mode="error", status=502, count=2)
    order = pc.create_order(tenant("adventure-works"), [OrderLineItem(OFFER, 1)], new_id())
    assert order.line_items
    assert pc_simulator.calls()["orders"] == 3
    assert SimOrder.objects.count() == 1


def test_down_until_cleared_is_unavailable(pc, pc_simulator, settings):
    # Here the shared circuit (every endpoint's) opens only after more failures than one call's attempts.
    settings.PARTNER_CENTER_BREAKER_FAILURES = client_module.MAX_ATTEMPTS + 1
    pc = client_module.get_client()
    pc_simulator.set_fault(mode="down", paths="v1/customers")
    with pytest.raises(PartnerCenterUnavailable) as caught:
        pc.get_customer_agreements(tenant("litware"))
    assert caught.value.status_code == 503
    assert pc_simulator.calls()["customer_agreements"] == client_module.MAX_ATTEMPTS
    assert pc.get_current_template().version_rank == 0  # other paths unaffected


def test_slow_answer_past_the_read_timeout_is_retried(pc_simulator, settings, monkeypatch):
    seed_simulator()
    settings.PARTNER_CENTER_READ_TIMEOUT = 0.3
    monkeypatch.setattr(transport, "_sleep", lambda seconds: None)
    client = client_module.get_client()
    pc_simulator.set_fault(mode="slow", latency_ms=800, count=1)
    assert client.get_direct_signed_status(tenant("litware")).is_signed is False
    assert pc_simulator.calls()["direct_signed_status"] == 2
    # The abandoned slow request finishes before teardown: pc_simulator waits for requests in flight.
