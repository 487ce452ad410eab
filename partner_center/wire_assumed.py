"""Wire names of Microsoft's enhanced attestation that are ASSUMED: no Microsoft page we could read shows them.

Microsoft documents (partner-center.md, "Enhanced attestation") only that an attestation is created with
`POST /v{version}/attestations/enhanced` carrying at least `country`, `language`, `companyName`,
`signatoryFirstName` and `signatoryLastName`; that the signatory accepts on a Microsoft page reached by a link
that expires; that the status can be read while pending; and that the agreement is then created for the customer
with the attestation id. Everything else below is our best reading of CSP platforms' public notes and of
Microsoft's naming habits, kept in this one module so that the client (`partner_center.client.agreements`,
`partner_center.parsing`) and the simulator (`partner_center.simulator`) cannot drift apart, and so that the day
Microsoft's reference page is readable, correcting a name is a one-line change here (the wire tests then show what
moved). Documented names are here too, marked as such, so each body is built from one list.
"""

from __future__ import annotations

# --- paths ----------------------------------------------------------------------------------------------------

# Documented: `/v{version}/attestations/enhanced`. Assumed: the version is v1, like every other endpoint we use.
ATTESTATION_API_VERSION = "v1"
ENHANCED_ATTESTATIONS_PATH = f"/{ATTESTATION_API_VERSION}/attestations/enhanced"


def enhanced_attestation_path(quoted_id: str) -> str:
    """Assumed: one attestation is read at its id under the collection (REST habit; Microsoft says only that a
    pending status can be read). `quoted_id` must already be quoted for use as a path segment."""
    return f"{ENHANCED_ATTESTATIONS_PATH}/{quoted_id}"


# --- create request -------------------------------------------------------------------------------------------

# Documented request fields.
COUNTRY = "country"  # ISO 3166-1 alpha-2
LANGUAGE = "language"
COMPANY_NAME = "companyName"
SIGNATORY_FIRST_NAME = "signatoryFirstName"
SIGNATORY_LAST_NAME = "signatoryLastName"
# Assumed request fields: Microsoft must reach the signatory, and the duplicate rule (600061) compares email and
# phone like the legacy confirmation's primary contact.
SIGNATORY_EMAIL = "signatoryEmail"
SIGNATORY_PHONE_NUMBER = "signatoryPhoneNumber"  # optional

# --- the attestation resource (the create answer and the read answer) -------------------------------------------

# Assumed: the answer is the attestation, `{"id", "status", "acceptanceUrl", "expiresAt", ...the fields sent}`,
# with `acceptedAt` once accepted.
ATTESTATION_ID = "id"
STATUS = "status"
ACCEPTANCE_URL = "acceptanceUrl"
EXPIRES_AT = "expiresAt"
ACCEPTED_AT = "acceptedAt"
CREATED_AT = "createdAt"

# Assumed status values (CSP platforms show "pending", "accepted", "expired"; their case on the wire is unknown,
# so readers compare them case-insensitively).
STATUS_PENDING = "pending"
STATUS_ACCEPTED = "accepted"
STATUS_EXPIRED = "expired"
# Assumed: a partner withdraws a pending attestation (the signatory was mistyped or replaced) with DELETE on the
# attestation; the answer is the attestation with this status, and Microsoft's page no longer accepts the link.
STATUS_CANCELLED = "cancelled"

# --- creating the agreement from an accepted attestation ---------------------------------------------------------

# Documented: "the partner creates the agreement for the customer with the attestation id". Assumed: it is the
# legacy path, `POST /v1/customers/{tenant}/agreements`, with this body instead of the primary contact and date.
AGREEMENT_ATTESTATION_ID = "attestationId"
AGREEMENT_TEMPLATE_ID = "templateId"  # documented for the legacy body
AGREEMENT_TYPE = "type"  # documented for the legacy body


def customer_agreements_path(quoted_tenant_id: str) -> str:
    return f"/v1/customers/{quoted_tenant_id}/agreements"
