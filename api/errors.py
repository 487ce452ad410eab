"""Every API error as RFC 9457 problem details (`application/problem+json`):

    {"type": "urn:mca:problem:validation_error", "title": "Invalid input", "status": 400,
     "detail": "...", "code": "validation_error", "errors": {"accepted": ["Tick the box ..."]}}

`code` is one of `ProblemCode` (stable, enumerable); `errors` maps a field path (`lines[0].quantity`,
`mca_acceptance.email`, `non_field_errors`) to its messages. The gate's refusals get their own codes:
`mca_acceptance_required` (409, with the gate's decision and where to post the acceptance).
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any

from django.conf import settings
from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.core.exceptions import RequestDataTooBig
from django.core.exceptions import ValidationError as DjangoValidationError
from django.http import Http404
from rest_framework import exceptions, status
from rest_framework.response import Response
from rest_framework.views import exception_handler

from mca import gate

PROBLEM_CONTENT_TYPE = "application/problem+json"


class ProblemCode(StrEnum):
    VALIDATION_ERROR = "validation_error"
    PARSE_ERROR = "parse_error"
    NOT_AUTHENTICATED = "not_authenticated"
    AUTHENTICATION_FAILED = "authentication_failed"
    ACCOUNT_LOCKED = "account_locked"
    MFA_REQUIRED = "mfa_required"
    PERMISSION_DENIED = "permission_denied"
    NOT_FOUND = "not_found"
    METHOD_NOT_ALLOWED = "method_not_allowed"
    NOT_ACCEPTABLE = "not_acceptable"
    UNSUPPORTED_MEDIA_TYPE = "unsupported_media_type"
    MCA_ACCEPTANCE_REQUIRED = gate.ACCEPTANCE_REQUIRED_CODE
    ORDER_NOT_EXECUTABLE = "order_not_executable"
    IDEMPOTENCY_KEY_REUSED = "idempotency_key_reused"
    IDEMPOTENCY_KEY_IN_USE = "idempotency_key_in_use"
    THROTTLED = "throttled"
    REQUEST_TOO_LARGE = "request_too_large"
    WEBHOOK_SUBSCRIPTION_DISABLED = "webhook_subscription_disabled"


TITLES = {
    ProblemCode.WEBHOOK_SUBSCRIPTION_DISABLED: "The webhook subscription is disabled",
    ProblemCode.VALIDATION_ERROR: "Invalid input",
    ProblemCode.PARSE_ERROR: "Malformed request body",
    ProblemCode.NOT_AUTHENTICATED: "Authentication required",
    ProblemCode.AUTHENTICATION_FAILED: "Authentication failed",
    ProblemCode.ACCOUNT_LOCKED: "Sign-in locked after too many failures",
    ProblemCode.MFA_REQUIRED: "Second factor required",
    ProblemCode.PERMISSION_DENIED: "Not allowed",
    ProblemCode.NOT_FOUND: "Not found",
    ProblemCode.METHOD_NOT_ALLOWED: "Method not allowed",
    ProblemCode.NOT_ACCEPTABLE: "Not acceptable",
    ProblemCode.UNSUPPORTED_MEDIA_TYPE: "Unsupported media type",
    ProblemCode.MCA_ACCEPTANCE_REQUIRED: "Microsoft Customer Agreement acceptance required",
    ProblemCode.ORDER_NOT_EXECUTABLE: "The order cannot be executed in its status",
    ProblemCode.IDEMPOTENCY_KEY_REUSED: "Idempotency key used for another request",
    ProblemCode.IDEMPOTENCY_KEY_IN_USE: "A request with this idempotency key is still running",
    ProblemCode.THROTTLED: "Too many requests",
    ProblemCode.REQUEST_TOO_LARGE: "Request body too large",
}


class Conflict(exceptions.APIException):
    status_code = status.HTTP_409_CONFLICT
    default_code = ProblemCode.ORDER_NOT_EXECUTABLE
    default_detail = TITLES[ProblemCode.ORDER_NOT_EXECUTABLE]


class SubscriptionDisabled(exceptions.APIException):
    """A replay for a disabled subscription: enable it first."""

    status_code = status.HTTP_409_CONFLICT
    default_code = ProblemCode.WEBHOOK_SUBSCRIPTION_DISABLED
    default_detail = TITLES[ProblemCode.WEBHOOK_SUBSCRIPTION_DISABLED]


class AccountLocked(exceptions.APIException):
    """Too many failed sign-ins for the user name (django-axes): refused whatever the password, until unlocked."""

    status_code = status.HTTP_429_TOO_MANY_REQUESTS
    default_code = ProblemCode.ACCOUNT_LOCKED
    default_detail = TITLES[ProblemCode.ACCOUNT_LOCKED]


class MfaRequired(exceptions.APIException):
    """The user must prove a second factor (config/mfa.py): the token endpoint wants the code in X-OTP-Token."""

    status_code = status.HTTP_403_FORBIDDEN
    default_code = ProblemCode.MFA_REQUIRED
    default_detail = (
        "Your account needs a second factor: send the code of your authenticator app in the X-OTP-Token header "
        "(enrol at /accounts/mfa/ first)."
    )


class IdempotencyKeyReused(exceptions.APIException):
    status_code = status.HTTP_422_UNPROCESSABLE_ENTITY
    default_code = ProblemCode.IDEMPOTENCY_KEY_REUSED
    default_detail = "This Idempotency-Key was already used with another request body; use a new key."


class IdempotencyKeyInUse(exceptions.APIException):
    status_code = status.HTTP_409_CONFLICT
    default_code = ProblemCode.IDEMPOTENCY_KEY_IN_USE
    default_detail = "A request with this Idempotency-Key is still running; retry in a moment."


class AcceptanceRequiredError(exceptions.APIException):
    """R11 in the API: the operation needs the customer's MCA acceptance; the problem says where to post it."""

    status_code = status.HTTP_409_CONFLICT
    default_code = ProblemCode.MCA_ACCEPTANCE_REQUIRED

    def __init__(self, decision: gate.Decision, *, acceptance_url: str, resend_link_url: str = "") -> None:
        super().__init__(decision.reason, code=self.default_code)
        self.decision = decision
        self.acceptance_url = acceptance_url
        self.resend_link_url = resend_link_url
        self.outcome: dict[str, Any] | None = None


