"""The simulator's own state: what Partner Center would hold for our partner tenant, plus test controls.

These tables belong to the simulator only (label `pc_simulator`); the product never reads them. Rows are written
by `partner_center.simulator.services` and `partner_center.simulator.faults`, never from views.
"""

from __future__ import annotations

from django.db import models

MCA = "MicrosoftCustomerAgreement"
CLOUD_AGREEMENT = "MicrosoftCloudAgreement"
AGREEMENT_TYPES = (MCA, CLOUD_AGREEMENT)


class SimCustomer(models.Model):
    tenant_id = models.UUIDField(unique=True)
    commerce_id = models.UUIDField(unique=True)
    company_name = models.CharField(max_length=200)
    domain = models.CharField(max_length=253, unique=True)  # full initial domain, x.onmicrosoft.com
    country = models.CharField(max_length=2, default="US")
    # The customer accepted the MCA itself in the Microsoft 365 admin center.
    direct_signed = models.BooleanField(default=False)
    # The billing profile as created (echoed back by Partner Center); empty for seeded or control-made rows.
    billing_profile = models.JSONField(default=dict, blank=True)

    class Meta:
        ordering = ["company_name"]

    def __str__(self) -> str:
        return f"{self.company_name} ({self.tenant_id})"


class SimAgreementTemplate(models.Model):
    template_id = models.UUIDField(unique=True)
    agreement_type = models.CharField(max_length=64)
    version_rank = models.PositiveIntegerField(default=0)
    agreement_link = models.URLField()

    class Meta:
        ordering = ["agreement_type", "version_rank"]
        constraints = [
            models.UniqueConstraint(fields=["agreement_type", "version_rank"], name="sim_template_type_rank")
        ]

    def __str__(self) -> str:
        return f"{self.agreement_type} v{self.version_rank}"


class SimAgreement(models.Model):
    """A partner confirmation of a customer's acceptance (the legacy attestation)."""

    customer = models.ForeignKey(SimCustomer, on_delete=models.CASCADE, related_name="agreements")
    agreement_type = models.CharField(max_length=64)
    template_id = models.UUIDField()
    agreement_link = models.URLField()
    date_agreed = models.DateTimeField()
    first_name = models.CharField(max_length=100)
    last_name = models.CharField(max_length=100)
    email = models.CharField(max_length=254)
    phone_number = models.CharField(max_length=40, blank=True)  # "" = not sent
    user_id = models.CharField(max_length=64)

    class Meta:
        ordering = ["date_agreed", "pk"]
        constraints = [
            # Microsoft's 600061: one confirmation per contact (first, last, email, phone) and customer. Scoped
            # to the agreement type so a Cloud Agreement contact can still confirm the MCA.
            models.UniqueConstraint(
                fields=["customer", "agreement_type", "first_name", "last_name", "email", "phone_number"],
                name="sim_agreement_one_per_contact",
            )
        ]

    def __str__(self) -> str:
        return f"{self.agreement_type} for {self.customer_id} on {self.date_agreed:%Y-%m-%d}"


class AttestationStatus(models.TextChoices):
    # The values are the wire's (assumed, see partner_center.wire_assumed).
    PENDING = "pending"
    ACCEPTED = "accepted"
    EXPIRED = "expired"
    CANCELLED = "cancelled"


