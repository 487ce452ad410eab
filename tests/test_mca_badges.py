"""The MCA state badge on every list and page (issue 18), and what lists cost: a fixed number of queries whatever
the number of customers, never a Partner Center call per row."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from bss.models import Account
from mca.choices import AcceptanceKind
from mca.knowledge import knowledge_key, remember_acceptance
from tests.factories import AccountFactory


@pytest.fixture(autouse=True)
def _no_partner_center(settings):
    # No simulator runs here: a page that asked Partner Center would fail fast (and lists must not ask at all).
    settings.PARTNER_CENTER_RETRY_BUDGET = 0.2
    settings.MCA_STATUS_TIME_BUDGET = 0.2


def _accept(account) -> None:
    remember_acceptance(key=knowledge_key(account), kind=AcceptanceKind.CONFIRMED_HERE, accepted_at=timezone.now())


def _queries(client, url: str) -> tuple[int, str]:
    client.get(url)  # warm caches (content types, sessions)
    with CaptureQueriesContext(connection) as queries:
        response = client.get(url)
    assert response.status_code == 200
    return len(queries), response.content.decode()


def _more_customers(demo, reseller: str = "contoso", n: int = 15) -> None:
    owner = demo["litware"].reseller if reseller == "contoso" else None
    for index in range(n):
        account = AccountFactory(reseller=owner, name=f"Extra {index:02d}")
        if index % 2:
            _accept(account)


def test_bss_customer_list_shows_badges_in_a_fixed_number_of_queries(client, demo, demo_user):
    _accept(demo["northwind"])
    client.force_login(demo_user("bss"))
    before, page = _queries(client, "/bss/accounts/")
    assert 'data-mca-state="accepted"' in page and 'data-mca-state="required"' in page
    assert "Acceptance link out" not in page
    _more_customers(demo)
    after, page = _queries(client, "/bss/accounts/")
    assert after == before
    assert page.count("data-mca-state=") == min(Account.objects.count(), 50)


def test_bss_dashboard_badges_the_customers_it_lists(client, demo, demo_user):
    client.force_login(demo_user("bss"))
    _, page = _queries(client, "/bss/")
    assert "Pending attestations" not in page
    assert "mca-badge" in page  # the demo's placed and held orders name their customers' state


def test_reseller_customer_picker_shows_badges_in_a_fixed_number_of_queries(client, demo, demo_user):
    from bss.models import Product

    client.force_login(demo_user("reseller"))
    product = Product.objects.filter(vendor="microsoft").first()
    client.post("/store/", {"product": product.pk, "quantity": 1})
    before, page = _queries(client, "/store/checkout/")
    assert 'data-mca-state="' in page
    _more_customers(demo)
    after, page = _queries(client, "/store/checkout/")
    assert after == before
    assert page.count("data-mca-state=") == Account.objects.filter(reseller=demo["litware"].reseller).count()


def test_my_agreements_shows_each_customers_state(client, demo, demo_user):
    _accept(demo["litware"])
    client.force_login(demo_user("reseller"))
    before, page = _queries(client, "/store/agreements/")
    assert "Litware" in page and 'data-mca-state="accepted"' in page
    _more_customers(demo)
    after, _ = _queries(client, "/store/agreements/")
    assert after == before


def test_order_pages_show_the_badge(client, demo, demo_user):
    from tests.bss.conftest import make_order

    _accept(demo["northwind"])
    order = make_order(demo["northwind"])
    client.force_login(demo_user("customer"))
    page = client.get(f"/store/orders/{order.number}/").content.decode()
    assert 'data-mca-state="accepted"' in page
    client.force_login(demo_user("bss"))
    page = client.get(f"/bss/orders/{order.number}/").content.decode()
    assert 'id="order-mca"' in page and 'data-mca-state="accepted"' in page


def test_admin_account_list_shows_badges_in_a_fixed_number_of_queries(client, demo, demo_user):
    client.force_login(demo_user("admin"))
    before, page = _queries(client, "/admin/bss/account/")
    assert 'data-mca-state="' in page
    _more_customers(demo)
    after, _ = _queries(client, "/admin/bss/account/")
    assert after == before


def test_api_accounts_carry_mca_state_in_a_fixed_number_of_queries(demo, demo_user):
    _accept(demo["litware"])
    api = APIClient()
    token, _ = Token.objects.get_or_create(user=demo_user("reseller"))
    api.credentials(HTTP_AUTHORIZATION=f"Token {token.key}")
    before, body = _queries(api, "/api/v1/accounts/")
    _more_customers(demo)
    after, body = _queries(api, "/api/v1/accounts/")
    assert after == before
    import json

    results = {row["name"]: row for row in json.loads(body)["results"]}
    assert results["Litware"]["mca_state"]["code"] == "accepted"
    assert results["Extra 00"]["mca_state"]["code"] == "required"
    assert results["Extra 00"]["mca_state"]["next_action"]
    detail = api.get(f"/api/v1/accounts/{demo['litware'].pk}/").json()
    assert detail["mca_state"]["code"] == "accepted"
    mca = api.get(f"/api/v1/accounts/{demo['litware'].pk}/mca/").json()
    assert mca["mca_state"]["code"] == "accepted"


def test_an_expired_link_shows_expired_on_the_bss_list_at_once(client, demo, demo_user, settings):
    from mca import gate
    from mca.choices import AttestationState
    from mca.models import Attestation
    from tests.mca.test_enhanced_flow import signatory

    settings.MCA_ATTESTATION_FLOW = "enhanced"
    litware = demo["litware"]
    outcome = gate.submit_acceptance(
        actor=demo_user("bss"),
        account=litware,
        data=signatory(),
        context=gate.ConfirmationContext(channel="bss_execution"),
    )
    Attestation.objects.filter(pk=outcome.attestation.pk).update(
        state=AttestationState.PENDING, expires_at=timezone.now() - timedelta(seconds=1)
    )
    client.force_login(demo_user("bss"))
    page = client.get("/bss/accounts/?q=Litware").content.decode()
    assert 'data-mca-state="expired"' in page and 'data-mca-state="pending"' not in page
