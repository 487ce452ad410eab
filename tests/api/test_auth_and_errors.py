"""Authentication (token, session with CSRF, basic for the token endpoint), problem details, throttling."""

import base64

import pytest
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from demo.accounts import DEMO_PASSWORD
from tests.api.conftest import assert_problem


def basic(username: str) -> str:
    return "Basic " + base64.b64encode(f"{username}:{DEMO_PASSWORD}".encode()).decode()


def test_unauthenticated_is_401_problem_naming_the_scheme(api, demo):
    response = api().get("/api/v1/accounts/")
    assert_problem(response, 401, "not_authenticated")
    assert response["WWW-Authenticate"] == "Token"


def test_a_wrong_token_is_401(api, demo):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION="Token not-a-token")
    assert_problem(client.get("/api/v1/accounts/"), 401, "authentication_failed")


def test_user_creates_gets_and_revokes_its_token_with_basic_auth(demo_user):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=basic("reseller"))
    created = client.post("/api/v1/auth/token/")
    assert created.status_code == 201
    token = created.json()["token"]
    assert Token.objects.get(user=demo_user("reseller")).key == token
    again = client.post("/api/v1/auth/token/")
    assert again.status_code == 200 and again.json()["token"] == token

    with_token = APIClient()
    with_token.credentials(HTTP_AUTHORIZATION=f"Token {token}")
    assert with_token.get("/api/v1/accounts/").status_code == 200

    assert client.delete("/api/v1/auth/token/").status_code == 204
    assert not Token.objects.filter(user=demo_user("reseller")).exists()
    assert_problem(with_token.get("/api/v1/accounts/"), 401, "authentication_failed")


def test_token_endpoint_refuses_a_wrong_password(demo):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION="Basic " + base64.b64encode(b"reseller:wrong").decode())
    assert_problem(client.post("/api/v1/auth/token/"), 401, "authentication_failed")
    assert not Token.objects.exists()


def test_session_calls_need_the_csrf_token(demo_user, demo):
    client = APIClient(enforce_csrf_checks=True)
    client.force_login(demo_user("bss"))
    assert client.get("/api/v1/accounts/").status_code == 200
    body = assert_problem(client.post("/api/v1/auth/token/"), 403, "permission_denied")
    assert "CSRF" in body["detail"]
    assert not Token.objects.exists()


def test_session_call_with_csrf_token_is_allowed(demo_user, demo):
    client = APIClient(enforce_csrf_checks=True)
    client.force_login(demo_user("bss"))
    client.get("/accounts/login/")  # sets the csrftoken cookie
    csrf = client.cookies["csrftoken"].value
    assert client.post("/api/v1/auth/token/", HTTP_X_CSRFTOKEN=csrf).status_code == 201


def test_not_found_is_a_problem(api):
    assert_problem(api("bss").get("/api/v1/accounts/999999/"), 404, "not_found")


def test_malformed_json_is_a_400_problem(api, demo):
    response = api("bss").post("/api/v1/orders/", data="{not json", content_type="application/json")
    assert_problem(response, 400, "parse_error")


def test_form_encoded_body_is_415(api, demo):
    response = api("bss").post("/api/v1/orders/", data={"account": "1"})
    assert_problem(response, 415, "unsupported_media_type")


@pytest.fixture
def tight_rates(settings):
    def set_rates(user: str, token: str) -> None:
        settings.REST_FRAMEWORK = {
            **settings.REST_FRAMEWORK,
            "DEFAULT_THROTTLE_RATES": {"user": user, "token": token},
        }

    return set_rates


def test_user_throttle_answers_429_with_retry_after(api, tight_rates, demo):
    tight_rates(user="2/minute", token="100/minute")
    client = api("bss")
    assert client.get("/api/v1/products/").status_code == 200
    assert client.get("/api/v1/products/").status_code == 200
    response = client.get("/api/v1/products/")
    assert_problem(response, 429, "throttled")
    assert int(response["Retry-After"]) > 0
    # Another user is not held back.
    assert api("reseller").get("/api/v1/products/").status_code == 200


def test_token_throttle_holds_back_the_token_not_the_users_session(api, tight_rates, demo_user, demo):
    tight_rates(user="100/minute", token="1/minute")
    client = api("bss")
    assert client.get("/api/v1/products/").status_code == 200
    assert_problem(client.get("/api/v1/products/"), 429, "throttled")
    session = APIClient()
    session.force_login(demo_user("bss"))
    assert session.get("/api/v1/products/").status_code == 200


def test_markup_a_client_sent_comes_back_as_json_escapes_never_as_markup(api, demo):
    """A problem names the unknown field and the refused choice the client sent: the same JSON, but `<`, `>` and
    `&` are written as \\u escapes, so the answer never holds the markup itself."""
    script = "<script>alert('x')</script>"
    client = api("bss")
    line = {"product": 1, "quantity": 1}
    unknown_field = client.post(
        "/api/v1/orders/", {"account": demo["litware"].pk, "lines": [line], script: "&"}, format="json"
    )
    refused_choice = client.post(
        "/api/v1/orders/", {"account": demo["litware"].pk, "lines": [{**line, "operation": script}]}, format="json"
    )
    assert script in assert_problem(unknown_field, 400, "validation_error")["errors"]
    errors = assert_problem(refused_choice, 400, "validation_error")["errors"]
    assert any(script in message for message in errors["lines[0].operation"])
    for response in (unknown_field, refused_choice):
        assert b"<" not in response.content and b">" not in response.content and b"&" not in response.content
        assert b"\\u003cscript\\u003e" in response.content


def test_a_body_over_the_upload_limit_is_a_413_problem_not_an_html_page(api, demo, settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 1000
    path = f"/api/v1/accounts/{demo['litware'].pk}/mca/acceptances/"
    for headers in ({}, {"HTTP_IDEMPOTENCY_KEY": "big-body"}):  # read by the idempotency check or the view
        response = api("bss").post(path, {"first_name": "x" * 2000}, format="json", **headers)
        body = assert_problem(response, 413, "request_too_large")
        assert "larger than the" in body["detail"]
