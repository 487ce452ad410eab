"""admin: the acceptance log's changelist at N records, through the test Client as a superuser (p50 and p95)."""

from __future__ import annotations

from django.contrib.auth import get_user_model
from django.db import connection
from django.test import Client
from django.urls import reverse

from benchmarks.timing import count_queries, counting_abandoned_counts, measure, median, p95
from bss.models import Reseller
from mca.models import AcceptanceRecord, ChainHead

TARGETS_MS = {"list": 150, "filter": 150, "search": 300}  # at 1M records on PostgreSQL


def superuser():
    user, _ = get_user_model().objects.get_or_create(
        username="bench-admin", defaults={"is_staff": True, "is_superuser": True}
    )
    return user


def admin_client() -> Client:
    client = Client(HTTP_HOST="localhost")
    client.force_login(superuser())
    return client


def pages() -> list[tuple[str, str, str, dict]]:
    """(kind, label, url, query) of each page measured: the list, each filter, each search, a detail page."""
    url = reverse("admin:mca_acceptancerecord_changelist")
    newest = AcceptanceRecord.objects.order_by("-sequence").values_list("pk", "created_at", "account_id").first()
    reseller = Reseller.objects.order_by("pk").first()
    day = newest[1].date().isoformat() if newest else "2025-01-01"
    page = max(1, min(10, (ChainHead.objects.values_list("last_sequence", flat=True).first() or 0) // 50))
    found = [
        ("list", "unfiltered", url, {}),
        ("filter", "channel", url, {"channel__exact": "api"}),
        ("filter", "date range (one day)", url, {"created_from": day, "created_to": day}),
        ("filter", "reseller", url, {"reseller": str(reseller.pk) if reseller else "csp"}),
        ("filter", "evidence class", url, {"evidence_class__exact": "first_party"}),
        ("filter", "delivery state", url, {"delivery__state__exact": "failing"}),
        ("filter", "customer account", url, {"account": str(newest[2]) if newest else "1"}),
        ("search", "customer name", url, {"q": "Lumen"}),
        ("search", "last name", url, {"q": "Nowak"}),
        ("search", "e-mail", url, {"q": "grace.12345@"}),
        ("list", f"page {page}", url, {"p": str(page)}),
    ]
    if newest:
        found.append(("list", "detail page", reverse("admin:mca_acceptancerecord_change", args=[newest[0]]), {}))
    return found


def run(repeat: int = 20) -> dict:
    client = admin_client()
    print(f"\n## admin changelist at {AcceptanceRecord.objects.count():,} records ({connection.vendor})")
    print(f"p50 and p95 of {repeat} requests per page after one warm-up request; count: the paginator's")
    print("(exact, or the planner's estimate when the filtered count ran past MCA_ADMIN_COUNT_TIMEOUT_MS)")
    print(f"{'page':<32} {'p50 ms':>8} {'p95 ms':>8} {'queries':>8} {'count':>9} {'target ms':>10}")
    figures = {}
    for kind, label, url, query in pages():
        with counting_abandoned_counts() as counts:
            response = client.get(url, query)  # warm caches (session, content types, plans)
            assert response.status_code == 200, (label, response.status_code)
            queries = count_queries(lambda u=url, q=query: client.get(u, q))
            counts.abandoned = 0
            times = measure(lambda u=url, q=query: client.get(u, q), repeat)
        count = "-" if "detail" in label else "estimate" if counts.abandoned else "exact"
        figures[label] = {
            "p50_ms": median(times) * 1000,
            "p95_ms": p95(times) * 1000,
            "queries": queries,
            "count": count,
        }
        target = TARGETS_MS.get(kind, 150)
        print(
            f"{kind + ': ' + label:<32} {median(times) * 1000:>8.1f} {p95(times) * 1000:>8.1f} {queries:>8} "
            f"{count:>9} {target:>10}"
        )
    return figures
