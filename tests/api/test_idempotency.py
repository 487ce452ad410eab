"""Idempotency-Key on POST: the first answer replayed, another body refused, keys per user, expiry."""

from datetime import timedelta

import time_machine
from django.utils import timezone

from api.idempotency import purge_expired
from api.models import IdempotentResponse
from bss.models import Order
from mca.models import AcceptanceRecord
from tests.api.conftest import ENHANCED, assert_problem


def test_same_key_and_body_replays_the_first_answer_and_writes_once(api, demo):
    url = f"/api/v1/accounts/{demo['northwind'].pk}/mca/acceptances/"
    client = api("bss")
    first = client.post(url, ENHANCED, format="json", HTTP_IDEMPOTENCY_KEY="k-1")
    second = client.post(url, ENHANCED, format="json", HTTP_IDEMPOTENCY_KEY="k-1")
    assert first.status_code == second.status_code == 202
    assert second.json() == first.json()
    assert second["Idempotent-Replayed"] == "true"
    assert AcceptanceRecord.objects.count() == 1


def test_same_key_other_body_is_422_and_writes_nothing_more(api, demo):
    url = f"/api/v1/accounts/{demo['northwind'].pk}/mca/acceptances/"
    client = api("bss")
    client.post(url, ENHANCED, format="json", HTTP_IDEMPOTENCY_KEY="k-2")
    other = {**ENHANCED, "signatory_email": "someone.else@northwind.example"}
    assert_problem(client.post(url, other, format="json", HTTP_IDEMPOTENCY_KEY="k-2"), 422, "idempotency_key_reused")
    assert AcceptanceRecord.objects.count() == 1


def test_order_replay_returns_the_same_order(api, demo, other_product):
    body = {"account": demo["northwind"].pk, "lines": [{"product": other_product.pk, "quantity": 2}]}
    client = api("customer")
    first = client.post("/api/v1/orders/", body, format="json", HTTP_IDEMPOTENCY_KEY="order-1")
    second = client.post("/api/v1/orders/", body, format="json", HTTP_IDEMPOTENCY_KEY="order-1")
    assert first.status_code == second.status_code == 201
    assert first.json()["number"] == second.json()["number"]
    assert Order.objects.count() == 1


def test_a_409_is_replayed_as_a_problem(api, demo, microsoft_product):
    body = {"account": demo["northwind"].pk, "lines": [{"product": microsoft_product.pk, "quantity": 2}]}
    client = api("customer")
    client.post("/api/v1/orders/", body, format="json", HTTP_IDEMPOTENCY_KEY="order-2")
    replay = client.post("/api/v1/orders/", body, format="json", HTTP_IDEMPOTENCY_KEY="order-2")
    assert_problem(replay, 409, "mca_acceptance_required")
    assert replay["Idempotent-Replayed"] == "true"


def test_keys_are_per_user(api, demo):
    url = f"/api/v1/accounts/{demo['northwind'].pk}/mca/acceptances/"
    api("bss").post(url, ENHANCED, format="json", HTTP_IDEMPOTENCY_KEY="shared")
    other = {**ENHANCED, "signatory_email": "other@northwind.example"}
    response = api("customer").post(url, other, format="json", HTTP_IDEMPOTENCY_KEY="shared")
    assert response.status_code == 202
    # Two submissions (the second names another signatory, so the first link's story is closed as superseded).
    assert AcceptanceRecord.objects.filter(event="form_submitted").count() == 2


def test_a_refused_request_is_not_stored(api, demo):
    url = f"/api/v1/accounts/{demo['northwind'].pk}/mca/acceptances/"
    api().post(url, ENHANCED, format="json", HTTP_IDEMPOTENCY_KEY="k-401")
    assert not IdempotentResponse.objects.exists()


def test_an_overlong_key_is_400(api, demo):
    url = f"/api/v1/accounts/{demo['northwind'].pk}/mca/acceptances/"
    response = api("bss").post(url, ENHANCED, format="json", HTTP_IDEMPOTENCY_KEY="x" * 101)
    assert list(assert_problem(response, 400, "validation_error")["errors"]) == ["Idempotency-Key"]
    assert not AcceptanceRecord.objects.exists()


def test_answers_expire_after_a_day(api, demo):
    url = f"/api/v1/accounts/{demo['northwind'].pk}/mca/acceptances/"
    client = api("bss")
    client.post(url, ENHANCED, format="json", HTTP_IDEMPOTENCY_KEY="k-ttl")
    first_row = IdempotentResponse.objects.get()
    with time_machine.travel(timezone.now() + timedelta(hours=25)):
        response = client.post(url, ENHANCED, format="json", HTTP_IDEMPOTENCY_KEY="k-ttl")
        assert response.status_code == 202 and "Idempotent-Replayed" not in response  # run again, not replayed
        assert not IdempotentResponse.objects.filter(pk=first_row.pk).exists()
        assert IdempotentResponse.objects.count() == 1
    assert AcceptanceRecord.objects.count() == 1  # the gate's own key still recognises the submission


def test_purge_forgets_expired_answers(api, demo):
    url = f"/api/v1/accounts/{demo['northwind'].pk}/mca/acceptances/"
    api("bss").post(url, ENHANCED, format="json", HTTP_IDEMPOTENCY_KEY="k-purge")
    assert purge_expired() == 0
    with time_machine.travel(timezone.now() + timedelta(hours=25)):
        assert purge_expired() == 1
    assert not IdempotentResponse.objects.exists()


def test_an_answer_postgresql_cannot_store_is_not_kept_and_the_request_still_answers(api, demo):
    """Found by schemathesis on PostgreSQL: a 400 echoing a NUL in a field name made storing the answer fail (500)."""
    from api.models import IdempotentResponse

    response = api("reseller").post(
        "/api/v1/orders/",
        {"account": demo["litware"].pk, "lines": [{"product": 1, "quantity": 1, "\u0000odd": 1}]},
        format="json",
        headers={"Idempotency-Key": "nul-in-a-field-name"},
    )
    assert response.status_code == 400
    assert response["Content-Type"].startswith("application/problem+json")
    assert not IdempotentResponse.objects.filter(key__isnull=False, status_code=None).exists()


def test_a_key_left_in_progress_by_a_dead_request_is_taken_over_after_the_lease(api, demo):
    """A request that died (worker killed, database connection terminated) leaves its key unanswered: 409 while it
    may still be running, then the next request runs it, and the services' own key writes one record."""
    url = f"/api/v1/accounts/{demo['northwind'].pk}/mca/acceptances/"
    client = api("bss")
    first = client.post(url, ENHANCED, format="json", HTTP_IDEMPOTENCY_KEY="k-dead")
    row = IdempotentResponse.objects.get()
    IdempotentResponse.objects.filter(pk=row.pk).update(status_code=None, body=None)  # as a dead request leaves it
    assert_problem(
        client.post(url, ENHANCED, format="json", HTTP_IDEMPOTENCY_KEY="k-dead"), 409, "idempotency_key_in_use"
    )
    with time_machine.travel(timezone.now() + timedelta(minutes=3)):
        retried = client.post(url, ENHANCED, format="json", HTTP_IDEMPOTENCY_KEY="k-dead")
    assert retried.status_code == first.status_code == 202
    assert AcceptanceRecord.objects.count() == 1
    assert IdempotentResponse.objects.get().status_code == 202
