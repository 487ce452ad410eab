"""Home and error pages: styled, with the links each role can use."""

import pytest

pytestmark = pytest.mark.django_db


def test_customer_following_a_staff_link_gets_a_styled_403_with_its_own_links(client, demo_user):
    client.force_login(demo_user("customer"))
    response = client.get("/bss/")
    body = response.content.decode()
    assert response.status_code == 403 and "<h1>You cannot open this page</h1>" in body
    assert 'href="/store/agreements/"' in body and 'href="/bss/"' not in body


def test_home_page_shows_a_customer_only_what_it_can_use(client, demo_user):
    client.force_login(demo_user("wl-customer"))
    body = client.get("/").content.decode()
    assert 'href="/store/fabrikam/"' in body and 'href="/bss/"' not in body and 'href="/admin/"' not in body


def test_home_page_shows_staff_the_bss(client, demo_user):
    client.force_login(demo_user("bss"))
    body = client.get("/").content.decode()
    assert 'href="/bss/"' in body and 'href="/admin/"' in body


def test_404_is_styled_and_keeps_a_white_label_stores_brand(client, demo):
    response = client.get("/store/fabrikam/orders/SO-NOPE/")
    assert response.status_code in (302, 404)
    response = client.get("/store/fabrikam/no-such-page/")
    body = response.content.decode()
    assert response.status_code == 404 and "Page not found" in body
    assert "Fabrikam Cloud Store" in body and "Cloud Provider" not in body


def test_404_elsewhere_lists_the_links(client, demo):
    body = client.get("/nowhere/").content.decode()
    assert "Page not found" in body and 'href="/store/"' in body
