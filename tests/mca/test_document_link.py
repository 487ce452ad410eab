"""The agreement's short-lived download link is fetched when someone clicks, never stored."""

import pytest
from django.urls import reverse

from demo.simulator import MCA_TEMPLATE_ID


def url(**query) -> str:
    base = reverse("agreement-document", args=[str(MCA_TEMPLATE_ID)])
    return base + ("?" + "&".join(f"{k}={v}" for k, v in query.items()) if query else "")


def test_click_redirects_to_a_fresh_download_link_each_time(pc_simulator, demo, demo_user, client):
    client.force_login(demo_user("customer"))
    first = client.get(url(country="DE", language="de-DE"))
    second = client.get(url(country="DE", language="de-DE"))
    assert first.status_code == second.status_code == 302
    assert first["Location"].startswith("https://") and first["Location"] != second["Location"]
    assert pc_simulator.calls()["agreement_document"] == 2  # not cached


def test_document_link_needs_a_login(client, db):
    assert client.get(url()).status_code == 302
    assert "/accounts/login/" in client.get(url())["Location"]


@pytest.mark.parametrize("query", [{"country": "us"}, {"country": "USA"}, {"language": "<script>"}])
def test_bad_country_or_language_is_refused(client, demo_user, query):
    client.force_login(demo_user("customer"))
    response = client.get(url(**query))
    assert response.status_code == 400


def test_partner_center_down_shows_a_readable_page(pc_simulator, demo, demo_user, client, settings):
    settings.PARTNER_CENTER_RETRY_BUDGET = 0.5
    pc_simulator.set_fault(mode="down")
    client.force_login(demo_user("customer"))
    response = client.get(url())
    assert response.status_code == 503
    assert "not available right now" in response.content.decode()