def problem(
    status_code: int,
    code: str,
    detail: str = "",
    *,
    errors: dict[str, list[str]] | None = None,
    headers: dict[str, str] | None = None,
    **extensions: Any,
) -> Response:
    body: dict[str, Any] = {
        "type": f"urn:mca:problem:{code}",
        "title": TITLES.get(code, "Error"),
        "status": status_code,
        "detail": detail or TITLES.get(code, ""),
        "code": code,
    }
    if errors is not None:
        body["errors"] = errors
    body.update(extensions)
    return Response(body, status=status_code, headers=headers, content_type=PROBLEM_CONTENT_TYPE)


def flatten_errors(detail: Any, prefix: str = "") -> dict[str, list[str]]:
    """DRF's nested error detail (dicts, lists of dicts) as one level: field path -> messages."""
    flat: dict[str, list[str]] = {}
    if isinstance(detail, dict):
        for key, value in detail.items():
            # DRF keys a list's item errors by index: lines[0].quantity
            path = f"{prefix}[{key}]" if isinstance(key, int) else (f"{prefix}.{key}" if prefix else str(key))
            for sub, messages in flatten_errors(value, path).items():
                flat.setdefault(sub, []).extend(messages)
    elif isinstance(detail, (list, tuple)):
        for index, value in enumerate(detail):
            if isinstance(value, (dict, list, tuple)):
                for sub, messages in flatten_errors(value, f"{prefix}[{index}]").items():
                    flat.setdefault(sub, []).extend(messages)
            else:
                flat.setdefault(prefix or "non_field_errors", []).append(str(value))
    else:
        flat.setdefault(prefix or "non_field_errors", []).append(str(detail))
    return {key: value for key, value in flat.items() if value}


def django_errors(error: DjangoValidationError, prefix: str = "") -> dict[str, list[str]]:
    """A Django ValidationError (a form's, the gate's `AcceptanceInvalid`, `OrderInvalid`) per field."""
    if hasattr(error, "error_dict"):
        detail = {
            ("non_field_errors" if field == "__all__" else field): [message for item in items for message in item]
            for field, items in error.error_dict.items()
        }
    else:
        detail = {"non_field_errors": list(error.messages)}
    return flatten_errors(detail, prefix)


def _code_of(exc: exceptions.APIException) -> str:
    if isinstance(exc, exceptions.ValidationError):
        return ProblemCode.VALIDATION_ERROR
    codes = exc.get_codes()
    return codes if isinstance(codes, str) else getattr(exc, "default_code", "error")


def problem_exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    if isinstance(exc, gate.IdempotencyConflict):
        exc = IdempotencyKeyReused(" ".join(exc.messages))
    elif isinstance(exc, DjangoValidationError):  # AcceptanceInvalid, OrderInvalid: the services' messages
        return problem(400, ProblemCode.VALIDATION_ERROR, "The request has invalid fields.", errors=django_errors(exc))
    elif isinstance(exc, Http404):
        exc = exceptions.NotFound()
    elif isinstance(exc, DjangoPermissionDenied):
        exc = exceptions.PermissionDenied(str(exc) or None)
    elif isinstance(exc, RequestDataTooBig):
        # Django refuses to read a body over DATA_UPLOAD_MAX_MEMORY_SIZE; left alone it would answer with its HTML
        # "Bad Request" page (found by `make drill`'s bad_input).
        limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE / (1024 * 1024)
        detail = f"The request body is larger than the {limit:g} MB this API accepts."
        return problem(413, ProblemCode.REQUEST_TOO_LARGE, detail)

    if isinstance(exc, AcceptanceRequiredError):
        extensions: dict[str, Any] = {
            "reason_code": exc.decision.reason_code,
            "reason": exc.decision.reason,
            "acceptance_url": exc.acceptance_url,
            "mca": exc.decision.as_dict(),
        }
        if exc.resend_link_url:
            extensions["resend_link_url"] = exc.resend_link_url
        if exc.outcome is not None:
            extensions["acceptance"] = exc.outcome
        return problem(409, ProblemCode.MCA_ACCEPTANCE_REQUIRED, exc.decision.reason, **extensions)

    response = exception_handler(exc, context)
    if response is None or not isinstance(exc, exceptions.APIException):
        return response  # a bug: Django's 500 page, logged
    code = _code_of(exc)
    errors = None
    detail = ""
    if isinstance(exc, exceptions.ValidationError):
        errors = flatten_errors(exc.detail)
        detail = "The request has invalid fields."
    else:
        detail = str(exc.detail)
    headers = {key: value for key, value in response.items() if key in ("WWW-Authenticate", "Retry-After", "Allow")}
    return problem(response.status_code, code, detail, errors=errors, headers=headers)
