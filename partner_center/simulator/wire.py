"""Microsoft's JSON shapes as the simulator sends them: error bodies and resource representations.

Shapes follow docs/partner-center.md (Microsoft's samples). Where Microsoft documents no shape or number, the
choice is marked "assumed" here, in one place.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from partner_center import wire_assumed as assumed
from partner_center.simulator.models import (
    AttestationStatus,
    SimAgreement,
    SimAgreementTemplate,
    SimAttestation,
    SimCustomer,
    SimOrder,
    SimSubscription,
)

# Error codes as live answers send them (numbers, although documented as strings).
TOKEN_MISSING = 800001
INVALID_INPUT = 800002
UNEXPECTED_ERROR = 800003
TENANT_NOT_FOUND = 60003
MCA_ACCEPTANCE_REQUIRED = 13605
AGREEMENT_ALREADY_EXISTS = 600061
QUANTITY_OUT_OF_RANGE = 2002
ETAG_STALE = 2055

MCA_REQUIRED_DESCRIPTION = (
    "Either a partner confirmation of the customer acceptance of the Microsoft Customer Agreement must be "
    "provided or the customer must accept the Microsoft Customer Agreement in the Microsoft Admin Center "
    "before you can complete this purchase"
)


class SimulatorError(Exception):
    """A Partner Center business or input error: becomes an HTTP status and Microsoft's error body."""

    def __init__(self, status: int, code: int, description: str, **extra: Any) -> None:
        super().__init__(description)
        self.status = status
        self.code = code
        self.description = description
        self.extra = extra

    def body(self) -> dict[str, Any]:
        return error_body(self.code, self.description, **self.extra)


def error_body(code: int, description: str, **extra: Any) -> dict[str, Any]:
    return {"code": code, "description": description, "data": [], "source": "PartnerFD", **extra}


def invalid(description: str) -> SimulatorError:
    return SimulatorError(400, INVALID_INPUT, description)


def timestamp(value: datetime) -> str:
    """Partner Center's usual instant format: UTC with a trailing Z."""
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def naive_timestamp(value: datetime) -> str:
    # Microsoft's agreement samples send dateAgreed without an offset ("2019-08-26T00:00:00"); the simulator
    # does the same so clients exercise their treat-as-UTC parsing.
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S")


def collection(items: list[dict[str, Any]]) -> dict[str, Any]:
    return {"totalCount": len(items), "items": items, "attributes": {"objectType": "Collection"}}


def template_json(template: SimAgreementTemplate) -> dict[str, Any]:
    return {
        "templateId": str(template.template_id),
        "agreementType": template.agreement_type,
        "agreementLink": template.agreement_link,
        "versionRank": template.version_rank,
        "attributes": {"objectType": "AgreementMetaData"},
    }


def agreement_json(agreement: SimAgreement) -> dict[str, Any]:
    contact: dict[str, str] = {
        "firstName": agreement.first_name,
        "lastName": agreement.last_name,
        "email": agreement.email,
    }
    if agreement.phone_number:
        contact["phoneNumber"] = agreement.phone_number
    body: dict[str, Any] = {
        "primaryContact": contact,
        "templateId": str(agreement.template_id),
        "dateAgreed": naive_timestamp(agreement.date_agreed),
        "type": agreement.agreement_type,
        "agreementLink": agreement.agreement_link,
        "userId": agreement.user_id,
        "attributes": {"objectType": "Agreement"},
    }
    attestation = getattr(agreement, "attestation", None)
    if attestation is not None:
        # Assumed: an agreement made from an attestation names it.
        body[assumed.AGREEMENT_ATTESTATION_ID] = str(attestation.attestation_id)
    return body


_ATTESTATION_STATUSES = {
    AttestationStatus.PENDING: assumed.STATUS_PENDING,
    AttestationStatus.ACCEPTED: assumed.STATUS_ACCEPTED,
    AttestationStatus.EXPIRED: assumed.STATUS_EXPIRED,
    AttestationStatus.CANCELLED: assumed.STATUS_CANCELLED,
}


