"""The agreement's short-lived download link is fetched when someone clicks, never stored."""

import pytest
import requests
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
    # The simulator serves the document itself (plain HTTP at its configured address), so the link works offline.
    assert first["Location"].startswith(pc_simulator.base_url) and first["Location"] != second["Location"]
    assert pc_simulator.calls()["agreement_document"] == 2  # not cached
    assert "Microsoft-Kundenvertrag" in requests.get(first["Location"], timeout=10).text


@pytest.mark.parametrize(
    ("link", "trusted"),
    [
        ("https://download.microsoft.example/mca.pdf", True),
        ("http://elsewhere.example/simulator/partner-center/agreements/x", False),
        ("javascript:alert(1)", False),
    ],
)
def test_only_https_or_the_configured_partner_center_is_redirected_to(settings, link, trusted):
    from mca.views import _trusted_document_link

    settings.PARTNER_CENTER_BASE_URL = "http://127.0.0.1:8000/simulator/partner-center"
    assert _trusted_document_link(link) is trusted
    assert _trusted_document_link("http://127.0.0.1:8000/simulator/partner-center/agreements/x/US/en-US")
    assert not _trusted_document_link("http://127.0.0.1:8000/simulator/partner-centerevil/x")


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
