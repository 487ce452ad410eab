"""Accounts, the MCA status, submitting the acceptance, the log: scoping per role, strict input."""

from datetime import timedelta

import pytest
from django.utils import timezone

from mca.attestation.legacy import confirm_acceptance
from mca.models import AcceptanceRecord, Attestation
from tests.api.conftest import ENHANCED, LEGACY, assert_problem
from tests.mca.helpers import context, form_data

CONTOSO = {"Adventure Works", "Alpine Ski House", "Litware", "Proseware", "Wide World Importers"}


def names(response) -> set[str]:
    assert response.status_code == 200, response.content
    return {item["name"] for item in response.json()["results"]}


@pytest.mark.parametrize(
    ("username", "expected"),
    [
        ("customer", {"Northwind Traders"}),
        ("reseller", CONTOSO),
        ("wl-bss", {"Tailspin Toys", "Alpine Ski House", "Trey Research"}),
    ],
)
def test_accounts_are_scoped_to_the_caller(api, username, expected):
    assert names(api(username).get("/api/v1/accounts/")) == expected


def test_csp_staff_see_every_account(api, demo):
    assert names(api("bss").get("/api/v1/accounts/?page_size=200")) == {account.name for account in demo.values()}


def test_account_detail_and_another_tenants_account_is_404(api, demo):
    client = api("reseller")
    assert client.get(f"/api/v1/accounts/{demo['litware'].pk}/").json()["name"] == "Litware"
    for key in ("northwind", "tailspin"):
        assert_problem(client.get(f"/api/v1/accounts/{demo[key].pk}/"), 404, "not_found")
        assert_problem(client.get(f"/api/v1/accounts/{demo[key].pk}/mca/"), 404, "not_found")


def test_mca_status_of_a_new_customer_says_why_and_gives_the_form(api, demo):
    body = api("customer").get(f"/api/v1/accounts/{demo['northwind'].pk}/mca/").json()
    assert body["needed"] is True
    assert body["reason_code"] == "new_customer" and body["reason"]
    assert body["flow"] == "enhanced" and body["pending_attestation"] is None
    assert body["may_confirm"] is True
    assert body["acceptance_url"].endswith(f"/api/v1/accounts/{demo['northwind'].pk}/mca/acceptances/")
    fields = {field["name"]: field for field in body["form"]}
    assert fields["authority_confirmed"]["type"] == "boolean"
    assert fields["company_name"]["initial"] == "Northwind Traders"
    assert "I am authorised" in fields["authority_confirmed"]["label"]  # worded for the customer


def test_enhanced_acceptance_is_202_with_the_pending_attestation(api, demo):
    account = demo["northwind"]
    response = api("customer").post(f"/api/v1/accounts/{account.pk}/mca/acceptances/", ENHANCED, format="json")
    assert response.status_code == 202, response.content
    body = response.json()
    assert body["kind"] == "pending_signatory" and body["accepted"] is False
    # The link reaches the signatory only (issue 17, item 6): the caller, not the signatory, sees a masked address.
    assert body["attestation"]["signatory_email"] == "j****@northwind.example"
    assert body["attestation"]["link"] is None
    assert body["record"]["channel"] == "api" and body["record"]["evidence_class"] == "first_party"
    assert AcceptanceRecord.objects.filter(account=account).count() == 1
    status = api("customer").get(f"/api/v1/accounts/{account.pk}/mca/").json()
    assert status["pending_attestation"]["signatory_email"] == "j****@northwind.example"
    assert status["mca_state"]["code"] == "pending"


def test_company_name_may_be_left_out_and_is_taken_from_the_form(api, demo):
    data = {key: value for key, value in ENHANCED.items() if key != "company_name"}
    response = api("bss").post(f"/api/v1/accounts/{demo['northwind'].pk}/mca/acceptances/", data, format="json")
    assert response.status_code == 202, response.content
    assert response.json()["record"]["signatory_company"] == "Northwind Traders"


