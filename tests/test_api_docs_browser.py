"""The API documentation in a real browser with every request off this machine refused: Swagger UI and ReDoc
render, and neither asks another host for anything (a script, a font, a logo)."""

from __future__ import annotations

from urllib.parse import urlparse

import pytest

from tests.browser_support import TIMEOUT_MS

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]
LOCAL_HOSTS = {"127.0.0.1", "localhost"}


@pytest.fixture
def offline_page(browser, live_server):
    """A page whose requests to any host but this machine are aborted, and recorded."""
    context = browser.new_context(base_url=live_server.url)
    context.set_default_timeout(TIMEOUT_MS)
    refused: list[str] = []

    def only_local(route) -> None:
        url = route.request.url
        if urlparse(url).scheme in ("data", "blob") or urlparse(url).hostname in LOCAL_HOSTS:
            route.continue_()
        else:
            refused.append(url)
            route.abort()

    context.route("**/*", only_local)
    page = context.new_page()
    page.refused = refused  # type: ignore[attr-defined]
    try:
        yield page
    finally:
        context.close()


@pytest.mark.parametrize(
    ("path", "rendered"),
    [
        ("/api/docs/", ".swagger-ui .information-container .title"),
        ("/api/redoc/", "h1:has-text('MCA acceptance API')"),
    ],
)
def test_api_docs_render_with_the_network_blocked(offline_page, path, rendered):
    offline_page.goto(path)
    offline_page.wait_for_selector(rendered)
    assert "MCA acceptance API" in offline_page.locator(rendered).first.inner_text()
    offline_page.wait_for_load_state("networkidle")
    assert offline_page.refused == [], f"{path} asked another host for {offline_page.refused}"
