"""Customers, orders and subscriptions: the commerce calls (app-only and App+User tokens both work; app-only is
used, as nothing here needs a partner user)."""

from __future__ import annotations

import copy
import uuid
from collections.abc import Sequence
from typing import Any

from partner_center import parsing
from partner_center.client.transport import Endpoint, Transport, segment
from partner_center.errors import PartnerCenterBadResponse, PartnerCenterRejected
from partner_center.types import (
    Customer,
    CustomerProfile,
    OrderLineItem,
    PartnerCenterOrder,
    PartnerCenterSubscription,
    TokenKind,
)

# Stale-ETag error on a subscription PATCH (see update_subscription_quantity).
ETAG_STALE_CODE = "2055"

_CUSTOMERS = Endpoint("customers", TokenKind.APP_ONLY, idempotent=True)
_ORDERS = Endpoint("orders", TokenKind.APP_ONLY, idempotent=True)
_SUBSCRIPTIONS = Endpoint("subscriptions", TokenKind.APP_ONLY, idempotent=True)


class CommerceMixin(Transport):
    def create_customer(
        self, profile: CustomerProfile, request_id: str, *, correlation_id: str | None = None
    ) -> Customer:
        """Create the customer tenant. Microsoft's answer carries the new admin's initial password
        (`userCredentials`): it is dropped from `Customer.raw` and never logged."""
        domain = profile.domain if "." in profile.domain else f"{profile.domain}.onmicrosoft.com"
        body = {
            "companyProfile": {"domain": domain},
            "billingProfile": {
                "email": profile.email,
                "culture": profile.culture,
                "language": profile.language,
                "companyName": profile.company_name,
                "defaultAddress": {
                    "firstName": profile.first_name,
                    "lastName": profile.last_name,
                    "addressLine1": profile.address_line1,
                    "city": profile.city,
                    "state": profile.state,
                    "postalCode": profile.postal_code,
                    "country": profile.country.upper(),
                    "phoneNumber": profile.phone_number,
                },
            },
        }
        answer = self._call(
            "POST", "/v1/customers", _CUSTOMERS, json_body=body, request_id=request_id, correlation_id=correlation_id
        )
        return self._parse(answer, parsing.parse_customer, answer.body)

    def create_order(
        self,
        tenant_id: str,
        lines: Sequence[OrderLineItem],
        request_id: str,
        *,
        billing_cycle: str = "monthly",
        correlation_id: str | None = None,
    ) -> PartnerCenterOrder:
        """Place an order. Raises McaAcceptanceRequired (403/13605) when the customer has no MCA acceptance."""
        if not lines:
            raise ValueError("An order needs at least one line.")
        line_items = []
        for number, line in enumerate(lines):
            item: dict[str, Any] = {"lineItemNumber": number, "offerId": line.offer_id, "quantity": line.quantity}
            if line.friendly_name:
                item["friendlyName"] = line.friendly_name
            line_items.append(item)
        body = {"referenceCustomerId": tenant_id, "billingCycle": billing_cycle, "lineItems": line_items}
        answer = self._call(
            "POST",
            f"/v1/customers/{segment(tenant_id)}/orders",
            _ORDERS,
            json_body=body,
            request_id=request_id,
            correlation_id=correlation_id,
        )
        return self._parse(answer, parsing.parse_order, answer.body)

    def get_subscription(
        self, tenant_id: str, subscription_id: str, *, correlation_id: str | None = None
    ) -> PartnerCenterSubscription:
        answer = self._call(
            "GET", self._subscription_path(tenant_id, subscription_id), _SUBSCRIPTIONS, correlation_id=correlation_id
        )
        return self._parse(answer, parsing.parse_subscription, answer.body)

    def update_subscription_quantity(
        self,
        tenant_id: str,
        subscription_id: str,
        quantity: int,
        *,
        request_id: str | None = None,
        correlation_id: str | None = None,
    ) -> PartnerCenterSubscription:
        """Change a subscription's seat count: GET the full resource, PATCH it back with `quantity` changed and
        `attributes.etag` kept. Raises McaAcceptanceRequired when Microsoft refuses for lack of MCA acceptance."""
        current = self.get_subscription(tenant_id, subscription_id, correlation_id=correlation_id)
        if not current.etag:
            raise PartnerCenterBadResponse("Unexpected Partner Center answer: missing attributes.etag")
        body = copy.deepcopy(current.raw)
        body["quantity"] = quantity
        try:
            answer = self._call(
                "PATCH",
                self._subscription_path(tenant_id, subscription_id),
                _SUBSCRIPTIONS,
                json_body=body,
                request_id=request_id or str(uuid.uuid4()),
                correlation_id=correlation_id,
            )
        except PartnerCenterRejected as exc:
            if exc.code != ETAG_STALE_CODE:
                raise
            # A PATCH whose answer was lost (timeout) and then retried finds its own change made the ETag stale:
            # if the subscription already has the quantity asked for, that change was ours (or equivalent).
            latest = self.get_subscription(tenant_id, subscription_id, correlation_id=correlation_id)
            if latest.quantity == quantity:
                return latest
            raise
        return self._parse(answer, parsing.parse_subscription, answer.body)

    @staticmethod
    def _subscription_path(tenant_id: str, subscription_id: str) -> str:
        return f"/v1/customers/{segment(tenant_id)}/subscriptions/{segment(subscription_id)}"