def test_legacy_acceptance_is_201_with_the_record_and_counts_at_once(api, demo, settings):
    settings.MCA_ATTESTATION_FLOW = "legacy"
    account = demo["northwind"]
    response = api("bss").post(f"/api/v1/accounts/{account.pk}/mca/acceptances/", LEGACY, format="json")
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["kind"] == "accepted" and body["record"]["date_agreed"] == "2026-01-20"
    assert body["attestation"] is None
    assert api("bss").get(f"/api/v1/accounts/{account.pk}/mca/").json()["needed"] is False


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("accepted", "no"),
        ("accepted", "on"),
        ("accepted", 1),
        ("accepted", False),
        ("date_agreed", 20260120),
        ("date_agreed", "2999-01-01"),
        ("date_agreed", "not a date"),
        ("first_name", 5),
        ("first_name", "<script>"),
        ("email", ["a@example.com"]),
        ("email", "not-an-email"),
        ("phone", {"number": "1"}),
    ],
)
def test_bad_legacy_field_is_a_400_on_that_field_and_writes_nothing(api, demo, settings, field, value):
    settings.MCA_ATTESTATION_FLOW = "legacy"
    data = {**LEGACY, field: value}
    response = api("bss").post(f"/api/v1/accounts/{demo['northwind'].pk}/mca/acceptances/", data, format="json")
    body = assert_problem(response, 400, "validation_error")
    assert list(body["errors"]) == [field]
    assert not AcceptanceRecord.objects.exists()


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("authority_confirmed", "yes"),
        ("authority_confirmed", None),
        ("signatory_email", 42),
        ("signatory_first_name", ""),
        ("company_name", 7),
        ("company_name", "Evil <b>Corp</b>"),
    ],
)
def test_bad_enhanced_field_is_a_400_on_that_field_and_writes_nothing(api, demo, field, value):
    data = {**ENHANCED, field: value}
    response = api("bss").post(f"/api/v1/accounts/{demo['northwind'].pk}/mca/acceptances/", data, format="json")
    body = assert_problem(response, 400, "validation_error")
    assert list(body["errors"]) == [field]
    assert not AcceptanceRecord.objects.exists() and not Attestation.objects.exists()


def test_unknown_field_and_non_object_body_are_400(api, demo):
    url = f"/api/v1/accounts/{demo['northwind'].pk}/mca/acceptances/"
    body = assert_problem(api("bss").post(url, {**ENHANCED, "acepted": True}, format="json"), 400, "validation_error")
    assert body["errors"] == {"acepted": ["Unknown field."]}
    assert_problem(api("bss").post(url, [ENHANCED], format="json"), 400, "validation_error")
    assert not AcceptanceRecord.objects.exists()


def test_acceptance_for_another_tenants_customer_is_404_and_writes_nothing(api, demo):
    for username, key in [("reseller", "tailspin"), ("wl-bss", "litware"), ("customer", "blue-yonder")]:
        response = api(username).post(f"/api/v1/accounts/{demo[key].pk}/mca/acceptances/", ENHANCED, format="json")
        assert_problem(response, 404, "not_found")
    assert not AcceptanceRecord.objects.exists()


def test_resend_link_without_a_link_is_400_and_after_submission_issues_a_new_one(api, demo):
    account = demo["northwind"]
    client = api("bss")
    assert_problem(client.post(f"/api/v1/accounts/{account.pk}/mca/resend-link/"), 400, "validation_error")
    client.post(f"/api/v1/accounts/{account.pk}/mca/acceptances/", ENHANCED, format="json")
    response = client.post(f"/api/v1/accounts/{account.pk}/mca/resend-link/")
    assert response.status_code == 202, response.content
    assert Attestation.objects.filter(account=account).count() == 2
    assert_problem(api("reseller").post(f"/api/v1/accounts/{account.pk}/mca/resend-link/"), 404, "not_found")


# --- the log -------------------------------------------------------------------------------------------------


