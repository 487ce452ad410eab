import pytest
from django.urls import reverse

pytestmark = pytest.mark.django_db


def test_home_page_says_what_it_is_and_links_everywhere(client, demo):
    response = client.get("/")
    assert response.status_code == 200
    body = response.content.decode()
    assert "Microsoft Customer Agreement" in body
    for url in ["/store/", "/bss/", "/admin/", "/api/docs/", "/store/fabrikam/"]:
        assert f'href="{url}"' in body


def test_storefront_catalog_lists_products(client, demo):
    body = client.get("/store/").content.decode()
    assert "Microsoft 365 E3" in body and "Acronis Cyber Backup" in body


def test_white_label_storefront_uses_its_brand(client, demo):
    body = client.get("/store/fabrikam/").content.decode()
    assert "Fabrikam Cloud Store" in body and "#5C2D91" in body
    assert client.get("/store/contoso/").status_code == 404  # not white-label: no own storefront


def test_bss_is_for_staff_only(client, demo_user):
    assert client.get("/bss/").status_code == 302  # to the login page
    client.force_login(demo_user("customer"))
    assert client.get("/bss/").status_code == 403
    client.force_login(demo_user("wl-bss"))
    assert client.get("/bss/").status_code == 200


def test_admin_serves_demo_data_to_the_admin(client, demo_user):
    client.force_login(demo_user("admin"))
    response = client.get(reverse("admin:bss_account_changelist"))
    assert response.status_code == 200
    assert "Adventure Works" in response.content.decode()


def test_white_label_staff_see_only_their_accounts_in_admin(client, demo_user):
    client.force_login(demo_user("wl-bss"))
    response = client.get(reverse("admin:bss_account_changelist"))
    body = response.content.decode()
    assert "Tailspin Toys" in body and "Litware" not in body


def test_api_lists_only_visible_accounts(client, demo_user):
    assert client.get("/api/v1/accounts/").status_code == 401
    client.force_login(demo_user("reseller"))
    names = {a["name"] for a in client.get("/api/v1/accounts/").json()["results"]}
    assert names == {"Adventure Works", "Alpine Ski House", "Litware", "Proseware", "Wide World Importers"}


def test_openapi_schema_is_served(client):
    response = client.get("/api/schema/")
    assert response.status_code == 200
    assert b"/api/v1/accounts/" in response.content
