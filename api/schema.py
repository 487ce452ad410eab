"""OpenAPI pieces: the problem-details schemas and the error responses each endpoint documents."""

from __future__ import annotations

from typing import Any

from drf_spectacular.authentication import BasicScheme
from drf_spectacular.utils import OpenApiExample, OpenApiResponse
from rest_framework import serializers

from api.errors import PROBLEM_CONTENT_TYPE, ProblemCode


class LockoutAwareBasicScheme(BasicScheme):
    """The token endpoint's basic auth (django-axes watching it) is plain HTTP basic auth to a client."""

    target_class = "api.authentication.LockoutAwareBasicAuthentication"
    priority = 0


def only_api_paths(endpoints: list[tuple[Any, ...]], **kwargs: Any) -> list[tuple[Any, ...]]:
    """The schema documents the REST API only (not the Partner Center simulator)."""
    return [endpoint for endpoint in endpoints if endpoint[0].startswith("/api/v1/")]


PROBLEM_CODES = [code.value for code in ProblemCode]


class ProblemSerializer(serializers.Serializer):
    """RFC 9457 problem details."""

    type = serializers.CharField(help_text="A URI naming the problem type: urn:mca:problem:<code>.")
    title = serializers.CharField()
    status = serializers.IntegerField()
    detail = serializers.CharField()
    code = serializers.ChoiceField(choices=PROBLEM_CODES)
    errors = serializers.DictField(
        child=serializers.ListField(child=serializers.CharField()),
        required=False,
        help_text="Field path (e.g. `lines[0].quantity`, `mca_acceptance.email`) -> messages.",
    )


class McaProblemSerializer(ProblemSerializer):
    """409 `mca_acceptance_required`: the gate's decision and where to post the acceptance."""

    reason_code = serializers.CharField()
    reason = serializers.CharField()
    acceptance_url = serializers.URLField(help_text="POST the acceptance form here, or send it inline.")
    resend_link_url = serializers.URLField(required=False, help_text="When the signatory's link expired.")
    mca = serializers.DictField(help_text="The gate's decision, as GET /accounts/{id}/mca/ shows it.")
    acceptance = serializers.DictField(required=False, help_text="The acceptance this request submitted, if any.")


DESCRIPTIONS = {
    400: "Invalid input: `errors` names each field; nothing was written.",
    401: "No or invalid credentials (`Authorization: Token <token>`, or a session with CSRF).",
    403: "Authenticated, but your role may not do this.",
    404: "No such object among those you may see (another tenant's objects are never revealed).",
    409: "Conflict.",
    422: "The Idempotency-Key was used before with another request body.",
    429: "Throttled: retry after `Retry-After` seconds.",
}

PROBLEM_EXAMPLES = {
    400: OpenApiExample(
        "invalid field",
        value={
            "type": "urn:mca:problem:validation_error",
            "title": "Invalid input",
            "status": 400,
            "detail": "The request has invalid fields.",
            "code": "validation_error",
            "errors": {"accepted": ["Must be true or false."]},
        },
        response_only=True,
        status_codes=["400"],
    ),
    409: OpenApiExample(
        "acceptance required",
        value={
            "type": "urn:mca:problem:mca_acceptance_required",
            "title": "Microsoft Customer Agreement acceptance required",
            "status": 409,
            "detail": "Not a Partner Center customer yet and no acceptance recorded",
            "code": "mca_acceptance_required",
            "reason_code": "new_customer",
            "reason": "Not a Partner Center customer yet and no acceptance recorded",
            "acceptance_url": "https://bss.example/api/v1/accounts/1/mca/acceptances/",
            "mca": {"needed": True, "reason_code": "new_customer", "flow": "enhanced"},
        },
        response_only=True,
        status_codes=["409"],
    ),
}


def problems(*statuses: int, mca: bool = False) -> dict[tuple[int, str], OpenApiResponse]:
    """The error responses of an endpoint, as `application/problem+json` (401 and 429 are on every endpoint)."""
    responses: dict[tuple[int, str], OpenApiResponse] = {}
    for status in sorted({*statuses, 401, 429}):
        serializer = McaProblemSerializer if status == 409 and mca else ProblemSerializer
        examples = [PROBLEM_EXAMPLES[status]] if status in PROBLEM_EXAMPLES and (status != 409 or mca) else []
        responses[(status, PROBLEM_CONTENT_TYPE)] = OpenApiResponse(
            serializer, description=DESCRIPTIONS[status], examples=examples
        )
    return responses
