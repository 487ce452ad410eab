"""Issue 17, attack 7: a Content-Security-Policy on every page. Scripts run only from this site or with the
request's nonce; every inline script of the templates carries it (an inline script without it would be blocked in
the browser: this test names it first). The browser side is tests/test_csp_browser.py."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

pytestmark = pytest.mark.django_db

ROOT = Path(__file__).resolve().parents[1]
INLINE_SCRIPT = re.compile(r"<script\b(?![^>]*\bsrc=)[^>]*>", re.IGNORECASE)
STYLE_BLOCK = re.compile(r"<style\b[^>]*>", re.IGNORECASE)
STYLE_ATTRIBUTE = re.compile(r"<[a-z][^>]*\sstyle\s*=", re.IGNORECASE)
# The pages whose third-party bundles set styles at run time (ReDoc's styled-components, Swagger UI).
INLINE_STYLES_ALLOWED = {"api redoc", "api docs"}
EVENT_HANDLER = re.compile(r"<[a-z][^>]*\son[a-z]+\s*=", re.IGNORECASE)


def policy(response) -> dict[str, list[str]]:
    header = response["Content-Security-Policy"]
    return {part.split()[0]: part.split()[1:] for part in header.split(";") if part.strip()}


PAGES = {
    "home": ("/", None),
    "sign-in": ("/accounts/login/", None),
    "store": ("/store/", None),
    "store sign-in": ("/store/sign-in/", None),
    "bss": ("/bss/", "bss"),
    "admin": ("/admin/", "admin"),
    "admin log": ("/admin/mca/acceptancerecord/", "admin"),
    "api docs": ("/api/docs/", None),
    "api redoc": ("/api/redoc/", None),
    "api root": ("/api/v1/", None),
}


@pytest.mark.parametrize("name", PAGES)
def test_every_page_has_the_policy(client, demo, demo_user, name):
    path, user = PAGES[name]
    if user:
        client.force_login(demo_user(user))
    response = client.get(path)
    assert response.status_code == 200, path
    directives = policy(response)
    assert directives["default-src"] == ["'self'"]
    assert directives["object-src"] == ["'none'"]
    assert directives["base-uri"] == ["'self'"] and directives["form-action"] == ["'self'"]
    scripts = directives["script-src"]
    assert "'unsafe-inline'" not in scripts and "'unsafe-eval'" not in scripts
    assert scripts[0] == "'self'" and all(source == "'self'" or source.startswith("'nonce-") for source in scripts)
    styles = directives["style-src"]
    if name in INLINE_STYLES_ALLOWED:
        assert styles == ["'self'", "'unsafe-inline'"]
    else:
        assert "'unsafe-inline'" not in response["Content-Security-Policy"]
        assert styles[0] == "'self'" and all(source == "'self'" or source.startswith("'nonce-") for source in styles)


def test_a_pages_style_block_carries_the_headers_nonce(client):
    response = client.get("/store/")
    [source] = [s for s in policy(response)["style-src"] if s.startswith("'nonce-")]
    nonce = source.removeprefix("'nonce-").removesuffix("'")
    assert f'<style nonce="{nonce}">' in response.content.decode()


def test_an_inline_script_runs_only_with_this_responses_nonce(client):
    """ReDoc's start-up script: its nonce is the header's, and a new one per response."""
    first, second = client.get("/api/redoc/"), client.get("/api/redoc/")
    nonces = []
    for response in (first, second):
        [nonce] = [s for s in policy(response)["script-src"] if s.startswith("'nonce-")]
        nonce = nonce.removeprefix("'nonce-").removesuffix("'")
        assert f'<script nonce="{nonce}">' in response.content.decode()
        nonces.append(nonce)
    assert nonces[0] != nonces[1]


def test_swagger_ui_start_up_script_is_a_file_not_inline(client):
    page = client.get("/api/docs/").content.decode()
    assert not INLINE_SCRIPT.search(page)
    script = client.get("/api/docs/?script")
    assert script.status_code == 200 and "SwaggerUIBundle" in script.content.decode()


def template_files() -> list[Path]:
    folders = [ROOT / "templates", *ROOT.glob("*/templates"), *ROOT.glob("*/*/templates")]
    return sorted(path for folder in folders for path in folder.rglob("*.html") if ".venv" not in path.parts)


def test_every_inline_script_of_the_templates_carries_the_nonce():
    """A new inline script without `nonce="{{ request.csp_nonce }}"` would be blocked by the browser."""
    missing = [
        f"{path.relative_to(ROOT)}: {tag}"
        for path in template_files()
        for tag in INLINE_SCRIPT.findall(path.read_text())
        if 'nonce="{{ request.csp_nonce }}"' not in tag
    ]
    assert template_files() and not missing, missing


def test_no_style_attributes_and_every_style_block_carries_the_nonce():
    """The policy allows no inline style but a <style> with the request's nonce: a style attribute (in a template or
    in HTML built by the admin's Python) would be ignored by the browser."""
    sources = [*template_files(), ROOT / "mca" / "admin.py", ROOT / "bss" / "admin.py"]
    attributes = [str(path.relative_to(ROOT)) for path in sources if STYLE_ATTRIBUTE.search(path.read_text())]
    blocks = [
        f"{path.relative_to(ROOT)}: {tag}"
        for path in template_files()
        for tag in STYLE_BLOCK.findall(path.read_text())
        if 'nonce="{{ request.csp_nonce }}"' not in tag
    ]
    assert not attributes and not blocks, (attributes, blocks)


def test_no_inline_event_handlers_in_the_templates():
    """onclick= and the like are inline scripts no nonce can allow."""
    found = [str(path.relative_to(ROOT)) for path in template_files() if EVENT_HANDLER.search(path.read_text())]
    assert not found, found
