"""Microsoft's errors in plain words with the next step, from one mapping (mca.messages): each error maps to its
message, and deliveries' and attestations' last errors read the same."""

from datetime import UTC, datetime, timedelta

import pytest
from django.utils import timezone

from mca.attestation.enhanced import _failed
from mca.choices import AttestationState, DeliveryState
from mca.delivery import _mark_failing
from mca.messages import (
    DIRECT_ACCEPTANCE_URL,
    error_text,
    problem_for,
    problem_for_attestation,
    problem_for_delivery,
    problem_for_error,
    stale_duplicate_message,
)
from mca.models import Attestation
from partner_center.errors import (
    McaAcceptanceRequired,
    PartnerCenterBadResponse,
    PartnerCenterNotFound,
    PartnerCenterRejected,
    PartnerCenterThrottled,
    PartnerCenterUnavailable,
)

pytestmark = pytest.mark.django_db


def test_600061_names_another_signatory_or_treat_as_accepted():
    problem = problem_for_error(
        PartnerCenterRejected("conflict", code="600061", status_code=409, description="already exists")
    )
    assert problem.code == "600061"
    assert problem.title == "Microsoft already holds a confirmation by this signatory for this customer."
    assert "Name another authorised signatory, or treat the customer as accepted" in problem.next_step
    assert problem.retry_at is None and "code 600061" in problem.detail


def test_600061_over_a_stale_confirmation_says_it_still_does_not_count(records):
    text = stale_duplicate_message(records[0], datetime(2021, 6, 15, tzinfo=UTC))
    assert "dated 2021-06-15, before the MCA refresh of 2023-04-01, so it still does not count" in text
    assert "other than Jane Smith" in text and DIRECT_ACCEPTANCE_URL in text
    delivery = records[0].delivery
    delivery.state, delivery.last_error = DeliveryState.REFUSED, text
    problem = problem_for_delivery(delivery)
    assert problem.code == "600061_stale" and "still does not count" in str(problem)
    assert problem.link == DIRECT_ACCEPTANCE_URL


def test_13605_says_there_is_no_current_mca_and_links_where_to_accept():
    problem = problem_for_error(McaAcceptanceRequired("refused", code="13605", status_code=403))
    assert problem.code == "13605"
    assert "the customer has no current Microsoft Customer Agreement acceptance" in problem.title
    assert DIRECT_ACCEPTANCE_URL in problem.next_step and problem.link == DIRECT_ACCEPTANCE_URL
    assert problem.as_dict()["link"] == DIRECT_ACCEPTANCE_URL
    # A plain 403 rejection carrying the code reads the same.
    assert problem_for_error(PartnerCenterRejected("no", code="13605", status_code=403)).code == "13605"


def test_an_expired_link_says_send_a_new_one(records):
    attestation = Attestation.objects.create(
        account=records[0].account,
        key="account:1",
        form_record=records[0],
        state=AttestationState.EXPIRED,
        request_id="00000000-0000-0000-0000-000000000001",
        signatory_name="Jane Smith",
        signatory_email="jane@example.com",
    )
    problem = problem_for_attestation(attestation)
    assert str(problem) == "The signatory's acceptance link expired before it was used. Send a new link."
    assert problem_for("link_expired") == problem


def test_throttling_says_when_it_is_tried_again():
    before = timezone.now()
    problem = problem_for_error(PartnerCenterThrottled("429", retry_after=120, status_code=429))
    assert problem.code == "throttled" and problem.title == "Partner Center is throttling requests."
    assert timedelta(seconds=119) <= problem.retry_at - before <= timedelta(seconds=125)
    assert f"It will be tried again automatically at {problem.retry_at:%Y-%m-%d %H:%M} UTC." == problem.next_step
    assert problem.as_dict()["retry_at"] == problem.retry_at.isoformat()


@pytest.mark.parametrize(
    "error, code, title",
    [
        (PartnerCenterUnavailable("down"), "unavailable", "Partner Center could not be reached."),
        (PartnerCenterUnavailable("slow", timed_out=True), "timed_out", "Partner Center did not answer in time."),
        (PartnerCenterBadResponse("garbled"), "bad_response", "Partner Center's answer could not be read."),
        (PartnerCenterNotFound("no", code="60003", status_code=404), "unknown_customer", "does not know"),
        (PartnerCenterRejected("no", code="1234", status_code=400), "rejected", "Partner Center refused"),
    ],
)
def test_other_errors_map_to_their_message(error, code, title):
    problem = problem_for_error(error)
    assert problem.code == code and title in problem.title and problem.next_step


def test_a_failing_delivery_keeps_the_plain_message_and_reads_back_the_same(records):
    delivery = records[0].delivery
    delivery.attempts = 1
    _mark_failing(delivery, PartnerCenterThrottled("Too many requests", retry_after=600, status_code=429))
    delivery.refresh_from_db()
    assert delivery.state == DeliveryState.FAILING
    assert delivery.last_error.startswith("Partner Center is throttling requests. It will be tried again automatically")
    assert delivery.last_error.endswith("[PartnerCenterThrottled: Too many requests [HTTP 429]]")
    problem = problem_for_delivery(delivery)
    assert problem.code == "throttled" and problem.retry_at == delivery.next_attempt_at
    assert f"{delivery.next_attempt_at:%Y-%m-%d %H:%M}" in str(problem)


def test_an_older_technical_last_error_still_maps(records):
    delivery = records[0].delivery
    delivery.state, delivery.last_error = DeliveryState.FAILING, "McaAcceptanceRequired: refused (code 13605)"
    assert problem_for_delivery(delivery).code == "13605"
    delivery.last_error = "PartnerCenterUnavailable: connection refused"
    assert problem_for_delivery(delivery).code == "unavailable"


def test_a_failing_attestation_keeps_the_plain_message(records):
    attestation = Attestation.objects.create(
        account=records[0].account,
        key="account:1",
        form_record=records[0],
        state=AttestationState.CREATING,
        request_id="00000000-0000-0000-0000-000000000002",
        signatory_name="Jane Smith",
        signatory_email="jane@example.com",
        attempts=1,
    )
    _failed(attestation, PartnerCenterUnavailable("connection refused"))
    attestation.refresh_from_db()
    assert attestation.last_error == (
        f"Partner Center could not be reached. It will be tried again automatically at "
        f"{timezone.localtime(attestation.next_check_at):%Y-%m-%d %H:%M} UTC. "
        "[PartnerCenterUnavailable: connection refused]"
    )
    assert problem_for_attestation(attestation).code == "unavailable"
    assert error_text(PartnerCenterUnavailable("x")).startswith("Partner Center could not be reached.")


def test_nothing_wrong_is_no_problem(records):
    assert problem_for_delivery(records[0].delivery) is None
