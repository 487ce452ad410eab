"""The readiness page /bss/mca/, its CSV and the daily digest (issue 19, items 1 and 5): state per kind, scoping per
role (a reseller's staff asking for another reseller's customers by filter or URL), a fixed number of queries."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime, timedelta

import pytest
from django.conf import settings as django_settings
from django.core.management import call_command
from django.urls import reverse

from bss.models import Account
from bss.services import readiness
from mca import gate
from mca.choices import AcceptanceKind
from mca.knowledge import knowledge_key, remember_acceptance
from mca.state import McaState
from tests.bss.conftest import make_order
from tests.mca.test_state import _link

URL = reverse("bss:readiness")
CSV_URL = reverse("bss:readiness-csv")


@pytest.fixture
def portfolio(demo, demo_user, enhanced, settings):
    """The demo customers in every state, and the stored readiness counted."""
    settings.MCA_ATTESTATION_MIN_DATE = "2023-04-01"
    remember_acceptance(
        key=knowledge_key(demo["blue-yonder"]),
        kind=AcceptanceKind.DIRECT_AT_MICROSOFT,
        accepted_at=datetime(2026, 1, 2, tzinfo=UTC),
        verified=True,
    )
    remember_acceptance(
        key=knowledge_key(demo["proseware"]),
        kind=AcceptanceKind.PARTNER_CENTER_ATTESTATION,
        accepted_at=datetime(2022, 5, 1, tzinfo=UTC),
    )
    _link(demo_user, demo["litware"], expires_in=timedelta(days=3))
    _link(demo_user, demo["adventure-works"], expires_in=timedelta(seconds=-1))
    gate.refresh_readiness()
    return demo


def _signed_in(client, demo_user, username):
    client.force_login(demo_user(username))
    return client


def _listed(response) -> dict[str, str]:
    """Customer name -> the MCA state code its row shows."""
    return {row.account.name: str(row.state.code) for row in response.context["rows"]}


def _csv(response) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(b"".join(response.streaming_content).decode())))


def test_each_state_and_the_refusals_beside_each_customer(client, demo_user, portfolio):
    response = _signed_in(client, demo_user, "bss").get(URL)
    assert response.status_code == 200
    listed = _listed(response)
    assert listed["Northwind Traders"] == McaState.REQUIRED
    assert listed["Blue Yonder Airlines"] == McaState.ACCEPTED
    assert listed["Proseware"] == McaState.STALE
    assert listed["Litware"] == McaState.PENDING
    assert listed["Adventure Works"] == McaState.EXPIRED
    assert listed["Trey Research"] == McaState.UNKNOWN
    html = response.content.decode()
    assert 'data-mca-state="expired"' in html and "verified" in html
    # Beside Litware: its open order, its scheduled seat change, and its renewal with more seats, all at risk.
    litware = next(row for row in response.context["rows"] if row.account.name == "Litware")
    assert {refusal.change.kind for refusal in litware.outlook.refusals} == {"order", "seat_change", "renewal"}
    blue = next(row for row in response.context["rows"] if row.account.name == "Blue Yonder Airlines")
    assert blue.outlook.changes and not blue.outlook.refusals  # accepted: its renewal with more seats goes through
    counts = response.context["counts"]
    assert counts.total == len(portfolio) and counts.by_state[McaState.STALE] == 1
    assert reverse("bss:readiness") in html  # linked from the BSS navigation


def test_filters_state_owner_at_risk_and_search(client, demo_user, portfolio):
    client = _signed_in(client, demo_user, "bss")
    assert set(_listed(client.get(URL, {"state": "stale"}))) == {"Proseware"}
    fabrikam = portfolio["trey"].reseller_id
    assert set(_listed(client.get(URL, {"reseller": fabrikam}))) == {
        "Tailspin Toys",
        "Alpine Ski House",
        "Trey Research",
    }
    assert set(_listed(client.get(URL, {"reseller": "csp"}))) == {
        account.name for account in Account.objects.filter(reseller__isnull=True)
    }
    at_risk = _listed(client.get(URL, {"at_risk": "on"}))
    assert {"Litware", "Proseware", "Trey Research"} <= set(at_risk) and "Blue Yonder Airlines" not in at_risk
    assert set(_listed(client.get(URL, {"q": "proseW"}))) == {"Proseware"}
    bad = client.get(URL, {"state": "nonsense"})
    assert bad.status_code == 400 and "state" in bad.context["form"].errors and bad.context["rows"] == []


def test_white_label_staff_see_only_their_customers_and_cannot_ask_for_another_resellers(client, demo_user, portfolio):
    assert _signed_in(client, demo_user, "bss").get(URL).context["counts"].total == len(portfolio)  # cached
    client = _signed_in(client, demo_user, "wl-bss")  # Fabrikam's staff: never the CSP's cached counts
    fabrikam = {"Tailspin Toys", "Alpine Ski House", "Trey Research"}
    response = client.get(URL)
    assert set(_listed(response)) == fabrikam and response.context["counts"].total == 3
    assert [owner["name"] for owner in response.context["counts"].by_owner] == ["Fabrikam Cloud"]
    contoso = portfolio["litware"].reseller_id
    for query in ({"reseller": contoso}, {"reseller": "csp"}):
        crossed = client.get(URL, query)
        assert crossed.status_code == 400 and crossed.context["rows"] == []
        assert client.get(CSV_URL, query).status_code == 400
    assert set(_listed(client.get(URL, {"q": "Litware"}))) == set()  # search stays within the scope
    rows = _csv(client.get(CSV_URL))
    assert {row["Customer"] for row in rows} == fabrikam


def test_customers_and_resellers_outside_the_bss_are_refused(client, demo_user, portfolio):
    for username in ("reseller", "customer"):
        client.force_login(demo_user(username))
        assert client.get(URL).status_code == 403 and client.get(CSV_URL).status_code == 403
    client.logout()
    assert client.get(CSV_URL).status_code == 302


def test_csv_has_every_visible_customer_with_its_state_and_refusals(client, demo_user, portfolio):
    rows = _csv(_signed_in(client, demo_user, "bss").get(CSV_URL, {"state": "pending"}))
    assert [row["Customer"] for row in rows] == ["Litware"]
    litware = rows[0]
    assert litware["MCA state"] == "pending" and litware["Owner"] == "Contoso Reseller"
    assert litware["Open orders"] == "1" and litware["Scheduled seat changes"] == "1"
    assert litware["Refusals predicted"] == "3" and "Auto-renewal" in litware["Refusals"]
    everyone = _csv(client.get(CSV_URL))
    assert len(everyone) == len(portfolio)


def test_a_customer_name_never_becomes_a_spreadsheet_formula(client, demo_user, portfolio):
    Account.objects.filter(pk=portfolio["northwind"].pk).update(name="=HYPERLINK(1)")
    rows = _csv(_signed_in(client, demo_user, "bss").get(CSV_URL, {"q": "HYPERLINK"}))
    assert [row["Customer"] for row in rows] == ["'=HYPERLINK(1)"]


def test_the_page_costs_a_fixed_number_of_queries(client, demo_user, portfolio, django_assert_num_queries):
    client = _signed_in(client, demo_user, "bss")
    client.get(URL)  # warm the session
    # session, user, membership; page rows (its ids in a subquery); states_for (knowledge, links); planned changes
    # (orders, lines, seat changes, renewals); the counts (grouped counts, resellers' names) are cached from the
    # warm-up, and the page's total is read from them: no COUNT(*)
    with django_assert_num_queries(10):
        few = client.get(URL)
    contoso = portfolio["litware"].reseller
    for query in ({"at_risk": "on"}, {"reseller": contoso.pk, "state": "pending", "at_risk": "on"}):  # Litware's order
        with django_assert_num_queries(10):
            client.get(URL, query)
    with django_assert_num_queries(11):  # a search is counted (the counts do not hold it)
        client.get(URL, {"q": "a"})
    for n in range(40):
        account = Account.objects.create(name=f"Extra {n:02d}", reseller=contoso)
        make_order(account)
    gate.refresh_readiness()  # the stored readiness changed: the counts are made again (2 more queries)
    with django_assert_num_queries(12):
        more = client.get(URL)
    assert len(more.context["rows"]) == 50 > len(few.context["rows"])
    assert more.context["counts"].total == few.context["counts"].total + 40
    page_2 = client.get(URL, {"page": "2"})
    listed = [row.account.name for row in more.context["rows"] + page_2.context["rows"]]
    assert listed == list(Account.objects.order_by("name", "pk").values_list("name", flat=True))


@pytest.mark.parametrize("role", ["bss", "wl-bss"])
def test_each_filters_total_from_the_counts_is_what_the_filter_matches(client, demo_user, portfolio, role):
    """The total of a page without search comes from the cached counts: it must be what the filter matches."""
    client = _signed_in(client, demo_user, role)
    counts = client.get(URL).context["counts"]
    user = demo_user(role)
    owners = ["", *(str(owner["id"]) for owner in counts.by_owner)]
    states = ["", *counts.by_state]
    checked = 0
    for reseller in owners:
        for state in states:
            for at_risk in (False, True):
                filters = readiness.ReadinessFilters(state=state, reseller=reseller, at_risk=at_risk)
                expected = readiness.accounts_for(user, filters).count()
                assert readiness.known_count(counts, filters) == expected, filters
                query = {"state": state, "reseller": reseller} | ({"at_risk": "on"} if at_risk else {})
                page = client.get(URL, query).context["page"]
                assert page.paginator.count == expected and len(page.object_list) == min(expected, 50), filters
                checked += expected
    assert checked > 0
    assert readiness.known_count(counts, readiness.ReadinessFilters(q="a")) is None  # a search is counted


def test_search_pages_through_its_matches_by_name(client, demo_user, portfolio):
    client = _signed_in(client, demo_user, "bss")
    contoso = portfolio["litware"].reseller
    Account.objects.bulk_create(Account(name=f"Lumen {n:03d}", reseller=contoso) for n in range(60, 0, -1))
    first, second = client.get(URL, {"q": "lumen"}), client.get(URL, {"q": "lumen", "page": "2"})
    assert first.context["page"].paginator.count == 60
    listed = [row.account.name for row in first.context["rows"] + second.context["rows"]]
    assert listed == [f"Lumen {n:03d}" for n in range(1, 61)]
    short = client.get(URL, {"q": "00"})  # shorter than a trigram: walked in the name index, same order
    assert [row.account.name for row in short.context["rows"]] == [f"Lumen {n:03d}" for n in range(1, 10)]


def test_the_digest_goes_to_each_role_with_its_own_customers_only(demo_user, portfolio, mailoutbox):
    sent = call_command("mca_readiness_digest")
    assert sent is None and len(mailoutbox) >= 3
    by_recipient = {message.to[0]: message.body for message in mailoutbox}
    csp = by_recipient["bss@demo.example"]
    contoso = by_recipient["reseller@demo.example"]  # Contoso's reseller user
    fabrikam = by_recipient["wl-bss@demo.example"]  # Fabrikam's white-label staff
    assert "Litware" in csp and "Trey Research" in csp and "Proseware" in csp
    assert "Litware" in contoso and "Proseware" in contoso and "Trey Research" not in contoso
    assert "Trey Research" in fabrikam and "Litware" not in fabrikam and "Proseware" not in fabrikam
    assert "Blue Yonder Airlines" not in csp  # accepted: nothing it plans is refused
    assert "fails on" in contoso and "/bss/mca/?at_risk=on" in contoso
    assert not {"customer@demo.example", "by-customer@demo.example"} & set(by_recipient)  # customers get none


def test_the_digest_is_scheduled_daily():
    entry = django_settings.CELERY_BEAT_SCHEDULE["mca-readiness-digest"]
    assert entry["task"] == "bss.tasks.send_readiness_digest_task"
    assert entry["schedule"].hour == {6} and entry["schedule"].minute == {0}
