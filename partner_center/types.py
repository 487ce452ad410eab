"""Plain data that crosses the Partner Center boundary (never Django models).

Frozen dataclasses, not pydantic: Microsoft's answers are loose (a field named two ways, codes as strings or
numbers, dates with or without an offset), so parsing is explicit and defensive in `partner_center.parsing`,
and these types only carry the result. Each result keeps Microsoft's raw answer (`raw`) for the evidence log;
secrets in it (a new customer's initial password) are removed before it is kept.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any

MCA = "MicrosoftCustomerAgreement"
CLOUD_AGREEMENT = "MicrosoftCloudAgreement"


class TokenKind(StrEnum):
    """Which token an endpoint needs (Microsoft documents it per endpoint)."""

    APP_ONLY = "app_only"
    APP_USER = "app_user"


@dataclass(frozen=True)
class AgreementTemplate:
    template_id: str
    agreement_type: str
    agreement_link: str
    version_rank: int
    raw: dict[str, Any] = field(default_factory=dict, compare=False, repr=False)


@dataclass(frozen=True)
class AgreementDocument:
    """The agreement text for one country and language. `download_uri` expires after five minutes:
    show it to the person who asked, never store it."""

    template_id: str
    display_uri: str
    download_uri: str
    language: str
    country: str


@dataclass(frozen=True)
class AgreementContact:
    first_name: str
    last_name: str
    email: str
    phone_number: str | None = None


@dataclass(frozen=True)
class CustomerAgreement:
    """One partner confirmation of a customer's acceptance, as Partner Center lists it."""

    template_id: str
    agreement_type: str
    date_agreed: datetime  # always timezone-aware (UTC when Microsoft sent no offset)
    primary_contact: AgreementContact | None
    agreement_link: str = ""
    user_id: str = ""
    raw: dict[str, Any] = field(default_factory=dict, compare=False, repr=False)


@dataclass(frozen=True)
class ConfirmationResult:
    """The outcome of confirming a customer's acceptance.

    `already_confirmed` is Microsoft's error 600061 (an identical confirmation exists): for us a success.
    """

    already_confirmed: bool
    agreement: CustomerAgreement | None
    status_code: int
    request_id: str
    correlation_id: str
    raw: dict[str, Any] = field(default_factory=dict, compare=False, repr=False)


@dataclass(frozen=True)
class DirectSignedStatus:
    """Whether the customer accepted the MCA itself in the Microsoft 365 admin center."""

    is_signed: bool
    raw: dict[str, Any] = field(default_factory=dict, compare=False, repr=False)


@dataclass(frozen=True)
class CustomerProfile:
    """What creating a Partner Center customer needs (a subset of Microsoft's billing profile)."""

    domain: str  # the initial domain prefix, e.g. "contoso" for contoso.onmicrosoft.com
    company_name: str
    email: str
    first_name: str
    last_name: str
    country: str  # ISO-2, upper case
    culture: str = "en-US"
    language: str = "en"
    address_line1: str = ""
    city: str = ""
    state: str = ""
    postal_code: str = ""
    phone_number: str = ""


@dataclass(frozen=True)
class Customer:
    tenant_id: str
    commerce_id: str
    company_name: str
    domain: str
    raw: dict[str, Any] = field(default_factory=dict, compare=False, repr=False)  # userCredentials removed


@dataclass(frozen=True)
class OrderLineItem:
    offer_id: str
    quantity: int
    friendly_name: str = ""


@dataclass(frozen=True)
class OrderLineResult:
    line_item_number: int
    offer_id: str
    quantity: int
    subscription_id: str = ""


@dataclass(frozen=True)
class PartnerCenterOrder:
    order_id: str
    status: str
    line_items: tuple[OrderLineResult, ...]
    creation_date: datetime | None
    raw: dict[str, Any] = field(default_factory=dict, compare=False, repr=False)


@dataclass(frozen=True)
class PartnerCenterSubscription:
    subscription_id: str
    offer_id: str
    quantity: int
    status: str
    etag: str
    raw: dict[str, Any] = field(default_factory=dict, compare=False, repr=False)


class AttestationStatus(StrEnum):
    """Where an enhanced attestation stands: the signatory has not yet accepted, has accepted, or let the link
    expire (a new attestation is then needed)."""

    PENDING = "pending"
    ACCEPTED = "accepted"
    EXPIRED = "expired"
    CANCELLED = "cancelled"  # withdrawn by the partner: the signatory was changed or the link cancelled


@dataclass(frozen=True)
class Signatory:
    """The customer's person who accepts the MCA on Microsoft's page in the enhanced attestation."""

    first_name: str
    last_name: str
    email: str
    company_name: str
    phone_number: str | None = None


@dataclass(frozen=True)
class EnhancedAttestation:
    """An enhanced attestation as Partner Center reports it. `acceptance_url` is the link the signatory opens
    (no sign-in); it stops working at `expires_at`."""

    attestation_id: str
    status: AttestationStatus
    acceptance_url: str
    expires_at: datetime  # timezone-aware, UTC
    accepted_at: datetime | None  # timezone-aware, UTC; set once accepted
    country: str
    language: str
    signatory: Signatory
    raw: dict[str, Any] = field(default_factory=dict, compare=False, repr=False)
