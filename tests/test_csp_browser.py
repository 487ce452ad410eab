"""The Content-Security-Policy in a real browser: the pages, the admin and the API docs (Swagger UI, ReDoc) work
under it, and chromium reports no violation. (The checkout's embedded Microsoft page is exercised under the same
policy by tests/storefront/test_browser_store.py.)"""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Page, expect

from demo.accounts import DEMO_PASSWORD
from tests.browser_support import TIMEOUT_MS

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def page(browser, live_server, demo, allow_async_unsafe):
    context = browser.new_context(base_url=live_server.url)
    context.set_default_timeout(TIMEOUT_MS)
    page = context.new_page()
    page.violations = []
    page.on(
        "console",
        lambda message: page.violations.append(message.text) if "Content Security Policy" in message.text else None,
    )
    page.on("pageerror", lambda error: page.violations.append(str(error)))
    try:
        yield page
    finally:
        context.close()


def sign_in(page: Page, username: str) -> None:
    page.goto("/accounts/login/")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(DEMO_PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(re.compile(r"/$"))


# ReDoc's bundle draws Redocly's logo from cdn.redoc.ly whatever its options say: the policy blocks it on purpose
# (the docs load nothing from a third party), and ReDoc hides a logo that fails.
BLOCKED_ON_PURPOSE = "https://cdn.redoc.ly/"


def test_api_docs_render_under_the_policy(page):
    page.goto("/api/docs/")
    expect(page.locator(".opblock").first).to_be_visible()
    page.goto("/api/redoc/")
    expect(page.get_by_role("heading", name=re.compile("MCA acceptance API"))).to_be_visible()
    page.wait_for_load_state("networkidle")
    assert [text for text in page.violations if BLOCKED_ON_PURPOSE not in text] == []


def test_pages_and_admin_work_under_the_policy(page, demo):
    sign_in(page, "admin")
    for path, heading in (
        ("/bss/", None),
        ("/admin/", "MCA acceptance — setup area"),
        ("/admin/mca/acceptancerecord/", None),
        (f"/bss/accounts/{demo['litware'].pk}/", None),
        ("/store/", None),
    ):
        response = page.goto(path)
        assert response is not None and response.ok, path
        if heading:
            expect(page.get_by_role("link", name=heading)).to_be_visible()
    assert page.violations == []