@pytest.fixture
def two_records(api, demo, settings):
    settings.MCA_ATTESTATION_FLOW = "legacy"
    api("bss").post(f"/api/v1/accounts/{demo['northwind'].pk}/mca/acceptances/", LEGACY, format="json")
    api("reseller").post(f"/api/v1/accounts/{demo['wide-world'].pk}/mca/acceptances/", LEGACY, format="json")
    assert AcceptanceRecord.objects.count() == 2
    return AcceptanceRecord.objects.order_by("sequence")


def test_log_is_scoped_to_the_caller(api, two_records, demo):
    northwind, wide_world = two_records
    assert [r["id"] for r in api("customer").get("/api/v1/mca/acceptances/").json()["results"]] == [northwind.pk]
    assert [r["id"] for r in api("reseller").get("/api/v1/mca/acceptances/").json()["results"]] == [wide_world.pk]
    assert api("wl-bss").get("/api/v1/mca/acceptances/").json()["results"] == []
    everything = api("bss").get("/api/v1/mca/acceptances/").json()["results"]
    assert [r["id"] for r in everything] == [wide_world.pk, northwind.pk]  # newest first
    assert_problem(api("customer").get(f"/api/v1/mca/acceptances/{wide_world.pk}/"), 404, "not_found")
    detail = api("reseller").get(f"/api/v1/mca/acceptances/{wide_world.pk}/").json()
    assert detail["account_name"] == "Wide World Importers" and "delivery" in detail


def test_log_filters_by_account_channel_and_date(api, two_records, demo):
    northwind, _ = two_records
    client = api("bss")
    by_account = client.get(f"/api/v1/mca/acceptances/?account={demo['northwind'].pk}").json()["results"]
    assert [r["id"] for r in by_account] == [northwind.pk]
    assert len(client.get("/api/v1/mca/acceptances/?channel=api").json()["results"]) == 2
    assert client.get("/api/v1/mca/acceptances/?channel=storefront").json()["results"] == []
    tomorrow = (timezone.now() + timedelta(days=1)).isoformat()
    assert client.get("/api/v1/mca/acceptances/", {"created_after": tomorrow}).json()["results"] == []
    assert len(client.get("/api/v1/mca/acceptances/", {"created_before": tomorrow}).json()["results"]) == 2


@pytest.mark.parametrize("query", ["account=abc", "channel=fax", "created_after=yesterday", "colour=red"])
def test_log_bad_filter_is_400(api, demo, query):
    body = assert_problem(api("bss").get(f"/api/v1/mca/acceptances/?{query}"), 400, "validation_error")
    assert list(body["errors"]) == [query.split("=")[0]]


def test_log_pages_with_a_cursor(api, two_records):
    client = api("bss")
    first = client.get("/api/v1/mca/acceptances/?page_size=1").json()
    assert len(first["results"]) == 1 and first["next"]
    second = client.get(first["next"]).json()
    assert len(second["results"]) == 1 and second["results"][0]["id"] != first["results"][0]["id"]
    assert second["next"] is None


# The log list's whole cost, whatever the number of records on the page: the token with its user, the user's
# membership, the page of records with their deliveries.
LOG_LIST_QUERIES = 3


def test_log_list_query_count_does_not_grow_with_records(api, two_records, demo, demo_user, django_assert_num_queries):
    client = api("bss")
    client.get("/api/v1/mca/acceptances/")  # warm the content-type and permission caches
    with django_assert_num_queries(LOG_LIST_QUERIES):
        two = client.get("/api/v1/mca/acceptances/")
    # 18 more, across two accounts and two actors, so a query per record, per account or per actor would show.
    for _ in range(9):
        confirm_acceptance(actor=demo_user("bss"), account=demo["northwind"], data=form_data(), context=context())
        confirm_acceptance(actor=demo_user("reseller"), account=demo["wide-world"], data=form_data(), context=context())
    with django_assert_num_queries(LOG_LIST_QUERIES):
        twenty = client.get("/api/v1/mca/acceptances/")
    assert len(two.json()["results"]) == 2 and len(twenty.json()["results"]) == 20