def attestation_json(attestation: SimAttestation, *, status: str, acceptance_url: str) -> dict[str, Any]:
    """The attestation resource (assumed shape, see partner_center.wire_assumed): its id, status, link and
    expiry, and the fields the partner sent. `status` is the effective one (a lapsed pending link is expired)."""
    body: dict[str, Any] = {
        assumed.ATTESTATION_ID: str(attestation.attestation_id),
        assumed.STATUS: _ATTESTATION_STATUSES[AttestationStatus(status)],
        assumed.ACCEPTANCE_URL: acceptance_url,
        assumed.EXPIRES_AT: timestamp(attestation.expires_at),
        assumed.CREATED_AT: timestamp(attestation.created_at),
        assumed.COUNTRY: attestation.country,
        assumed.LANGUAGE: attestation.language,
        assumed.COMPANY_NAME: attestation.company_name,
        assumed.SIGNATORY_FIRST_NAME: attestation.first_name,
        assumed.SIGNATORY_LAST_NAME: attestation.last_name,
        assumed.SIGNATORY_EMAIL: attestation.email,
    }
    if attestation.phone_number:
        body[assumed.SIGNATORY_PHONE_NUMBER] = attestation.phone_number
    if attestation.accepted_at is not None:
        body[assumed.ACCEPTED_AT] = timestamp(attestation.accepted_at)
    body["attributes"] = {"objectType": "EnhancedAttestation"}
    return body


def customer_json(customer: SimCustomer, *, user_name: str, password: str) -> dict[str, Any]:
    tenant = str(customer.tenant_id)
    return {
        "id": tenant,
        "commerceId": str(customer.commerce_id),
        "companyProfile": {
            "tenantId": tenant,
            "domain": customer.domain,
            "companyName": customer.company_name,
            "attributes": {"objectType": "CustomerCompanyProfile"},
        },
        "billingProfile": {
            **customer.billing_profile,
            "attributes": {"objectType": "CustomerBillingProfile"},
        },
        # Assumed: a customer created by a direct/indirect provider is its reseller.
        "relationshipToPartner": "reseller",
        "userCredentials": {"userName": user_name, "password": password},
        "attributes": {"objectType": "Customer"},
    }


def _link(uri: str, method: str = "GET") -> dict[str, Any]:
    return {"uri": uri, "method": method, "headers": []}


def order_json(order: SimOrder, subscriptions: list[SimSubscription]) -> dict[str, Any]:
    tenant = str(order.customer.tenant_id)
    base = f"/customers/{tenant}"
    line_items = []
    for sub in subscriptions:
        item: dict[str, Any] = {
            "lineItemNumber": sub.line_item_number,
            "offerId": sub.offer_id,
            "subscriptionId": str(sub.subscription_id),
            "quantity": sub.quantity,
            "links": {"subscription": _link(f"{base}/subscriptions/{sub.subscription_id}")},
        }
        if sub.friendly_name:
            item["friendlyName"] = sub.friendly_name
        if sub.partner_id_on_record:
            item["partnerIdOnRecord"] = sub.partner_id_on_record
        line_items.append(item)
    return {
        "id": str(order.order_id),
        "referenceCustomerId": order.reference_customer_id or tenant,
        "billingCycle": order.billing_cycle,
        "lineItems": line_items,
        "creationDate": timestamp(order.created_at),
        "status": order.status,
        "links": {
            "provisioningStatus": _link(f"{base}/orders/{order.order_id}/provisioningstatus"),
            "self": _link(f"{base}/orders/{order.order_id}"),
        },
        "attributes": {"objectType": "Order"},
    }


def subscription_json(sub: SimSubscription) -> dict[str, Any]:
    tenant = str(sub.customer.tenant_id)
    return {
        "id": str(sub.subscription_id),
        "offerId": sub.offer_id,
        "friendlyName": sub.friendly_name or sub.offer_id,
        "quantity": sub.quantity,
        "unitType": "Licenses",
        "creationDate": timestamp(sub.created_at),
        "effectiveStartDate": timestamp(sub.created_at),
        "autoRenewEnabled": sub.auto_renew_enabled,
        "status": sub.status,
        "billingCycle": sub.order.billing_cycle,
        "orderId": str(sub.order.order_id),
        "partnerId": sub.partner_id_on_record,
        "links": {"self": _link(f"/customers/{tenant}/subscriptions/{sub.subscription_id}")},
        "attributes": {"etag": sub.etag, "objectType": "Subscription"},
    }
