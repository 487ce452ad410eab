"""Issue 17, item 8: a body nested deeper than the JSON decoder follows is a 400 parse error, not a 500."""

import pytest

from bss.models import Order

pytestmark = pytest.mark.django_db

DEEP = "[" * 100_000 + "]" * 100_000


@pytest.mark.parametrize("body", [DEEP, '{"a":' * 50_000 + "1" + "}" * 50_000])
def test_deeply_nested_json_to_orders_is_a_parse_error(client, demo_user, body):
    client.force_login(demo_user("reseller"))
    orders = Order.objects.count()
    response = client.post("/api/v1/orders/", body, content_type="application/json")
    assert response.status_code == 400
    problem = response.json()
    assert problem["code"] == "parse_error" and "nested too deeply" in problem["detail"]
    assert Order.objects.count() == orders


def test_deeply_nested_json_to_the_acceptance_endpoint_too(client, demo, demo_user):
    client.force_login(demo_user("reseller"))
    response = client.post(
        f"/api/v1/accounts/{demo['litware'].pk}/mca/acceptances/", DEEP, content_type="application/json"
    )
    assert response.status_code == 400 and response.json()["code"] == "parse_error"
