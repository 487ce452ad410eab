"""The defensive readers behind the client: dates, error bodies, collections."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from partner_center import parsing
from partner_center.errors import PartnerCenterBadResponse


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2019-08-26T00:00:00", datetime(2019, 8, 26, tzinfo=UTC)),
        ("2018-06-14T00:00:00.000Z", datetime(2018, 6, 14, tzinfo=UTC)),
        ("2019-08-26T10:11:12.1234567Z", datetime(2019, 8, 26, 10, 11, 12, 123456, tzinfo=UTC)),
        ("2019-08-26T02:00:00+02:00", datetime(2019, 8, 26, tzinfo=UTC)),
        ("2019-08-26T02:00:00.1234567+02:00", datetime(2019, 8, 26, 0, 0, 0, 123456, tzinfo=UTC)),
    ],
)
def test_dates_are_aware_and_utc_when_microsoft_sends_no_offset(text, expected):
    parsed = parsing.parse_datetime(text)
    assert parsed == expected
    assert parsed.tzinfo is not None


@pytest.mark.parametrize("value", [None, "", "yesterday", "26/08/2019", 20190826, ["2019-08-26"]])
def test_unreadable_dates_are_bad_responses(value):
    with pytest.raises(PartnerCenterBadResponse):
        parsing.parse_datetime(value)


def test_dates_are_sent_in_microsofts_sample_format():
    when = datetime(2018, 6, 14, 1, 2, 3, 456789, tzinfo=timezone(timedelta(hours=1)))
    assert parsing.format_datetime(when) == "2018-06-14T00:02:03.456Z"


def test_a_naive_date_is_refused_rather_than_guessed():
    with pytest.raises(ValueError, match="timezone-aware"):
        parsing.format_datetime(datetime(2018, 6, 14))


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        (b'{"code": "600061", "description": "exists"}', ("600061", "exists")),
        (b'{"code": 600061, "description": "exists"}', ("600061", "exists")),
        (b'{"code": 13605.0, "description": "MCA"}', ("13605", "MCA")),
        (b'{"statusCode": 429, "message": "Rate limit is exceeded."}', ("", "Rate limit is exceeded.")),
        (b'{"code": {"nested": 1}, "description": 7}', ("", "7")),
        (b"<html>502</html>", ("", "")),
        (b"[1]", ("", "")),
        (b"", ("", "")),
    ],
)
def test_error_bodies_of_any_shape_give_a_string_code(body, expected):
    code, description, _raw = parsing.parse_error(body)
    assert (code, description) == expected


def test_an_empty_collection_may_omit_items():
    assert parsing.parse_customer_agreements({"totalCount": 0}) == []


def test_customer_answer_never_keeps_user_credentials():
    body = {"id": "t", "userCredentials": {"userName": "admin", "password": "secret"}}
    customer = parsing.parse_customer(body)
    assert customer.raw == {"id": "t"}
    assert "userCredentials" in body  # the caller's dict is not modified
