"""Enumerations shared by the BSS, the storefront, the API and the acceptance log."""

from django.db import models
from django.utils.translation import gettext_lazy as _


class Role(models.TextChoices):
    CUSTOMER = "customer", "Customer user"
    RESELLER = "reseller", "Reseller user"
    CSP_BSS = "csp_bss", "CSP BSS user"
    WHITE_LABEL_BSS = "wl_bss", "White-label BSS user"
    ADMIN = "admin", "Administrator"


class Vendor(models.TextChoices):
    MICROSOFT = "microsoft", "Microsoft"
    OTHER = "other", _("Other vendor")


class BillingTerm(models.TextChoices):
    MONTHLY = "P1M", _("Monthly")
    ANNUAL = "P1Y", _("Annual")
    TRIENNIAL = "P3Y", _("Three years")


class Operation(models.TextChoices):
    NEW_PURCHASE = "new_purchase", _("New purchase")
    SEAT_INCREASE = "seat_increase", _("Seat increase")
    SEAT_DECREASE = "seat_decrease", _("Seat decrease")
    UPGRADE = "upgrade", "Upgrade"
    TERM_CHANGE = "term_change", "Term or billing-plan change"
    RENEWAL = "renewal", _("Renewal")
    CANCELLATION = "cancellation", "Cancellation"


class Channel(models.TextChoices):
    STOREFRONT = "storefront", "Storefront"
    RESELLER_STOREFRONT = "reseller_storefront", "Reseller storefront"
    BSS_EXECUTION = "bss_execution", "BSS order execution"
    BSS_SUBSCRIPTION = "bss_subscription", "BSS subscription"
    API = "api", "API"
    BSS_CAMPAIGN = "bss_campaign", "BSS acceptance campaign"


class OrderStatus(models.TextChoices):
    DRAFT = "draft", "Draft"
    PLACED = "placed", _("Placed")
    AWAITING_ACCEPTANCE = "awaiting_acceptance", _("Awaiting MCA acceptance")
    EXECUTED = "executed", _("Executed")
    PROVISIONING = "provisioning", _("Provisioning")
    PROVISIONED = "provisioned", _("Provisioned")
    FAILED = "failed", _("Failed")
    HELD = "held", "Held by an operator"
    CANCELLED = "cancelled", _("Cancelled")


class ProvisioningStepName(models.TextChoices):
    """The steps of provisioning an order (SPEC flow 5), as recorded in its history."""

    START = "start", "Started"
    GATE = "gate", "MCA acceptance check"
    CUSTOMER = "customer", "Partner Center customer"
    ACCEPTANCES = "acceptances", "Acceptances delivered to Partner Center"
    ORDER = "order", "Partner Center order"
    QUANTITY = "quantity", "Seat count change"
    SUBSCRIPTIONS = "subscriptions", "Subscriptions stored"
    DONE = "done", "Provisioned"


class ProvisioningOutcome(models.TextChoices):
    DONE = "done", "Done"
    SKIPPED = "skipped", "Not needed"
    HELD = "held", "Held for MCA acceptance"
    WAITING = "waiting", "Waiting, will retry"
    FAILED = "failed", "Failed"


class CampaignSendState(models.TextChoices):
    """Where one account of an acceptance campaign stands (docs/campaigns.md)."""

    QUEUED = "queued", "Queued"
    SENDING = "sending", "Sending"
    SENT = "sent", "Sent"
    ACCEPTED = "accepted", "Accepted"
    EXPIRED = "expired", "Expired"
    BOUNCED = "bounced", "Bounced"
    FAILED = "failed", "Failed"
    NEEDS_SIGNATORY = "needs_signatory", "Needs a signatory"
    SKIPPED = "skipped", "Skipped (accepted already)"


class SignatorySource(models.TextChoices):
    CONTACT = "contact", "The account's primary contact"
    RECORDS = "records", "The last signatory named in the acceptance log"
