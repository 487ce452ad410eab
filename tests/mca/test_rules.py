"""R1 (when acceptance is needed), R4 (Cloud Agreement cut-over) and R4a (stale attestations)."""

from datetime import UTC, date, datetime

import pytest
import time_machine

from bss.choices import Operation
from mca.rules import attestation_counts, cloud_agreement_counts, requires_acceptance


@pytest.mark.parametrize(
    ("operation", "needed"),
    [
        (Operation.NEW_PURCHASE, True),
        (Operation.SEAT_INCREASE, True),
        (Operation.SEAT_DECREASE, True),
        (Operation.UPGRADE, True),
        (Operation.TERM_CHANGE, True),
        (Operation.RENEWAL, False),
        (Operation.CANCELLATION, False),
    ],
)
def test_microsoft_operations_that_need_acceptance(operation, needed):
    assert requires_acceptance(operation) is needed


@pytest.mark.parametrize("operation", Operation.values)
def test_non_microsoft_products_never_need_acceptance(operation):
    assert requires_acceptance(operation, is_microsoft=False) is False


def test_unknown_operation_is_an_error():
    with pytest.raises(ValueError, match="Unknown operation"):
        requires_acceptance("buy_everything")


CLOUD_AGREEMENT = datetime(2019, 11, 15, tzinfo=UTC)


def test_cloud_agreement_counts_until_the_last_moment_before_cutover():
    with time_machine.travel(datetime(2020, 1, 31, 23, 59, 59, tzinfo=UTC), tick=False):
        assert cloud_agreement_counts(CLOUD_AGREEMENT)


def test_cloud_agreement_stops_counting_at_the_cutover():
    with time_machine.travel(datetime(2020, 2, 1, 0, 0, 0, tzinfo=UTC), tick=False):
        assert not cloud_agreement_counts(CLOUD_AGREEMENT)


def test_cutover_is_a_setting(settings):
    settings.MCA_CLOUD_AGREEMENT_CUTOFF = "2030-01-01T00:00:00Z"
    assert cloud_agreement_counts(CLOUD_AGREEMENT)
    assert not cloud_agreement_counts(None)


def test_attestations_before_the_refresh_stop_counting():
    assert not attestation_counts(date(2023, 3, 31))
    assert attestation_counts(date(2023, 4, 1))
    assert attestation_counts(datetime(2024, 5, 10, tzinfo=UTC))


def test_empty_min_date_counts_every_attestation(settings):
    settings.MCA_ATTESTATION_MIN_DATE = ""
    assert attestation_counts(date(2019, 10, 2))
