"""Enumerations of the acceptance domain: stable codes that the API, the admin and reasons use."""

from django.db import models


class AcceptanceKind(models.TextChoices):
    """How a customer's acceptance is known."""

    CONFIRMED_HERE = "confirmed_here", "Confirmed here"
    PARTNER_CENTER_ATTESTATION = "pc_attestation", "Partner confirmation reported by Partner Center"
    DIRECT_AT_MICROSOFT = "direct", "Accepted directly at Microsoft"
    SIGNATORY_AT_MICROSOFT = "signatory", "Accepted at Microsoft by the signatory (enhanced attestation)"


class EvidenceClass(models.TextChoices):
    FIRST_PARTY = "first_party", "First-party (the customer's own user)"
    ATTESTATION = "attestation", "Attestation (on the customer's behalf)"
    SIGNATORY_AT_MICROSOFT = "signatory_at_microsoft", "Accepted at Microsoft by the signatory"


class DeliveryState(models.TextChoices):
    WAITING_FOR_CUSTOMER = "waiting", "Waiting for a Partner Center customer id"
    PENDING = "pending", "Pending"
    SENDING = "sending", "Sending"
    SENT = "sent", "Sent"
    FAILING = "failing", "Failing (will retry)"
    # Partner Center said no for good (e.g. 600061 over a confirmation that no longer counts): not retried.
    REFUSED = "refused", "Refused by Partner Center"


class ReasonCode(models.TextChoices):
    """Why acceptance is or is not needed; each comes with a sentence a person can read."""

    CONFIRMED_HERE = "confirmed_here", "Acceptance confirmed here"
    PARTNER_CENTER_ATTESTATION = "pc_attestation", "Partner Center reports a partner confirmation"
    DIRECT_AT_MICROSOFT = "direct_at_microsoft", "Accepted directly at Microsoft"
    SIGNATORY_AT_MICROSOFT = "signatory_at_microsoft", "Accepted at Microsoft by the customer's signatory"
    PENDING_SIGNATORY = "pending_signatory", "Waiting for the signatory to accept at Microsoft"
    LINK_EXPIRED = "link_expired", "The signatory's acceptance link expired"
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


class RecordEvent(models.TextChoices):
    """What one log record stands for. A legacy confirmation is one record; the enhanced attestation is a story
    of several, each its own chained record (R7)."""

    LEGACY_CONFIRMATION = "confirmation", "Confirmation (one-step, legacy)"
    FORM_SUBMITTED = "form_submitted", "Attestation form submitted"
    ATTESTATION_CREATED = "attestation_created", "Attestation created at Microsoft"
    SIGNATORY_ACCEPTED = "signatory_accepted", "Signatory accepted at Microsoft"
    AGREEMENT_CREATED = "agreement_created", "Agreement created at Microsoft"
    LINK_EXPIRED = "link_expired", "Acceptance link expired"
    LINK_REISSUED = "link_reissued", "Acceptance link re-issued"
    LINK_SUPERSEDED = "link_superseded", "Acceptance link withdrawn: another signatory named"
    LINK_CANCELLED = "link_cancelled", "Acceptance link cancelled"
    LINK_SENT = "link_sent", "Acceptance link sent to the signatory"


class AttestationState(models.TextChoices):
    """Progress of one enhanced attestation (mutable, outside the log)."""

    CREATING = "creating", "Creating the acceptance link at Microsoft"
    PENDING = "pending", "Waiting for the signatory"
    ACCEPTED = "accepted", "Accepted by the signatory"
    EXPIRED = "expired", "Link expired"
    SUPERSEDED = "superseded", "Replaced by a newer link"


class RecheckOutcome(models.TextChoices):
    """What one re-check of a customer at Partner Center came to (mca.recheck)."""

    ACCEPTED = "accepted", "Accepted"
    NOT_ACCEPTED = "not_accepted", "Not accepted"
    UNKNOWN = "unknown", "Unknown (Partner Center did not answer)"
    THROTTLED = "throttled", "Throttled (asked again later)"
