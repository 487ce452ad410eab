"""What every browser test shares: how Debian's chromium is launched here (Playwright cannot download a browser),
and how long a page may take. The fixtures (`browser`, `allow_async_unsafe`) are in tests/conftest.py."""

CHROMIUM_ARGS = [
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
TIMEOUT_MS = 15_000
