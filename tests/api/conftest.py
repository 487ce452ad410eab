import pytest
from django.core.cache import cache
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from bss.models import Product

ENHANCED = {
    "signatory_first_name": "Jane",
    "signatory_last_name": "Smith",
    "signatory_email": "jane.smith@northwind.example",
    "company_name": "Northwind Traders",
    "authority_confirmed": True,
}
LEGACY = {
    "first_name": "Jane",
    "last_name": "Smith",
    "email": "jane.smith@northwind.example",
    "phone": "+1 206 555 0100",
    "date_agreed": "2026-01-20",
    "accepted": True,
}


@pytest.fixture(autouse=True)
def _fresh_throttles(settings):
    """Throttle counters live in the cache: each test starts with none. Partner Center is not there in these
    tests (the gate then asks, R3): a short time budget keeps its retries from slowing every test."""
    settings.MCA_STATUS_TIME_BUDGET = 0.2
    settings.PARTNER_CENTER_RETRY_BUDGET = 0.2
    cache.clear()
    yield
    cache.clear()


@pytest.fixture(autouse=True)
def _no_demo_orders(request):
    """The API's order tests start from no orders: the demo's placed orders (for the BSS demo) are removed."""
    if "demo" in request.fixturenames:
        from bss.models import Order

        request.getfixturevalue("demo")
        Order.objects.filter(number__startswith="SO-DEMO-").delete()


@pytest.fixture
def api(demo_user):
    """`api("bss")`: an API client authenticated with that demo user's token."""

    def make(username: str | None = None) -> APIClient:
        client = APIClient()
        if username is not None:
            token, _ = Token.objects.get_or_create(user=demo_user(username))
            client.credentials(HTTP_AUTHORIZATION=f"Token {token.key}")
        return client

    return make


@pytest.fixture
def microsoft_product(demo):
    return Product.objects.get(sku="MS-M365-BS")


@pytest.fixture
def other_product(demo):
    return Product.objects.get(sku="ACR-CYBER-BACKUP")


def assert_problem(response, status: int, code: str):
    assert response.status_code == status, response.content
    assert response["Content-Type"].startswith("application/problem+json")
    body = response.json()
    assert body["status"] == status and body["code"] == code and body["type"] == f"urn:mca:problem:{code}"
    assert body["title"] and body["detail"]
    return body
