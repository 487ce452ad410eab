"""The simulator's rules: what Partner Center accepts, refuses and remembers.

Views parse HTTP and call these; each function validates everything before it writes, so a refused request
leaves no row behind. Errors are `SimulatorError`s carrying Microsoft's status, code and description.
"""

from __future__ import annotations

import secrets
import uuid
from datetime import UTC, date, datetime, timedelta
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.db import IntegrityError, transaction
from django.db.models import Max
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from partner_center import wire_assumed as assumed
from partner_center.simulator import wire
from partner_center.simulator.models import (
    AGREEMENT_TYPES,
    CLOUD_AGREEMENT,
    MCA,
    AttestationStatus,
    SimAgreement,
    SimAgreementTemplate,
    SimAttestation,
    SimCustomer,
    SimOrder,
    SimSubscription,
)
from partner_center.simulator.wire import SimulatorError, invalid

# Microsoft refreshed the MCA on 2023-04-01, and since 2025-10-07 requires customers whose partner attested
# before that refresh to accept again before new purchases or quantity changes: older attestations don't count.
MCA_ATTESTATION_MIN_DATE = date(2023, 4, 1)

# Clocks differ between the caller and Partner Center; a dateAgreed this little in the future is still "now".
DATE_AGREED_CLOCK_SKEW = timedelta(minutes=5)

# Assumed: Partner Center's per-offer maximum varies; one simulator-wide maximum exercises error 2002.
MAX_QUANTITY = 10_000

# Where Microsoft serves agreement documents is not documented; the simulator serves a stand-in document itself,
# under its own root (`agreements/<template>/<country>/<language>`), so the links work offline.
DOCUMENT_URI_LIFETIME = timedelta(minutes=5)

# The languages Partner Center serves the MCA in, by country (docs/partner-center.md); en-US everywhere.
DOCUMENT_LANGUAGES: dict[str, tuple[str, ...]] = {
    "US": ("en-US",),
    "GB": ("en-US",),
    "AU": ("en-US",),
    "CA": ("en-US", "fr-FR"),
    "DE": ("en-US", "de-DE"),
    "FR": ("en-US", "fr-FR"),
    "ES": ("en-US", "es-ES"),
    "IT": ("en-US", "it-IT"),
    "NL": ("en-US", "nl-NL"),
    "BR": ("en-US", "pt-BR"),
    "JP": ("en-US", "ja-JP"),
    "IN": ("en-US", "hi-IN"),
}

AGREEMENT_LINKS = {
    MCA: "https://aka.ms/customeragreement",
    # Assumed: the simulator's own link for the legacy Microsoft Cloud Agreement.
    CLOUD_AGREEMENT: "https://aka.ms/microsoftcloudagreement",
}

# How long a signatory has to accept, unless PARTNER_CENTER_SIMULATOR_ATTESTATION_TTL (seconds) says otherwise:
# CSP platforms expose links valid from 5 minutes to 7 days; the simulator defaults to the longest.
DEFAULT_ATTESTATION_TTL = 7 * 24 * 3600

# Assumed: a BCP 47 tag such as en-US; Microsoft's list of accepted languages is not documented for attestations.
_LANGUAGE_MAX = 35

_USER_NAMESPACE = uuid.UUID("0b7c3c55-45d5-4a4e-8f0e-4d1f1f7a2b90")


# --- Small parsing helpers -----------------------------------------------------------------------------


