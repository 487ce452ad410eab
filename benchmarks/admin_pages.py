"""admin: the acceptance log's changelist at N records, through the test Client as a superuser (median of 5)."""

from __future__ import annotations

from django.contrib.auth import get_user_model
from django.db import connection
from django.test import Client
from django.urls import reverse

from benchmarks.timing import measure, median
from bss.models import Reseller
from mca.models import AcceptanceRecord

TARGETS_MS = {"list": 150, "filter": 150, "search": 300}  # at 1M records on PostgreSQL


def _superuser():
    user, _ = get_user_model().objects.get_or_create(
        username="bench-admin", defaults={"is_staff": True, "is_superuser": True}
    )
    return user


def run(repeat: int = 5) -> dict:
    client = Client(HTTP_HOST="localhost")
    client.force_login(_superuser())
    url = reverse("admin:mca_acceptancerecord_changelist")
    newest = AcceptanceRecord.objects.order_by("-sequence").values_list("created_at", "account_name").first()
    reseller = Reseller.objects.order_by("pk").first()
    day = newest[0].date().isoformat() if newest else "2025-01-01"
    pages = [
        ("list", "unfiltered", {}),
        ("filter", "channel", {"channel__exact": "api"}),
        ("filter", "date range (one day)", {"created_from": day, "created_to": day}),
        ("filter", "reseller", {"reseller": str(reseller.pk) if reseller else "csp"}),
        ("filter", "evidence class", {"evidence_class__exact": "first_party"}),
        ("filter", "delivery state", {"delivery__state__exact": "failing"}),
        ("search", "customer name", {"q": "Lumen"}),
        ("search", "last name", {"q": "Nowak"}),
        ("search", "e-mail", {"q": "grace.12345@"}),
        ("list", "page 10", {"p": "10"}),
        ("list", "detail page", None),
    ]
    print(f"\n## admin changelist at {AcceptanceRecord.objects.count():,} records ({connection.vendor})")
    print(f"{'page':<32} {'median ms':>10} {'queries':>8} {'target ms':>10}")
    figures = {}
    for kind, label, query in pages:
        if query is None:
            record_id = AcceptanceRecord.objects.order_by("-sequence").values_list("pk", flat=True).first()
            target_url, params = reverse("admin:mca_acceptancerecord_change", args=[record_id]), {}
        else:
            target_url, params = url, query
        response = client.get(target_url, params)  # warm caches (session, content types, plans)
        assert response.status_code == 200, (label, response.status_code)
        queries: list[str] = []  # counted with a wrapper: the request_started signal empties connection.queries

        def count(execute, sql, params, many, context, seen=queries):
            seen.append(sql)
            return execute(sql, params, many, context)

        with connection.execute_wrapper(count):
            client.get(target_url, params)
        times = measure(lambda u=target_url, p=params: client.get(u, p), repeat)
        ms = median(times) * 1000
        figures[label] = ms
        target = TARGETS_MS.get(kind, 150)
        print(f"{kind + ': ' + label:<32} {ms:>10.1f} {len(queries):>8} {target:>10}")
    return figures
