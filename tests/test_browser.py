"""What a person sees: Debian's chromium, driven by Playwright's sync API, on a live server with demo data.

Playwright cannot download a browser here, so it launches the system chromium (`chromium_path` fixture; `make
test` installs it with apt). Playwright's sync API runs an asyncio event loop in this thread, which makes
Django's async-safety check refuse ORM calls from the test thread (seeding, flushing the database) while the
browser is open; DJANGO_ALLOW_ASYNC_UNSAFE is therefore set for this module only, and the browser lives only
as long as this module's tests, so no other test runs with the check off.
"""

from __future__ import annotations

import re

import pytest

from demo.accounts import DEMO_ACCOUNTS, DEMO_PASSWORD, seed_demo_data
from tests.browser_support import TIMEOUT_MS

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def site(live_server, transactional_db, allow_async_unsafe) -> str:
    """The live server's base URL, with the pinned demo data loaded."""
    seed_demo_data()
    return live_server.url


@pytest.fixture
def page(browser, site):
    context = browser.new_context(base_url=site)
    context.set_default_timeout(TIMEOUT_MS)
    page = context.new_page()
    try:
        yield page
    finally:
        context.close()


def test_home_page_says_what_it_is_and_its_links_work(page):
    page.goto("/")
    assert page.locator("h1").inner_text() == "Microsoft Customer Agreement acceptance"
    assert "Microsoft Customer Agreement (MCA)" in page.locator("main").inner_text()

    hrefs = page.locator("main a").evaluate_all("links => links.map(a => a.getAttribute('href'))")
    assert {"/store/", "/store/fabrikam/", "/bss/", "/admin/", "/api/docs/", "/api/schema/"} <= set(hrefs)
    for href in hrefs:
        response = page.request.get(href)  # follows redirects: /bss/ and /admin/ end on a login page
        assert response.ok, f"{href} answered {response.status}"

    page.get_by_role("link", name="Storefront", exact=True).click()
    page.wait_for_url("**/store/")
    assert page.get_by_role("heading", name="Catalog").is_visible()
    assert page.get_by_role("cell", name="Microsoft 365 E3", exact=True).is_visible()


def test_bss_user_logs_in_to_the_admin_and_sees_the_account_list(page):
    page.goto("/admin/")
    page.wait_for_url(re.compile(r"/admin/login/"))
    page.fill("#id_username", "bss")
    page.fill("#id_password", DEMO_PASSWORD)
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url(re.compile(r"/admin/$"))

    page.get_by_role("link", name="Accounts", exact=True).click()
    page.wait_for_url(re.compile(r"/admin/bss/account/$"))
    rows = page.locator("#result_list tbody tr")
    names = set(rows.locator("th").all_inner_texts())
    assert {"Northwind Traders", "Adventure Works", "Tailspin Toys", "Coho Winery"} <= names
    assert rows.count() == len(DEMO_ACCOUNTS)  # CSP staff see every demo account


def test_white_label_storefront_shows_the_resellers_brand(page):
    page.goto("/store/fabrikam/")
    assert page.title() == "Fabrikam Cloud Store"
    header = page.locator("header")
    assert "Fabrikam Cloud Store" in header.inner_text()
    background = header.evaluate("el => getComputedStyle(el).backgroundColor")
    assert background == "rgb(92, 45, 145)"  # #5C2D91, Fabrikam's brand colour
    assert page.get_by_role("cell", name="Microsoft 365 E3", exact=True).is_visible()