def _object(value: Any, name: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise invalid(f"{name} is required and must be an object.")
    return value


def _text(container: dict[str, Any], key: str, name: str | None = None, *, required: bool = True) -> str:
    value = container.get(key)
    label = name or key
    if value is None or value == "":
        if required:
            raise invalid(f"{label} is required.")
        return ""
    if not isinstance(value, str) or not value.strip():
        raise invalid(f"{label} must be a non-empty string.")
    return value.strip()


def _bounded(container: dict[str, Any], key: str, limit: int, *, required: bool = True) -> str:
    # Partner Center answers an over-long field with 800002; the simulator must not fail in the database instead.
    value = _text(container, key, required=required)
    if len(value) > limit:
        raise invalid(f"{key} must be at most {limit} characters.")
    return value


def _email(container: dict[str, Any], key: str, name: str) -> str:
    value = _text(container, key, name)
    try:
        validate_email(value)
    except ValidationError:
        raise invalid(f"{name} is not a valid email address.") from None
    return value


def _quantity(value: Any, name: str) -> int:
    # bool is an int in Python; Partner Center would not take true as a quantity.
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise invalid(f"{name} must be a positive whole number.")
    if value > MAX_QUANTITY:
        raise SimulatorError(
            400,
            wire.QUANTITY_OUT_OF_RANGE,
            f"{name} {value} is outside the allowed range 1-{MAX_QUANTITY} for this offer.",
        )
    return value


def agreement_type_filter(value: str | None) -> tuple[str, ...]:
    """The types a `?agreementType=` asks for: omitted = Cloud Agreement (Microsoft's backward compatibility)."""
    if value is None or value == "":
        return (CLOUD_AGREEMENT,)
    if value == "*":
        return AGREEMENT_TYPES
    if value not in AGREEMENT_TYPES:
        raise invalid(f"agreementType '{value}' is not supported.")
    return (value,)


# --- Selectors -------------------------------------------------------------------------------------------


def get_customer(tenant_id: str) -> SimCustomer:
    try:
        return SimCustomer.objects.get(tenant_id=uuid.UUID(tenant_id))
    except (ValueError, SimCustomer.DoesNotExist):
        raise SimulatorError(404, wire.TENANT_NOT_FOUND, f"Customer tenant {tenant_id} was not found.") from None


def has_mca_acceptance(customer: SimCustomer) -> bool:
    """Microsoft's purchase gate: direct acceptance, or a partner MCA attestation from the current MCA."""
    if customer.direct_signed:
        return True
    cutoff = datetime.combine(MCA_ATTESTATION_MIN_DATE, datetime.min.time(), tzinfo=UTC)
    return customer.agreements.filter(agreement_type=MCA, date_agreed__gte=cutoff).exists()


def _require_mca_acceptance(customer: SimCustomer) -> None:
    if not has_mca_acceptance(customer):
        raise SimulatorError(403, wire.MCA_ACCEPTANCE_REQUIRED, wire.MCA_REQUIRED_DESCRIPTION)


def list_templates(agreement_type: str | None) -> list[SimAgreementTemplate]:
    types = agreement_type_filter(agreement_type)
    return list(SimAgreementTemplate.objects.filter(agreement_type__in=types).order_by("agreement_type", "pk"))


def list_customer_agreements(*, tenant_id: str, agreement_type: str | None) -> list[SimAgreement]:
    customer = get_customer(tenant_id)
    types = agreement_type_filter(agreement_type)
    # The attestation is joined because an agreement made from one names it in its answer.
    return list(customer.agreements.filter(agreement_type__in=types).select_related("attestation"))


def direct_signed_status(tenant_id: str) -> bool:
    return get_customer(tenant_id).direct_signed


def get_subscription(*, tenant_id: str, subscription_id: str) -> SimSubscription:
    customer = get_customer(tenant_id)
    try:
        return SimSubscription.objects.select_related("customer", "order").get(
            customer=customer, subscription_id=uuid.UUID(subscription_id)
        )
    except (ValueError, SimSubscription.DoesNotExist):
        # Assumed: Microsoft's code for an unknown subscription is not documented.
        raise SimulatorError(404, wire.INVALID_INPUT, f"Subscription {subscription_id} was not found.") from None


def agreement_document(
    *, template_id: str, language: str | None, country: str | None, documents_base: str
) -> dict[str, str]:
    """The document links for one template, country and language, under `documents_base` (the simulator's own
    `agreements/` address); the download link expires in 5 minutes."""
    try:
        template = SimAgreementTemplate.objects.get(template_id=uuid.UUID(template_id))
    except (ValueError, SimAgreementTemplate.DoesNotExist):
        raise invalid(f"templateId {template_id} is not a known agreement template.") from None
    country = country or "US"
    # Country is case-sensitive upper-case ISO-2 at Microsoft: "us" is refused, not corrected.
    if len(country) != 2 or not country.isalpha() or not country.isupper():
        raise invalid(f"country '{country}' must be an upper-case ISO 3166-1 alpha-2 code.")
    supported = DOCUMENT_LANGUAGES.get(country, ("en-US",))
    language = language if language in supported else "en-US"
    expires = timezone.now() + DOCUMENT_URI_LIFETIME
    token = secrets.token_urlsafe(24)
    path = f"{template.template_id}/{country}/{language}"
    return {
        "displayUri": f"{documents_base}/{path}",
        "downloadUri": f"{documents_base}/{path}/download?se={wire.timestamp(expires)}&sig={token}",
        "language": language,
        "country": country,
    }


# --- Actions ---------------------------------------------------------------------------------------------


def user_id_for_token(token: str) -> str:
    """The partner user behind an App+User token: stable per token, as the simulator accepts any token."""
    return str(uuid.uuid5(_USER_NAMESPACE, token))


def _parse_date_agreed(value: Any) -> datetime:
    if not isinstance(value, str) or not value:
        raise invalid("dateAgreed is required.")
    parsed = parse_datetime(value.replace("Z", "+00:00")) if "T" in value else None
    if parsed is None:
        try:
            parsed = datetime.combine(date.fromisoformat(value), datetime.min.time())
        except ValueError:
            raise invalid(f"dateAgreed '{value}' is not a valid date.") from None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    if parsed > timezone.now() + DATE_AGREED_CLOCK_SKEW:
        raise invalid("dateAgreed cannot be in the future.")
    return parsed


def confirm_acceptance(*, tenant_id: str, data: Any, user_id: str) -> SimAgreement:
    """The legacy partner confirmation: 201 with the agreement, or 600061 for an identical contact."""
    customer = get_customer(tenant_id)
    body = _object(data, "The request body")
    contact = _object(body.get("primaryContact"), "primaryContact")
    first_name = _text(contact, "firstName", "primaryContact.firstName")
    last_name = _text(contact, "lastName", "primaryContact.lastName")
    email = _email(contact, "email", "primaryContact.email")
    phone = _text(contact, "phoneNumber", "primaryContact.phoneNumber", required=False)
    template_id = _text(body, "templateId")
    try:
        template = SimAgreementTemplate.objects.get(template_id=uuid.UUID(template_id))
    except (ValueError, SimAgreementTemplate.DoesNotExist):
        raise invalid(f"templateId {template_id} is not a known agreement template.") from None
    # Microsoft's resource table calls it `type`; samples elsewhere say `agreementType`: accept both.
    agreement_type = body.get("type") or body.get("agreementType") or template.agreement_type
    if agreement_type != template.agreement_type:
        raise invalid(f"type '{agreement_type}' does not match template {template_id}.")
    date_agreed = _parse_date_agreed(body.get("dateAgreed"))

    duplicate = customer.agreements.filter(
        agreement_type=agreement_type, first_name=first_name, last_name=last_name, email=email, phone_number=phone
    )
    if duplicate.exists():
        raise _already_exists()
    try:
        with transaction.atomic():
            return SimAgreement.objects.create(
                customer=customer,
                agreement_type=agreement_type,
                template_id=template.template_id,
                agreement_link=template.agreement_link,
                date_agreed=date_agreed,
                first_name=first_name,
                last_name=last_name,
                email=email,
                phone_number=phone,
                user_id=user_id,
            )
    except IntegrityError:
        # Two identical confirmations raced; the loser gets what it would have got a moment later.
        raise _already_exists() from None


# --- Enhanced attestation -------------------------------------------------------------------------------


def attestation_ttl() -> timedelta:
    return timedelta(seconds=getattr(settings, "PARTNER_CENTER_SIMULATOR_ATTESTATION_TTL", DEFAULT_ATTESTATION_TTL))


def effective_status(attestation: SimAttestation, now: datetime | None = None) -> str:
    """The status Partner Center would report: a pending attestation past its expiry is expired."""
    if attestation.status == AttestationStatus.PENDING and attestation.expires_at <= (now or timezone.now()):
        return AttestationStatus.EXPIRED
    return attestation.status


def create_attestation(*, data: Any) -> SimAttestation:
    """A pending attestation the signatory can accept on the hosted page until it expires."""
    body = _object(data, "The request body")
    country = _text(body, assumed.COUNTRY)
    # Country is upper-case ISO-2 and case-sensitive at Microsoft (as for agreement documents).
    if len(country) != 2 or not country.isalpha() or not country.isupper():
        raise invalid(f"{assumed.COUNTRY} '{country}' must be an upper-case ISO 3166-1 alpha-2 code.")
    language = _bounded(body, assumed.LANGUAGE, _LANGUAGE_MAX)
    if not all(part.isalnum() for part in language.split("-")):
        raise invalid(f"{assumed.LANGUAGE} '{language}' is not a language tag such as en-US.")
    company_name = _bounded(body, assumed.COMPANY_NAME, 200)
    first_name = _bounded(body, assumed.SIGNATORY_FIRST_NAME, 100)
    last_name = _bounded(body, assumed.SIGNATORY_LAST_NAME, 100)
    email = _email(body, assumed.SIGNATORY_EMAIL, assumed.SIGNATORY_EMAIL)
    phone = _bounded(body, assumed.SIGNATORY_PHONE_NUMBER, 40, required=False)
    now = timezone.now()
    return SimAttestation.objects.create(
        attestation_id=uuid.uuid4(),
        country=country,
        language=language,
        company_name=company_name,
        first_name=first_name,
        last_name=last_name,
        email=email,
        phone_number=phone,
        created_at=now,
        expires_at=now + attestation_ttl(),
    )


def get_attestation(attestation_id: str) -> SimAttestation:
    try:
        return SimAttestation.objects.select_related("agreement").get(attestation_id=uuid.UUID(attestation_id))
    except (ValueError, SimAttestation.DoesNotExist):
        # Assumed: Microsoft's code for an unknown attestation is not documented.
        raise SimulatorError(404, wire.INVALID_INPUT, f"Attestation {attestation_id} was not found.") from None


def document_template(template_id: str) -> SimAgreementTemplate:
    """A template whose document is asked for by its page (an unknown one is a 404 there)."""
    try:
        return SimAgreementTemplate.objects.get(template_id=uuid.UUID(template_id))
    except (ValueError, SimAgreementTemplate.DoesNotExist):
        unknown = f"templateId {template_id} is not a known agreement template."
        raise SimulatorError(404, wire.INVALID_INPUT, unknown) from None


def document_link_expired(expires_at: str) -> bool:
    """A download link past its `se` time (or without a readable one) no longer serves the document."""
    try:
        return datetime.fromisoformat(expires_at.replace("Z", "+00:00")) < timezone.now()
    except ValueError:
        return True


def current_mca_template_id() -> str | None:
    template = SimAgreementTemplate.objects.filter(agreement_type=MCA).order_by("-version_rank").first()
    return str(template.template_id) if template else None


def current_mca_link() -> str:
    """The MCA link the hosted page shows: the current template's, or Microsoft's short link."""
    template = SimAgreementTemplate.objects.filter(agreement_type=MCA).order_by("-version_rank").first()
    return template.agreement_link if template else AGREEMENT_LINKS[MCA]


def list_attestations(*, email: str | None = None) -> list[SimAttestation]:
    attestations = SimAttestation.objects.all()
    if email:
        attestations = attestations.filter(email__iexact=email.strip())
    return list(attestations.order_by("-created_at", "-pk"))


def accept_attestation(*, attestation_id: str, ip: str | None = None, user_agent: str = "") -> SimAttestation:
    """The signatory accepts. Accepting twice keeps the first acceptance; an expired link cannot be accepted."""
    with transaction.atomic():
        found = get_attestation(attestation_id)
        # Locked, so a double-clicked Accept records one acceptance time.
        attestation = SimAttestation.objects.select_for_update().get(pk=found.pk)
        if attestation.status == AttestationStatus.ACCEPTED:
            return attestation
        if attestation.status == AttestationStatus.CANCELLED:
            raise SimulatorError(410, wire.INVALID_INPUT, f"Attestation {attestation_id} was withdrawn by the partner.")
        if effective_status(attestation) == AttestationStatus.EXPIRED:
            raise SimulatorError(410, wire.INVALID_INPUT, f"Attestation {attestation_id} has expired.")
        attestation.status = AttestationStatus.ACCEPTED
        attestation.accepted_at = timezone.now()
        attestation.accepted_ip = ip or None
        attestation.accepted_user_agent = user_agent[:500]
        attestation.save(update_fields=["status", "accepted_at", "accepted_ip", "accepted_user_agent"])
    return attestation


def expire_attestation(*, attestation_id: str) -> SimAttestation:
    """Let a pending link lapse now (tests and drills); an accepted attestation stays accepted."""
    with transaction.atomic():
        found = get_attestation(attestation_id)
        attestation = SimAttestation.objects.select_for_update().get(pk=found.pk)
        if attestation.status == AttestationStatus.ACCEPTED:
            raise SimulatorError(409, wire.INVALID_INPUT, f"Attestation {attestation_id} is already accepted.")
        if attestation.status != AttestationStatus.EXPIRED:
            attestation.status = AttestationStatus.EXPIRED
            attestation.expires_at = min(attestation.expires_at, timezone.now())
            attestation.save(update_fields=["status", "expires_at"])
    return attestation


def cancel_attestation(*, attestation_id: str) -> SimAttestation:
    """The partner withdraws a link (the signatory was changed or the link cancelled): the hosted page then says it
    was superseded. Idempotent; an accepted attestation cannot be withdrawn."""
    with transaction.atomic():
        found = get_attestation(attestation_id)
        attestation = SimAttestation.objects.select_for_update().get(pk=found.pk)
        if attestation.status == AttestationStatus.ACCEPTED:
            raise SimulatorError(409, wire.INVALID_INPUT, f"Attestation {attestation_id} is already accepted.")
        if attestation.status != AttestationStatus.CANCELLED:
            attestation.status = AttestationStatus.CANCELLED
            attestation.save(update_fields=["status"])
    return attestation


def is_attestation_agreement(data: Any) -> bool:
    """Whether a create-agreement body is the enhanced one (with an attestation id) rather than the legacy one."""
    return isinstance(data, dict) and assumed.AGREEMENT_ATTESTATION_ID in data


def create_agreement_from_attestation(*, tenant_id: str, data: Any) -> SimAgreement:
    """The customer's MCA agreement from an accepted attestation, with its signatory as the contact.

    The same duplicate rule as the legacy confirmation applies (600061 for the same contact and customer).
    """
    customer = get_customer(tenant_id)
    body = _object(data, "The request body")
    raw_attestation = _text(body, assumed.AGREEMENT_ATTESTATION_ID)
    template_id = _text(body, assumed.AGREEMENT_TEMPLATE_ID)
    try:
        template = SimAgreementTemplate.objects.get(template_id=uuid.UUID(template_id))
    except (ValueError, SimAgreementTemplate.DoesNotExist):
        raise invalid(f"templateId {template_id} is not a known agreement template.") from None
    agreement_type = body.get(assumed.AGREEMENT_TYPE) or template.agreement_type
    if agreement_type != template.agreement_type:
        raise invalid(f"type '{agreement_type}' does not match template {template_id}.")
    if agreement_type != MCA:
        raise invalid(f"An attestation creates a {MCA} agreement, not {agreement_type}.")
    with transaction.atomic():
        try:
            found = SimAttestation.objects.get(attestation_id=uuid.UUID(raw_attestation))
        except (ValueError, SimAttestation.DoesNotExist):
            raise invalid(f"attestationId {raw_attestation} is not a known attestation.") from None
        # Locked: two customers cannot both turn the same attestation into an agreement.
        attestation = (
            SimAttestation.objects.select_for_update(of=("self",)).select_related("agreement").get(pk=found.pk)
        )
        status = effective_status(attestation)
        if status == AttestationStatus.EXPIRED:
            raise invalid(f"attestationId {raw_attestation} has expired before the signatory accepted it.")
        if status == AttestationStatus.CANCELLED:
            raise invalid(f"attestationId {raw_attestation} was withdrawn by the partner.")
        if status != AttestationStatus.ACCEPTED:
            raise invalid(f"attestationId {raw_attestation} has not been accepted by the signatory yet.")
        used_for = attestation.agreement
        if used_for is not None and used_for.customer_id != customer.pk:
            raise invalid(f"attestationId {raw_attestation} was already used for another customer.")
        duplicate = customer.agreements.filter(
            agreement_type=agreement_type,
            first_name=attestation.first_name,
            last_name=attestation.last_name,
            email=attestation.email,
            phone_number=attestation.phone_number,
        )
        if duplicate.exists():
            raise _already_exists()
        try:
            with transaction.atomic():
                agreement = SimAgreement.objects.create(
                    customer=customer,
                    agreement_type=agreement_type,
                    template_id=template.template_id,
                    agreement_link=template.agreement_link,
                    date_agreed=attestation.accepted_at,
                    first_name=attestation.first_name,
                    last_name=attestation.last_name,
                    email=attestation.email,
                    phone_number=attestation.phone_number,
                    # An app-only call: no partner user stands behind it.
                    user_id="",
                )
        except IntegrityError:
            raise _already_exists() from None
        attestation.agreement = agreement
        attestation.save(update_fields=["agreement"])
    return agreement


def _already_exists() -> SimulatorError:
    return SimulatorError(
        409,
        wire.AGREEMENT_ALREADY_EXISTS,
        "A partner confirmed agreement with the same primary contact already exists for this customer.",
        errorName="PartnerConfirmedAgreementAlreadyExists",
        isRetryable=False,
    )


def _domain(value: str) -> str:
    domain = value.lower()
    if not domain.endswith(".onmicrosoft.com"):
        domain = f"{domain}.onmicrosoft.com"
    prefix = domain.removesuffix(".onmicrosoft.com")
    if not prefix.isalnum() or len(prefix) > 27:
        raise invalid("companyProfile.domain must be letters and digits (at most 27) before .onmicrosoft.com.")
    return domain


def create_customer(*, data: Any) -> tuple[SimCustomer, dict[str, str]]:
    """A new customer tenant; returns it with the initial admin credentials (shown once, never stored)."""
    body = _object(data, "The request body")
    company = _object(body.get("companyProfile"), "companyProfile")
    billing = _object(body.get("billingProfile"), "billingProfile")
    address = _object(billing.get("defaultAddress"), "billingProfile.defaultAddress")
    domain = _domain(_text(company, "domain", "companyProfile.domain"))
    _email(billing, "email", "billingProfile.email")
    company_name = _text(billing, "companyName", "billingProfile.companyName")
    _text(address, "firstName", "billingProfile.defaultAddress.firstName")
    _text(address, "lastName", "billingProfile.defaultAddress.lastName")
    country = _text(address, "country", "billingProfile.defaultAddress.country")
    if len(country) != 2 or not country.isalpha():
        raise invalid("billingProfile.defaultAddress.country must be an ISO 3166-1 alpha-2 code.")
    if SimCustomer.objects.filter(domain=domain).exists():
        # Assumed: Microsoft's exact code for a taken domain is not documented.
        raise invalid(f"The domain {domain} is already in use.")
    try:
        with transaction.atomic():
            customer = SimCustomer.objects.create(
                tenant_id=uuid.uuid4(),
                commerce_id=uuid.uuid4(),
                company_name=company_name,
                domain=domain,
                country=country.upper(),
                billing_profile={**billing, "id": str(uuid.uuid4())},
            )
    except IntegrityError:
        raise invalid(f"The domain {domain} is already in use.") from None
    credentials = {"userName": f"admin@{domain}", "password": secrets.token_urlsafe(12)}
    return customer, credentials


def create_order(*, tenant_id: str, data: Any) -> tuple[SimOrder, list[SimSubscription]]:
    """An order with one new subscription per line item; refused (13605) without MCA acceptance."""
    customer = get_customer(tenant_id)
    body = _object(data, "The request body")
    items = body.get("lineItems")
    if not isinstance(items, list) or not items:
        raise invalid("lineItems is required and must be a non-empty list.")
    parsed: list[dict[str, Any]] = []
    for index, raw in enumerate(items):
        item = _object(raw, f"lineItems[{index}]")
        number = item.get("lineItemNumber", index)
        if isinstance(number, bool) or not isinstance(number, int) or number < 0:
            raise invalid(f"lineItems[{index}].lineItemNumber must be a whole number from 0.")
        parsed.append(
            {
                "line_item_number": number,
                "offer_id": _text(item, "offerId", f"lineItems[{index}].offerId"),
                "quantity": _quantity(item.get("quantity"), f"lineItems[{index}].quantity"),
                "friendly_name": _text(item, "friendlyName", required=False),
                "partner_id_on_record": _text(item, "partnerIdOnRecord", required=False),
            }
        )
    if len({p["line_item_number"] for p in parsed}) != len(parsed):
        raise invalid("lineItemNumber must be unique within the order.")
    _require_mca_acceptance(customer)

    now = timezone.now()
    with transaction.atomic():
        order = SimOrder.objects.create(
            order_id=uuid.uuid4(),
            customer=customer,
            reference_customer_id=str(body.get("referenceCustomerId") or ""),
            billing_cycle=str(body.get("billingCycle") or "monthly"),
            created_at=now,
        )
        subscriptions = [
            SimSubscription.objects.create(
                subscription_id=uuid.uuid4(),
                customer=customer,
                order=order,
                created_at=now,
                etag=_new_etag(),
                **item,
            )
            for item in parsed
        ]
    return order, subscriptions


def _new_etag() -> str:
    return secrets.token_urlsafe(18)


def update_subscription(*, tenant_id: str, subscription_id: str, data: Any) -> SimSubscription:
    """PATCH with the full resource: the etag must be current; a quantity change needs MCA acceptance."""
    body = _object(data, "The request body")
    attributes = _object(body.get("attributes"), "attributes")
    etag = _text(attributes, "etag", "attributes.etag")
    with transaction.atomic():
        current = get_subscription(tenant_id=tenant_id, subscription_id=subscription_id)
        # Lock the row so two PATCHes with the same etag cannot both win.
        sub = SimSubscription.objects.select_for_update().select_related("customer", "order").get(pk=current.pk)
        if etag != sub.etag:
            raise SimulatorError(
                400, wire.ETAG_STALE, "The ETag is no longer valid: read the subscription again and retry."
            )
        if "offerId" in body and body["offerId"] != sub.offer_id:
            raise invalid("offerId cannot be changed.")
        if "id" in body and str(body["id"]) != str(sub.subscription_id):
            raise invalid("id does not match the subscription in the path.")
        changes: dict[str, Any] = {}
        if "quantity" in body:
            quantity = _quantity(body["quantity"], "quantity")
            if quantity != sub.quantity:
                _require_mca_acceptance(sub.customer)
                changes["quantity"] = quantity
        if "friendlyName" in body and body["friendlyName"] != (sub.friendly_name or sub.offer_id):
            changes["friendly_name"] = _text(body, "friendlyName")
        if "autoRenewEnabled" in body:
            if not isinstance(body["autoRenewEnabled"], bool):
                raise invalid("autoRenewEnabled must be true or false.")
            if body["autoRenewEnabled"] != sub.auto_renew_enabled:
                changes["auto_renew_enabled"] = body["autoRenewEnabled"]
        if changes:
            for field, value in changes.items():
                setattr(sub, field, value)
            sub.etag = _new_etag()
            sub.save(update_fields=[*changes, "etag"])
    return sub


# --- Control actions (tests and drills) ------------------------------------------------------------------


def publish_template(*, data: Any) -> SimAgreementTemplate:
    """A newer template version (new templateId), so re-acceptance can be rehearsed."""
    body = _object(data, "The request body")
    rank = body.get("versionRank")
    if isinstance(rank, bool) or not isinstance(rank, int) or rank < 0:
        raise invalid("versionRank must be a whole number from 0.")
    agreement_type = body.get("agreementType", MCA)
    if agreement_type not in AGREEMENT_TYPES:
        raise invalid(f"agreementType must be one of {', '.join(AGREEMENT_TYPES)}.")
    if SimAgreementTemplate.objects.filter(agreement_type=agreement_type, version_rank=rank).exists():
        latest = SimAgreementTemplate.objects.filter(agreement_type=agreement_type).aggregate(rank=Max("version_rank"))[
            "rank"
        ]
        raise invalid(f"versionRank {rank} already exists for {agreement_type} (latest is {latest}).")
    return SimAgreementTemplate.objects.create(
        template_id=uuid.uuid4(),
        agreement_type=agreement_type,
        version_rank=rank,
        agreement_link=AGREEMENT_LINKS[agreement_type],
    )


def upsert_customer(*, data: Any) -> tuple[SimCustomer, bool]:
    """Create (or update) a customer directly, without the create-customer flow."""
    body = _object(data, "The request body")
    raw_tenant = _text(body, "tenantId")
    try:
        tenant_id = uuid.UUID(raw_tenant)
    except ValueError:
        raise invalid("tenantId must be a GUID.") from None
    company_name = _text(body, "companyName")
    direct_signed = body.get("directSigned", False)
    if not isinstance(direct_signed, bool):
        raise invalid("directSigned must be true or false.")
    domain = _domain(body.get("domain") or "".join(ch for ch in company_name.lower() if ch.isalnum())[:20])
    if SimCustomer.objects.filter(domain=domain).exclude(tenant_id=tenant_id).exists():
        # Two test customers may share a name; the tenant id keeps their domains apart.
        domain = f"{domain.removesuffix('.onmicrosoft.com')}{tenant_id.hex[:6]}.onmicrosoft.com"
    country = str(body.get("country") or "US").upper()
    customer, created = SimCustomer.objects.update_or_create(
        tenant_id=tenant_id,
        defaults={"company_name": company_name, "direct_signed": direct_signed},
        create_defaults={
            "company_name": company_name,
            "direct_signed": direct_signed,
            "commerce_id": uuid.uuid4(),
            "domain": domain,
            "country": country,
        },
    )
    return customer, created


def set_direct_signed(*, tenant_id: str, data: Any) -> SimCustomer:
    customer = get_customer(tenant_id)
    body = _object(data, "The request body")
    is_signed = body.get("isSigned")
    if not isinstance(is_signed, bool):
        raise invalid("isSigned must be true or false.")
    if customer.direct_signed != is_signed:
        customer.direct_signed = is_signed
        customer.save(update_fields=["direct_signed"])
    return customer
