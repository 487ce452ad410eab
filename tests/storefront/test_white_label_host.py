"""Issue 17, item 8: a CSP customer signed in on a white-label reseller's own host looped on /store/ (302 to
/store/, which is the reseller's store again on that host). It now gets a page that says where its store is."""

from __future__ import annotations

import pytest

from bss.models import Reseller

pytestmark = pytest.mark.django_db

HOST = "cloud.fabrikam.example"


@pytest.fixture
def fabrikam_host(demo, settings):
    settings.ALLOWED_HOSTS = [HOST, "testserver"]
    Reseller.objects.filter(slug="fabrikam").update(storefront_host=HOST)


@pytest.mark.parametrize("path", ["/store/", "/store/cart/", "/store/checkout/"])
def test_a_csp_customer_on_a_white_label_host_is_told_not_looped(client, demo_user, fabrikam_host, path):
    client.force_login(demo_user("customer"))
    response = client.get(path, HTTP_HOST=HOST)
    assert response.status_code == 403, response.get("Location")
    body = response.content.decode()
    assert "This is Fabrikam Cloud Store" in body and "customer of Cloud Provider" in body
    assert 'action="/store/sign-out/"' in body


def test_the_sign_out_on_that_host_still_works(client, demo_user, fabrikam_host):
    client.force_login(demo_user("customer"))
    response = client.post("/store/sign-out/", HTTP_HOST=HOST)
    assert response.status_code == 302 and "_auth_user_id" not in client.session


def test_the_resellers_own_customer_shops_there(client, demo_user, fabrikam_host):
    client.force_login(demo_user("wl-customer"))
    assert client.get("/store/", HTTP_HOST=HOST).status_code == 200


def test_a_csp_customer_elsewhere_is_still_sent_to_its_own_store(client, demo_user, fabrikam_host):
    client.force_login(demo_user("customer"))
    response = client.get("/store/fabrikam/cart/")
    assert response.status_code == 302 and response.url == "/store/cart/"
