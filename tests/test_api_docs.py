"""The API's front door: an index at /api/v1/ and documentation that works offline (no CDN, no web font)."""

import re

import pytest
from django.contrib.staticfiles import finders

pytestmark = pytest.mark.django_db

# Any absolute URL in a page: a script, a stylesheet, a font or a preconnect to another host.
ABSOLUTE_URL = re.compile(r"(?:https?:)?//[\w.-]+\.[a-z]{2,}", re.IGNORECASE)
ASSET = re.compile(r"""<(?:script|link)\b[^>]*\b(?:src|href)="([^"]+)\"""", re.IGNORECASE)


@pytest.mark.parametrize(
    ("path", "bundle"),
    [
        ("/api/docs/", "drf_spectacular_sidecar/swagger-ui-dist/swagger-ui-bundle.js"),
        ("/api/redoc/", "drf_spectacular_sidecar/redoc/bundles/redoc.standalone.js"),
    ],
)
def test_docs_page_loads_only_the_apps_own_static_files(client, path, bundle):
    response = client.get(path)
    assert response.status_code == 200
    body = response.content.decode()
    assets = ASSET.findall(body)
    assert f"/static/{bundle}" in assets
    # Besides static files, Swagger UI's start-up script comes from the page's own URL (no inline script: the CSP).
    assets = [url for url in assets if not url.startswith(f"{path}?script")]
    assert all(url.startswith("/static/") for url in assets), assets
    assert not ABSOLUTE_URL.findall(body), "the page refers to another host"
    for url in assets:
        assert finders.find(url.removeprefix("/static/")), f"{url} is not among the static files"


def test_api_root_lists_the_endpoints_to_anyone(client):
    response = client.get("/api/v1/")
    assert response.status_code == 200
    index = response.json()
    assert index["accounts"] == "http://testserver/api/v1/accounts/"
    assert {"auth/token", "products", "orders", "subscriptions", "mca/acceptances"} <= set(index)


def test_api_root_answers_a_logged_in_user_too(client, demo_user):
    client.force_login(demo_user("reseller"))
    response = client.get("/api/v1/", headers={"accept": "application/json"})
    assert response.status_code == 200
    assert response["Content-Type"] == "application/json"
    assert "accounts" in response.json()
