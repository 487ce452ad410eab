"""Bugs found by independent scenario runs (issue 20, "What was seen" 4), each reproduced as it was seen."""

from __future__ import annotations

import pytest
import requests
from django.contrib.messages import get_messages

from bss.choices import OrderStatus
from bss.services import execution
from mca import gate
from mca.choices import ReasonCode
from tests.bss.conftest import make_order, signatory_data

pytestmark = pytest.mark.django_db(transaction=True)
NEW = ["new_purchase"]


@pytest.fixture
def sim(pc_simulator, demo, settings):
    settings.PARTNER_CENTER_RETRY_BUDGET = 1.5
    settings.PARTNER_CENTER_READ_TIMEOUT = 0.5
    settings.MCA_STATUS_TIME_BUDGET = 2.0
    settings.MCA_ATTESTATION_POLL_SECONDS = 0
    return pc_simulator


def test_emptying_the_min_date_while_a_stale_answer_is_remembered_does_not_fail_the_gate(sim, demo, settings):
    """Fourth Coffee's only confirmation (2021) is stale; Partner Center's "not accepted" is remembered for
    MCA_NOT_ACCEPTED_TTL. Emptying MCA_ATTESTATION_MIN_DATE ("every attestation counts") then raised TypeError in
    `_stale_reason` for every channel until the cache expired. Now the remembered answer is obsolete: Partner
    Center is asked again and its 2021 confirmation counts."""
    settings.MCA_NOT_ACCEPTED_TTL = 600
    fourth = demo["fourth-coffee"]
    assert gate.check(fourth, NEW).reason_code == ReasonCode.STALE_ATTESTATION

    settings.MCA_ATTESTATION_MIN_DATE = ""
    decision = gate.check(fourth, NEW)

    assert not decision.needed and decision.reason_code == ReasonCode.PARTNER_CENTER_ATTESTATION


def test_check_now_decides_on_the_account_as_provisioning_left_it(sim, demo, demo_user, client, settings):
    """Northwind (not synced) has an order held for its signatory, who has just accepted. BSS "Check now" releases
    and provisions the order in that request (provisioning gives the account its tenant), and then told staff
    "the MCA must be accepted before the first Microsoft order": it decided on the account loaded before."""
    settings.MCA_ATTESTATION_FLOW = "enhanced"
    northwind = demo["northwind"]
    order = make_order(northwind, "MS-M365-E3", 4)
    result = execution.execute_order(
        actor=demo_user("bss"),
        order=order,
        acceptance=signatory_data("Northwind Traders"),
        context=gate.ConfirmationContext(channel="bss_execution"),
    )
    assert result.held and requests.post(result.outcome.link, timeout=10).status_code == 200

    client.force_login(demo_user("bss"))
    response = client.post(f"/bss/accounts/{northwind.pk}/check-now/")

    order.refresh_from_db()
    assert order.status == OrderStatus.PROVISIONED, order.last_error
    said = [str(message) for message in get_messages(response.wsgi_request)]
    assert len(said) == 1 and "were released" in said[0], said
    assert "must be accepted" not in said[0]
