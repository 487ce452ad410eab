"""The OpenAPI schema: valid, documents every endpoint with its errors, and the API keeps to it under fuzzing
(schemathesis, bounded examples, through the WSGI app with a token)."""

import os

import pytest
import schemathesis
import yaml
from django.core import signals
from django.core.management import call_command
from django.db import close_old_connections
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from rest_framework.authtoken.models import Token
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

ENDPOINTS = [
    "/api/v1/auth/token/",
    "/api/v1/accounts/",
    "/api/v1/accounts/{id}/",
    "/api/v1/accounts/{id}/mca/",
    "/api/v1/accounts/{id}/mca/acceptances/",
    "/api/v1/accounts/{id}/mca/resend-link/",
    "/api/v1/mca/acceptances/",
    "/api/v1/mca/acceptances/{id}/",
    "/api/v1/products/",
    "/api/v1/orders/",
    "/api/v1/orders/{id}/",
    "/api/v1/orders/{id}/execute/",
    "/api/v1/subscriptions/",
    "/api/v1/subscriptions/{id}/",
]


def test_schema_validates_without_warnings(tmp_path):
    # spectacular raises when the schema is invalid or a warning was emitted; the file is the schema it validated.
    call_command("spectacular", "--validate", "--fail-on-warn", "--file", str(tmp_path / "schema.yaml"))
    written = yaml.safe_load((tmp_path / "schema.yaml").read_text())
    assert written["openapi"].startswith("3.")
    assert set(ENDPOINTS) <= set(written["paths"])


def test_schema_documents_every_endpoint_with_problem_responses(client):
    schema = client.get("/api/schema/?format=json").json()
    assert set(ENDPOINTS) <= set(schema["paths"])
    for path in ENDPOINTS:
        for method, operation in schema["paths"][path].items():
            for status in ("401", "429"):
                assert "application/problem+json" in operation["responses"][status]["content"], (path, method)
    orders_post = schema["paths"]["/api/v1/orders/"]["post"]["responses"]["409"]["content"]
    assert orders_post["application/problem+json"]["schema"]["$ref"].endswith("/McaProblem")


def test_docs_page_is_served(client):
    assert client.get("/api/docs/").status_code == 200


@pytest.fixture(params=["reseller", "bss"])
def fuzz_token(request, demo, demo_user):
    """A reseller (most ids are another tenant's: 404s) and CSP staff (everything visible: the writes)."""
    token, _ = Token.objects.get_or_create(user=demo_user(request.param))
    return token.key


@pytest.fixture
def api_schema(demo, settings):
    from django.core.wsgi import get_wsgi_application

    application = get_wsgi_application()

    settings.MCA_STATUS_TIME_BUDGET = 0.05
    settings.PARTNER_CENTER_RETRY_BUDGET = 0.05
    settings.REST_FRAMEWORK = {
        **settings.REST_FRAMEWORK,
        "DEFAULT_THROTTLE_RATES": {"user": "100000/minute", "token": "100000/minute"},
    }
    # Like Django's test client: requests must not close the test's database connection when they finish.
    signals.request_started.disconnect(close_old_connections)
    signals.request_finished.disconnect(close_old_connections)
    try:
        yield schemathesis.openapi.from_wsgi("/api/schema/?format=json", application)
    finally:
        signals.request_started.connect(close_old_connections)
        signals.request_finished.connect(close_old_connections)


CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]


def test_api_never_fails_and_keeps_to_its_schema(api_schema, fuzz_token):
    """Every operation of the schema, 20 generated requests each: no 5xx, every answer as documented."""
    operations = [result.ok() for result in api_schema.get_all_operations()]
    assert len(operations) >= 16

    for operation in operations:

        @given(case=operation.as_strategy())
        @hypothesis_settings(
            max_examples=20,
            deadline=None,
            database=None,
            suppress_health_check=list(HealthCheck),
            # The same examples on every run, so CI is reproducible; MCA_FUZZ_RANDOM=1 explores new ones locally.
            derandomize=not os.environ.get("MCA_FUZZ_RANDOM"),
        )
        def fuzz(case):
            case.call_and_validate(headers={"Authorization": f"Token {fuzz_token}"}, checks=CHECKS)

        fuzz()


def _component(schema: dict, ref: str) -> dict:
    return schema["components"]["schemas"][ref.rsplit("/", 1)[1]]


def test_the_schema_does_not_require_what_the_server_fills_in(client, settings):
    """The company name is the account's (the form prefills it; a request may leave it out): not required in the
    schema. The signatory's own fields are."""
    settings.MCA_ATTESTATION_FLOW = "enhanced"
    schema = client.get("/api/schema/?format=json").json()
    body = schema["paths"]["/api/v1/accounts/{id}/mca/acceptances/"]["post"]["requestBody"]["content"]
    form = _component(schema, body["application/json"]["schema"]["$ref"])
    assert "company_name" in form["properties"] and "company_name" not in form["required"]
    assert {"signatory_first_name", "signatory_email", "authority_confirmed"} <= set(form["required"])
