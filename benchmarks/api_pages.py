"""api: the acceptance log through /api/v1/mca/acceptances/ with a token, cursor paginated (p50 and p95).

Pages: the first page; pages reached by following `next` cursors from it (each timed as it is followed); the
last page so reached, timed again; a page in the middle of the log (its cursor built by the view's own paginator,
the same cursor following would reach); filtered pages (channel, customer account, one day); and the first page
for a reseller user, whose records are scoped to its customers. Throttling stays on, with rates the bench cannot
reach (600 calls a minute per token would stop it).
"""

from __future__ import annotations

import time

from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import connection
from django.test import Client, override_settings
from django.urls import reverse
from rest_framework.authtoken.models import Token
from rest_framework.pagination import Cursor

from api.views import AcceptanceLogList
from benchmarks.timing import count_queries, measure, median, p95
from mca.models import AcceptanceRecord

CSP_USER = "bss"  # CSP staff (demo data): sees every record
RESELLER_USER = "reseller"  # a reseller user (demo data): its customers' records only
PAGE_SIZE = 50  # the API's default


def token_client(username: str) -> Client:
    user = get_user_model().objects.get(username=username)
    token, _ = Token.objects.get_or_create(user=user)
    return Client(HTTP_HOST="localhost", HTTP_AUTHORIZATION=f"Token {token.key}")


def unthrottled() -> override_settings:
    rates = {"user": "1000000/minute", "token": "1000000/minute"}
    return override_settings(REST_FRAMEWORK={**settings.REST_FRAMEWORK, "DEFAULT_THROTTLE_RATES": rates})


def list_url() -> str:
    return reverse("api:acceptance-list")


def cursor_at(sequence: int) -> str:
    """The URL of the page that starts after record #`sequence` (newest first), as the view encodes cursors."""
    paginator = AcceptanceLogList.pagination_class()
    paginator.base_url = "http://localhost" + list_url()
    return paginator.encode_cursor(Cursor(offset=0, reverse=False, position=str(sequence)))


def filtered_pages() -> list[tuple[str, dict]]:
    newest = AcceptanceRecord.objects.order_by("-sequence").values_list("created_at", "account_id").first()
    if newest is None:
        return []
    day = newest[0].date()
    return [
        ("filter: channel", {"channel": "api"}),
        ("filter: customer account", {"account": str(newest[1])}),
        ("filter: one day", {"created_after": f"{day}T00:00:00Z", "created_before": f"{day}T23:59:59Z"}),
    ]


def _get(client: Client, url: str, query: dict | None = None) -> dict:
    response = client.get(url, query or {})
    assert response.status_code == 200, (url, response.status_code, response.content[:300])
    return response.json()


def run(repeat: int = 20, follow: int = 100) -> dict:
    total = AcceptanceRecord.objects.count()
    last = AcceptanceRecord.objects.order_by("-sequence").values_list("sequence", flat=True).first() or 0
    print(f"\n## API log list at {total:,} records ({connection.vendor}): GET {list_url()} with a token")
    print(f"p50 and p95 of {repeat} requests per page after one warm-up request; {PAGE_SIZE} records a page")
    print(f"{'page':<40} {'p50 ms':>8} {'p95 ms':>8} {'queries':>8} {'rows':>6}")
    figures: dict[str, dict] = {}
    with unthrottled():
        client = token_client(CSP_USER)

        def report(label: str, times: list[float], queries: int | None, rows: int) -> None:
            figures[label] = {"p50_ms": median(times) * 1000, "p95_ms": p95(times) * 1000, "queries": queries}
            shown = "-" if queries is None else str(queries)
            print(f"{label:<40} {median(times) * 1000:>8.1f} {p95(times) * 1000:>8.1f} {shown:>8} {rows:>6}")

        def timed(label: str, target: str, query: dict | None = None, who: Client = client) -> None:
            rows = len(_get(who, target, query)["results"])
            queries = count_queries(lambda: who.get(target, query or {}))
            report(label, measure(lambda: who.get(target, query or {}), repeat), queries, rows)

        url = list_url()
        timed("first page", url)
        # Follow `next` from the first page, timing each page as a client walking the log would see it.
        followed: list[float] = []
        page_url, depth = url, 0
        for _ in range(follow):
            started = time.perf_counter()
            response = client.get(page_url)
            followed.append(time.perf_counter() - started)
            assert response.status_code == 200, (page_url, response.status_code)
            page = response.json()
            depth += len(page["results"])
            if not page["next"]:
                break
            page_url = page["next"]
        report(f"followed pages 2..{len(followed)} (next cursor)", followed[1:] or followed, None, PAGE_SIZE)
        timed(f"page at depth {depth:,} (followed)", page_url)
        timed(f"middle of the log (#{last // 2:,})", cursor_at(last // 2))
        for label, query in filtered_pages():
            timed(label, url, query)
        timed("reseller user: first page (scoped)", url, who=token_client(RESELLER_USER))
    return figures