class SimAttestation(models.Model):
    """An enhanced attestation: created by the partner, accepted by the signatory on the hosted page (the
    simulator's stand-in for Microsoft's), then turned into the customer's agreement.

    `status` is what was recorded; a pending attestation past `expires_at` is expired all the same (see
    `services.effective_status`), as nothing runs to flip it at the moment it expires.
    """

    attestation_id = models.UUIDField(unique=True)
    status = models.CharField(max_length=16, choices=AttestationStatus.choices, default=AttestationStatus.PENDING)
    country = models.CharField(max_length=2)
    language = models.CharField(max_length=35)
    company_name = models.CharField(max_length=200)
    first_name = models.CharField(max_length=100)
    last_name = models.CharField(max_length=100)
    email = models.CharField(max_length=254)
    phone_number = models.CharField(max_length=40, blank=True)  # "" = not sent
    created_at = models.DateTimeField()
    expires_at = models.DateTimeField()
    accepted_at = models.DateTimeField(null=True, blank=True)
    accepted_ip = models.GenericIPAddressField(null=True, blank=True)
    accepted_user_agent = models.CharField(max_length=500, blank=True)
    # The agreement created from it; one attestation backs at most one customer's agreement.
    agreement = models.OneToOneField(
        SimAgreement, null=True, blank=True, on_delete=models.SET_NULL, related_name="attestation"
    )

    class Meta:
        ordering = ["-created_at", "-pk"]
        constraints = [
            models.CheckConstraint(
                condition=~models.Q(status="accepted") | models.Q(accepted_at__isnull=False),
                name="sim_attestation_accepted_has_time",
            )
        ]

    def __str__(self) -> str:
        return f"{self.first_name} {self.last_name} ({self.company_name}): {self.status}"


class SimOrder(models.Model):
    order_id = models.UUIDField(unique=True)
    customer = models.ForeignKey(SimCustomer, on_delete=models.CASCADE, related_name="orders")
    reference_customer_id = models.CharField(max_length=64, blank=True)
    billing_cycle = models.CharField(max_length=32, blank=True)
    status = models.CharField(max_length=16, default="pending")
    created_at = models.DateTimeField()

    class Meta:
        ordering = ["created_at", "pk"]

    def __str__(self) -> str:
        return str(self.order_id)


class SimSubscription(models.Model):
    subscription_id = models.UUIDField(unique=True)
    customer = models.ForeignKey(SimCustomer, on_delete=models.CASCADE, related_name="subscriptions")
    order = models.ForeignKey(SimOrder, on_delete=models.CASCADE, related_name="subscriptions")
    line_item_number = models.PositiveIntegerField()
    offer_id = models.CharField(max_length=100)
    friendly_name = models.CharField(max_length=200, blank=True)
    partner_id_on_record = models.CharField(max_length=64, blank=True)
    quantity = models.PositiveIntegerField()
    status = models.CharField(max_length=16, default="active")
    auto_renew_enabled = models.BooleanField(default=True)
    created_at = models.DateTimeField()
    etag = models.CharField(max_length=64)

    class Meta:
        ordering = ["created_at", "pk"]

    def __str__(self) -> str:
        return f"{self.offer_id} x{self.quantity}"


class SimIdempotencyRecord(models.Model):
    """The first answer to a write, replayed when the same MS-RequestId comes again (Microsoft's retry key)."""

    request_id = models.CharField(max_length=100)
    method = models.CharField(max_length=10)
    path = models.CharField(max_length=500)
    status = models.PositiveSmallIntegerField()
    body = models.JSONField()
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["request_id", "method", "path"], name="sim_idempotency_key")]

    def __str__(self) -> str:
        return f"{self.method} {self.path} [{self.request_id}]"


class FaultMode(models.TextChoices):
    DOWN = "down"
    SLOW = "slow"
    THROTTLE = "throttle"
    ERROR = "error"


class SimFault(models.Model):
    """The failure the simulator injects into Partner Center calls (at most one is active)."""

    mode = models.CharField(max_length=16, choices=FaultMode.choices)
    remaining = models.PositiveIntegerField(null=True, blank=True)  # None = until cleared
    latency_ms = models.PositiveIntegerField(default=0)
    retry_after = models.PositiveIntegerField(default=1)
    status = models.PositiveSmallIntegerField(default=500)
    path_prefix = models.CharField(max_length=200, blank=True)  # relative to the simulator root
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return f"{self.mode} ({'∞' if self.remaining is None else self.remaining} left)"


class SimCallCount(models.Model):
    endpoint = models.CharField(max_length=64, unique=True)
    count = models.PositiveIntegerField(default=0)

    def __str__(self) -> str:
        return f"{self.endpoint}: {self.count}"
