"""Enumerations of the acceptance domain: stable codes that the API, the admin and reasons use."""

from django.db import models


class AcceptanceKind(models.TextChoices):
    """How a customer's acceptance is known."""

    CONFIRMED_HERE = "confirmed_here", "Confirmed here"
    PARTNER_CENTER_ATTESTATION = "pc_attestation", "Partner confirmation reported by Partner Center"
    DIRECT_AT_MICROSOFT = "direct", "Accepted directly at Microsoft"


class EvidenceClass(models.TextChoices):
    FIRST_PARTY = "first_party", "First-party (the customer's own user)"
    ATTESTATION = "attestation", "Attestation (on the customer's behalf)"


class DeliveryState(models.TextChoices):
    WAITING_FOR_CUSTOMER = "waiting", "Waiting for a Partner Center customer id"
    PENDING = "pending", "Pending"
    SENDING = "sending", "Sending"
    SENT = "sent", "Sent"
    FAILING = "failing", "Failing (will retry)"


class ReasonCode(models.TextChoices):
    """Why acceptance is or is not needed; each comes with a sentence a person can read."""

    CONFIRMED_HERE = "confirmed_here", "Acceptance confirmed here"
    PARTNER_CENTER_ATTESTATION = "pc_attestation", "Partner Center reports a partner confirmation"
    DIRECT_AT_MICROSOFT = "direct_at_microsoft", "Accepted directly at Microsoft"
    CLOUD_AGREEMENT = "cloud_agreement", "Microsoft Cloud Agreement accepted before the cut-over"
    NOT_REQUIRED = "not_required", "The operation does not need acceptance"
    NEW_CUSTOMER = "new_customer", "Not a Partner Center customer yet and no acceptance recorded"
    NOT_ACCEPTED = "not_accepted", "Partner Center has no acceptance for this customer"
    STALE_ATTESTATION = "stale_attestation", "Only a partner confirmation from before the MCA refresh"
    CLOUD_AGREEMENT_EXPIRED = "cloud_agreement_expired", "Cloud Agreement no longer counts after the cut-over"
    PARTNER_CENTER_UNAVAILABLE = "pc_unavailable", "Partner Center unreachable"
    PARTNER_CENTER_THROTTLED = "pc_throttled", "Partner Center throttling"
    PARTNER_CENTER_SLOW = "pc_slow", "Partner Center too slow"
    PARTNER_CENTER_BAD_RESPONSE = "pc_bad_response", "Partner Center answer unreadable"
