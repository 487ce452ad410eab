"""Microsoft's JSON answers -> the dataclasses in `types`, defensively.

Every function here takes whatever `json.loads` produced and either returns a result or raises
PartnerCenterBadResponse: callers never see KeyError/TypeError/ValueError from a surprising answer. Error
messages name the field, never the value (a customer answer carries an initial password).

Shapes are those of /work/shared/partner-center.md. Where Microsoft's documentation is loose the leniency is
deliberate and local to this module: the agreement type is read from `type` or `agreementType`, error codes may
be strings or numbers, and dates without an offset are UTC. Assumed (not read on a Microsoft page): a customer
without partner confirmations answers `{"totalCount": 0, "items": []}` - an answer with neither is accepted too.
The enhanced attestation's names are assumed as a whole: they come from `partner_center.wire_assumed`.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

from . import wire_assumed as assumed
from .errors import PartnerCenterBadResponse
from .types import (
    AgreementContact,
    AgreementDocument,
    AgreementTemplate,
    AttestationStatus,
    Customer,
    CustomerAgreement,
    DirectSignedStatus,
    EnhancedAttestation,
    OrderLineResult,
    PartnerCenterOrder,
    PartnerCenterSubscription,
    Signatory,
)

_MISSING = object()

# Keys removed from a customer answer before it is kept or returned: Microsoft sends the new tenant admin's
# initial password in them.
SECRET_CUSTOMER_KEYS = ("userCredentials",)


def _bad(what: str) -> PartnerCenterBadResponse:
    return PartnerCenterBadResponse(f"Unexpected Partner Center answer: {what}")


def load_json(content: bytes) -> Any:
    if not content:
        raise _bad("empty body")
    try:
        return json.loads(content)
    except (ValueError, UnicodeDecodeError):  # JSONDecodeError is a ValueError
        raise _bad("not JSON") from None


def as_object(value: Any, where: str = "body") -> dict[str, Any]:
    if not isinstance(value, dict):
        raise _bad(f"{where} is not a JSON object")
    return value


def _get(obj: Mapping[str, Any], *keys: str) -> Any:
    for key in keys:
        if key in obj and obj[key] is not None:
            return obj[key]
    return _MISSING


def req_str(obj: Mapping[str, Any], *keys: str, where: str = "") -> str:
    value = _get(obj, *keys)
    if value is _MISSING:
        raise _bad(f"missing {where}{keys[0]}")
    if not isinstance(value, str):
        raise _bad(f"{where}{keys[0]} is not a string")
    return value


def opt_str(obj: Mapping[str, Any], *keys: str, default: str = "", where: str = "") -> str:
    value = _get(obj, *keys)
    if value is _MISSING:
        return default
    if not isinstance(value, str):
        raise _bad(f"{where}{keys[0]} is not a string")
    return value


def _to_int(value: Any, name: str) -> int:
    # bool is an int subclass; `true` as a quantity is nonsense, not 1.
    if isinstance(value, bool):
        raise _bad(f"{name} is not an integer")
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, str) and value.strip().lstrip("-").isdigit():
        return int(value.strip())
    raise _bad(f"{name} is not an integer")


def req_int(obj: Mapping[str, Any], *keys: str, where: str = "") -> int:
    value = _get(obj, *keys)
    if value is _MISSING:
        raise _bad(f"missing {where}{keys[0]}")
    return _to_int(value, f"{where}{keys[0]}")


def opt_int(obj: Mapping[str, Any], *keys: str, default: int = 0, where: str = "") -> int:
    value = _get(obj, *keys)
    if value is _MISSING:
        return default
    return _to_int(value, f"{where}{keys[0]}")


def parse_datetime(value: Any, name: str = "date") -> datetime:
    """ISO 8601 from Microsoft -> an aware datetime; no offset means UTC (Microsoft's own convention)."""
    if not isinstance(value, str) or not value:
        raise _bad(f"{name} is not a date string")
    text = value.strip()
    # .NET writes seven fractional digits; trim to the six Python keeps, before any offset.
    if "." in text:
        head, _, tail = text.partition(".")
        digits = len(tail) - len(tail.lstrip("0123456789"))
        if digits > 6:
            text = f"{head}.{tail[:6]}{tail[digits:]}"
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        raise _bad(f"{name} is not an ISO 8601 date") from None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed


def format_datetime(value: datetime) -> str:
    """An aware datetime -> Microsoft's sample format, `2018-06-14T00:00:00.000Z` (UTC, milliseconds)."""
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError("Partner Center dates must be timezone-aware")
    utc = value.astimezone(UTC)
    return utc.strftime("%Y-%m-%dT%H:%M:%S.") + f"{utc.microsecond // 1000:03d}Z"


def _items(body: Any) -> list[dict[str, Any]]:
    obj = as_object(body)
    items = obj.get("items")
    if items is None:
        # A collection with nothing in it may come without `items` (assumed); anything else is a surprise.
        if opt_int(obj, "totalCount", default=0) == 0:
            return []
        raise _bad("missing items")
    if not isinstance(items, list):
        raise _bad("items is not a list")
    return [as_object(item, "items[]") for item in items]


# --- error bodies ---------------------------------------------------------------------------------------------


def parse_error(content: bytes) -> tuple[str, str, dict[str, Any]]:
    """(code, description, raw) from an error answer, whatever its shape; never raises.

    Classic errors: `{"code": "600061" | 600061, "description": ...}`; newer ones add `message`, `errorName`...;
    429s send `{"statusCode": 429, "message": ...}`.
    """
    try:
        raw = json.loads(content) if content else {}
    except (ValueError, UnicodeDecodeError):
        return "", "", {}
    if not isinstance(raw, dict):
        return "", "", {}
    code = raw.get("code", raw.get("errorCode", ""))
    if isinstance(code, bool) or not isinstance(code, str | int | float):
        code = ""
    if isinstance(code, float) and code.is_integer():
        code = int(code)
    description = raw.get("description") or raw.get("message") or raw.get("errorMessage") or ""
    if not isinstance(description, str):
        description = str(description)
    return str(code).strip(), description, raw


# --- agreements -----------------------------------------------------------------------------------------------


def parse_template(item: Mapping[str, Any]) -> AgreementTemplate:
    return AgreementTemplate(
        template_id=req_str(item, "templateId"),
        agreement_type=req_str(item, "type", "agreementType"),
        agreement_link=opt_str(item, "agreementLink"),
        version_rank=opt_int(item, "versionRank", default=0),
        raw=dict(item),
    )


def parse_templates(body: Any) -> list[AgreementTemplate]:
    return [parse_template(item) for item in _items(body)]


def parse_document(body: Any, *, template_id: str, language: str, country: str) -> AgreementDocument:
    obj = as_object(body)
    return AgreementDocument(
        template_id=template_id,
        display_uri=req_str(obj, "displayUri"),
        # Cached documents come back without downloadUri (it expires in five minutes and is never stored).
        download_uri=opt_str(obj, "downloadUri"),
        language=opt_str(obj, "language", default=language),
        country=opt_str(obj, "country", default=country),
    )


def parse_contact(value: Any) -> AgreementContact | None:
    if value is None:
        return None
    obj = as_object(value, "primaryContact")
    where = "primaryContact."
    return AgreementContact(
        first_name=opt_str(obj, "firstName", where=where),
        last_name=opt_str(obj, "lastName", where=where),
        email=opt_str(obj, "email", where=where),
        phone_number=opt_str(obj, "phoneNumber", where=where) or None,
    )


def parse_customer_agreement(item: Mapping[str, Any], *, default_type: str = "") -> CustomerAgreement:
    agreement_type = opt_str(item, "type", "agreementType", default=default_type)
    if not agreement_type:
        raise _bad("missing type")
    return CustomerAgreement(
        template_id=req_str(item, "templateId"),
        agreement_type=agreement_type,
        date_agreed=parse_datetime(item.get("dateAgreed"), "dateAgreed"),
        primary_contact=parse_contact(item.get("primaryContact")),
        agreement_link=opt_str(item, "agreementLink"),
        user_id=opt_str(item, "userId"),
        raw=dict(item),
    )


def parse_customer_agreements(body: Any, *, default_type: str = "") -> list[CustomerAgreement]:
    return [parse_customer_agreement(item, default_type=default_type) for item in _items(body)]


def parse_direct_signed(body: Any) -> DirectSignedStatus:
    obj = as_object(body)
    value = obj.get("isSigned")
    if not isinstance(value, bool):
        raise _bad("isSigned is missing or not a boolean")
    return DirectSignedStatus(is_signed=value, raw=dict(obj))


# --- enhanced attestation -------------------------------------------------------------------------------------

_ATTESTATION_STATUSES = {
    assumed.STATUS_PENDING: AttestationStatus.PENDING,
    assumed.STATUS_ACCEPTED: AttestationStatus.ACCEPTED,
    assumed.STATUS_EXPIRED: AttestationStatus.EXPIRED,
    assumed.STATUS_CANCELLED: AttestationStatus.CANCELLED,
}


def _acceptance_url(obj: Mapping[str, Any]) -> str:
    url = req_str(obj, assumed.ACCEPTANCE_URL)
    # The link is handed to a signatory and rendered as a link: anything but an absolute http(s) URL (a
    # `javascript:` one, say) is refused rather than passed on.
    parts = urlsplit(url.strip())
    if parts.scheme.lower() not in {"https", "http"} or not parts.netloc:
        raise _bad(f"{assumed.ACCEPTANCE_URL} is not an absolute http(s) URL")
    return url.strip()


def parse_enhanced_attestation(
    body: Any,
    *,
    sent_signatory: Signatory | None = None,
    sent_country: str = "",
    sent_language: str = "",
    now: datetime | None = None,
) -> EnhancedAttestation:
    """An attestation answer (create or read). The echo of the fields sent is assumed, so on a create answer the
    values sent stand in for any the answer leaves out; a read answer must carry the documented ones.

    A `pending` attestation whose `expiresAt` has passed is reported as EXPIRED: its link no longer works, whether
    or not Microsoft has updated the status yet.
    """
    obj = as_object(body)
    raw_status = req_str(obj, assumed.STATUS)
    status = _ATTESTATION_STATUSES.get(raw_status.strip().lower())
    if status is None:
        raise _bad(f"{assumed.STATUS} is not a known attestation status")
    expires_at = parse_datetime(obj.get(assumed.EXPIRES_AT), assumed.EXPIRES_AT).astimezone(UTC)
    accepted_raw = obj.get(assumed.ACCEPTED_AT)
    accepted_at = parse_datetime(accepted_raw, assumed.ACCEPTED_AT).astimezone(UTC) if accepted_raw else None
    if status is AttestationStatus.PENDING and expires_at <= (now or datetime.now(UTC)):
        status = AttestationStatus.EXPIRED

    def text(key: str, fallback: str | None) -> str:
        if fallback:
            return opt_str(obj, key, default=fallback)
        return req_str(obj, key)

    sent = sent_signatory
    signatory = Signatory(
        first_name=text(assumed.SIGNATORY_FIRST_NAME, sent.first_name if sent else None),
        last_name=text(assumed.SIGNATORY_LAST_NAME, sent.last_name if sent else None),
        email=opt_str(obj, assumed.SIGNATORY_EMAIL, default=sent.email if sent else ""),
        company_name=text(assumed.COMPANY_NAME, sent.company_name if sent else None),
        phone_number=opt_str(obj, assumed.SIGNATORY_PHONE_NUMBER) or (sent.phone_number if sent else None) or None,
    )
    attestation_id = req_str(obj, assumed.ATTESTATION_ID).strip()
    if not attestation_id:
        raise _bad(f"{assumed.ATTESTATION_ID} is empty")
    return EnhancedAttestation(
        attestation_id=attestation_id,
        status=status,
        acceptance_url=_acceptance_url(obj),
        expires_at=expires_at,
        accepted_at=accepted_at,
        country=text(assumed.COUNTRY, sent_country or None).upper(),
        language=text(assumed.LANGUAGE, sent_language or None),
        signatory=signatory,
        raw=dict(obj),
    )


# --- customers, orders, subscriptions -------------------------------------------------------------------------


def strip_secrets(obj: Mapping[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in obj.items() if key not in SECRET_CUSTOMER_KEYS}


def parse_customer(body: Any) -> Customer:
    obj = strip_secrets(as_object(body))
    company = obj.get("companyProfile") or {}
    billing = obj.get("billingProfile") or {}
    company = as_object(company, "companyProfile")
    billing = as_object(billing, "billingProfile")
    tenant_id = opt_str(obj, "id") or opt_str(company, "tenantId", where="companyProfile.")
    if not tenant_id:
        raise _bad("missing id")
    return Customer(
        tenant_id=tenant_id,
        commerce_id=opt_str(obj, "commerceId"),
        company_name=opt_str(company, "companyName", where="companyProfile.")
        or opt_str(billing, "companyName", where="billingProfile."),
        domain=opt_str(company, "domain", where="companyProfile."),
        raw=obj,
    )


def parse_order(body: Any) -> PartnerCenterOrder:
    obj = as_object(body)
    raw_lines = obj.get("lineItems") or []
    if not isinstance(raw_lines, list):
        raise _bad("lineItems is not a list")
    lines = []
    for index, line in enumerate(raw_lines):
        line = as_object(line, "lineItems[]")
        lines.append(
            OrderLineResult(
                line_item_number=opt_int(line, "lineItemNumber", default=index, where="lineItems[]."),
                offer_id=req_str(line, "offerId", where="lineItems[]."),
                quantity=req_int(line, "quantity", where="lineItems[]."),
                subscription_id=opt_str(line, "subscriptionId", where="lineItems[]."),
            )
        )
    creation = obj.get("creationDate")
    return PartnerCenterOrder(
        order_id=req_str(obj, "id"),
        status=opt_str(obj, "status"),
        line_items=tuple(lines),
        creation_date=parse_datetime(creation, "creationDate") if creation is not None else None,
        raw=dict(obj),
    )


def parse_subscription(body: Any) -> PartnerCenterSubscription:
    obj = as_object(body)
    attributes = as_object(obj.get("attributes") or {}, "attributes")
    return PartnerCenterSubscription(
        subscription_id=req_str(obj, "id"),
        offer_id=opt_str(obj, "offerId"),
        quantity=req_int(obj, "quantity"),
        status=opt_str(obj, "status"),
        etag=opt_str(attributes, "etag", where="attributes."),
        raw=dict(obj),
    )
