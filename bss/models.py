"""The BSS domain: the CSP, resellers, customer accounts, users' roles, products, orders, subscriptions."""

from __future__ import annotations

from decimal import Decimal
from typing import TYPE_CHECKING, NamedTuple

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.functional import cached_property
from django_countries.fields import CountryField
from phonenumber_field.modelfields import PhoneNumberField

from bss.choices import (
    BillingTerm,
    CampaignSendState,
    Channel,
    Operation,
    OrderStatus,
    ProvisioningOutcome,
    ProvisioningStepName,
    Role,
    SignatorySource,
    Vendor,
)

if TYPE_CHECKING:
    from django.contrib.auth.models import AbstractBaseUser, AnonymousUser


class CloudServiceProvider(models.Model):
    """The platform owner. One installation serves one CSP; the row exists for its name and tenant."""

    name = models.CharField(max_length=200)
    partner_center_tenant_id = models.UUIDField(null=True, blank=True)

    class Meta:
        verbose_name = "cloud solution provider"

    def __str__(self) -> str:
        return self.name

    @classmethod
    def current(cls) -> CloudServiceProvider | None:
        return cls.objects.order_by("pk").first()


class Reseller(models.Model):
    name = models.CharField(max_length=200)
    slug = models.SlugField(unique=True)
    is_white_label = models.BooleanField(
        default=False, help_text="White-label resellers run their own branded storefront and BSS users."
    )
    brand_name = models.CharField(max_length=200, blank=True, help_text="Storefront display name.")
    brand_colour = models.CharField(
        max_length=7,
        blank=True,
        help_text="Storefront accent colour as #RRGGBB.",
    )
    storefront_host = models.CharField(
        max_length=253,
        blank=True,
        null=True,
        unique=True,
        help_text="Own host name for the branded storefront, e.g. cloud.fabrikam.example (optional).",
    )

    class Meta:
        ordering = ["name"]
        constraints = [
            models.CheckConstraint(
                condition=Q(brand_colour="") | Q(brand_colour__regex=r"^#[0-9A-Fa-f]{6}$"),
                name="reseller_brand_colour_hex",
            )
        ]

    def __str__(self) -> str:
        return self.name

    @property
    def display_name(self) -> str:
        return self.brand_name or self.name


class AccountScope(NamedTuple):
    """Which accounts a user may see and act for (`AccountQuerySet.visible_to`): every account, one reseller's
    customers, the user's own account, or none. `value` is the reseller's or the account's id."""

    kind: str  # ALL_ACCOUNTS, RESELLER_ACCOUNTS, OWN_ACCOUNT or NO_ACCOUNT
    value: int | None = None


ALL_ACCOUNTS, RESELLER_ACCOUNTS, OWN_ACCOUNT, NO_ACCOUNT = "all", "reseller", "own", "none"


def account_scope(user: AbstractBaseUser | AnonymousUser) -> AccountScope:
    """The one place account scoping is decided (see `AccountQuerySet.visible_to`).

    CSP staff and administrators see every account; reseller users and white-label BSS staff see their
    reseller's customers; a customer user sees its own account; anyone else sees none.
    """
    if not user.is_authenticated or not user.is_active:
        return AccountScope(NO_ACCOUNT)
    if user.is_superuser:
        return AccountScope(ALL_ACCOUNTS)
    membership = Membership.of(user)
    if membership is None:
        return AccountScope(NO_ACCOUNT)
    if membership.role in (Role.CSP_BSS, Role.ADMIN):
        return AccountScope(ALL_ACCOUNTS)
    if membership.role in (Role.RESELLER, Role.WHITE_LABEL_BSS):
        return AccountScope(RESELLER_ACCOUNTS, membership.reseller_id)
    if membership.role == Role.CUSTOMER:
        return AccountScope(OWN_ACCOUNT, membership.account_id)
    return AccountScope(NO_ACCOUNT)


class AccountQuerySet(models.QuerySet["Account"]):
    def visible_to(self, user: AbstractBaseUser | AnonymousUser) -> AccountQuerySet:
        """The accounts a user may see and act for (`account_scope` decides)."""
        scope = account_scope(user)
        if scope.kind == ALL_ACCOUNTS:
            return self.all()
        if scope.kind == RESELLER_ACCOUNTS:
            return self.filter(reseller_id=scope.value)
        if scope.kind == OWN_ACCOUNT:
            return self.filter(pk=scope.value)
        return self.none()


class Account(models.Model):
    """A customer company in the BSS, owned by the CSP (reseller empty) or by one reseller."""

    name = models.CharField(max_length=200)
    reseller = models.ForeignKey(
        Reseller,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="accounts",
        help_text="Empty for the CSP's direct customers.",
    )
    country = CountryField(default="US")
    language = models.CharField(max_length=10, default="en-US", help_text="BCP-47 tag, e.g. en-US, de-DE.")
    domain = models.CharField(max_length=253, blank=True, help_text="Microsoft initial domain prefix.")
    partner_center_tenant_id = models.UUIDField(
        null=True,
        blank=True,
        db_index=True,
        help_text="Partner Center customer (tenant) id; empty until the first Microsoft order is provisioned.",
    )
    cloud_agreement_accepted_at = models.DateTimeField(
        null=True, blank=True, help_text="When the Microsoft Cloud Agreement was accepted, if ever."
    )
    created_at = models.DateTimeField(default=timezone.now)

    objects = AccountQuerySet.as_manager()

    class Meta:
        ordering = ["name"]
        permissions = [("confirm_mca_acceptance", "Can confirm a customer's MCA acceptance")]
        # The readiness page pages all visible accounts by name (a reseller's staff: within their reseller).
        indexes = [
            models.Index(fields=["name", "id"], name="account_by_name"),
            models.Index(fields=["reseller", "name", "id"], name="account_reseller_by_name"),
        ]
        constraints = [
            models.UniqueConstraint(
                fields=["reseller", "partner_center_tenant_id"],
                name="account_one_per_tenant_per_reseller",
            )
        ]

    def __str__(self) -> str:
        return self.name

    @property
    def is_synced(self) -> bool:
        return self.partner_center_tenant_id is not None

    @property
    def owner_name(self) -> str:
        return self.reseller.name if self.reseller_id else "CSP direct"

    @property
    def interface_language(self) -> str:
        """The interface language for this customer's people and e-mails: the account's language when the site
        speaks it (de-DE → de), else the site's default."""
        return interface_language_for(self.language)


def interface_language_for(tag: str) -> str:
    """One of settings.LANGUAGES for a BCP-47 tag (de-DE, fr-CA, en), or the default language."""
    from django.conf import settings
    from django.utils.translation import get_supported_language_variant

    try:
        return get_supported_language_variant((tag or "").replace("_", "-").lower())
    except LookupError:
        return settings.LANGUAGE_CODE.split("-")[0]


class Contact(models.Model):
    account = models.ForeignKey(Account, on_delete=models.CASCADE, related_name="contacts")
    first_name = models.CharField(max_length=100)
    last_name = models.CharField(max_length=100)
    email = models.EmailField()
    phone = PhoneNumberField(blank=True)
    is_primary = models.BooleanField(default=False)

    class Meta:
        ordering = ["account", "-is_primary", "last_name"]
        constraints = [
            models.UniqueConstraint(
                fields=["account"], condition=Q(is_primary=True), name="contact_one_primary_per_account"
            )
        ]

    def __str__(self) -> str:
        return f"{self.first_name} {self.last_name}"


class Membership(models.Model):
    """A user's place in an organisation and the role it plays there (one per user)."""

    user = models.OneToOneField(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="membership")
    role = models.CharField(max_length=20, choices=Role.choices)
    account = models.ForeignKey(Account, null=True, blank=True, on_delete=models.CASCADE, related_name="members")
    reseller = models.ForeignKey(Reseller, null=True, blank=True, on_delete=models.CASCADE, related_name="members")

    class Meta:
        constraints = [
            models.CheckConstraint(
                name="membership_role_matches_organisation",
                condition=(
                    Q(role=Role.CUSTOMER, account__isnull=False, reseller__isnull=True)
                    | Q(
                        role__in=[Role.RESELLER, Role.WHITE_LABEL_BSS],
                        reseller__isnull=False,
                        account__isnull=True,
                    )
                    | Q(role__in=[Role.CSP_BSS, Role.ADMIN], reseller__isnull=True, account__isnull=True)
                ),
            )
        ]

    def __str__(self) -> str:
        return f"{self.user} ({self.get_role_display()})"

    @classmethod
    def of(cls, user: AbstractBaseUser | AnonymousUser) -> Membership | None:
        """The user's membership, fetched once per user object (cached on it)."""
        if not user.is_authenticated:
            return None
        try:
            return user.membership  # type: ignore[union-attr]
        except cls.DoesNotExist:
            return None

    @classmethod
    def of_with_account(cls, user: AbstractBaseUser | AnonymousUser) -> Membership | None:
        """`of`, with the membership's account loaded in the same query, cached on the user like `of`'s: the
        language middleware reads the customer's account language at no query of its own (issue 18)."""
        if not user.is_authenticated:
            return None
        real = getattr(user, "_wrapped", user)  # request.user is a lazy object; the cache lives on the user
        related = type(real).membership.related
        if not related.is_cached(real):
            related.set_cached_value(real, cls.objects.select_related("account").filter(user=real).first())
        return cls.of(real)

    @cached_property
    def organisation_name(self) -> str:
        # Cached on the membership (itself cached on the user object): a request that writes several records, or a
        # worker confirming many, looks the CSP's name up once.
        if self.account_id:
            return self.account.name
        if self.reseller_id:
            return self.reseller.name
        provider = CloudServiceProvider.current()
        return provider.name if provider else "CSP"

    def clean(self) -> None:
        if self.role == Role.WHITE_LABEL_BSS and self.reseller and not self.reseller.is_white_label:
            raise ValidationError({"reseller": "White-label BSS users belong to a white-label reseller."})


class Product(models.Model):
    name = models.CharField(max_length=200)
    sku = models.CharField(max_length=64, unique=True)
    vendor = models.CharField(max_length=20, choices=Vendor.choices)
    partner_center_offer_id = models.CharField(max_length=100, blank=True)
    billing_term = models.CharField(max_length=3, choices=BillingTerm.choices, default=BillingTerm.MONTHLY)
    price = models.DecimalField(max_digits=10, decimal_places=2, help_text="Price per seat per billing term.")
    currency = models.CharField(max_length=3, default="USD")
    is_active = models.BooleanField(default=True)

    class Meta:
        ordering = ["name"]
        constraints = [
            models.CheckConstraint(
                condition=~Q(vendor=Vendor.MICROSOFT) | ~Q(partner_center_offer_id=""),
                name="product_microsoft_has_offer_id",
            ),
            models.CheckConstraint(condition=Q(price__gte=0), name="product_price_not_negative"),
        ]

    def __str__(self) -> str:
        return self.name

    @property
    def is_microsoft(self) -> bool:
        return self.vendor == Vendor.MICROSOFT


class Subscription(models.Model):
    account = models.ForeignKey(Account, on_delete=models.PROTECT, related_name="subscriptions")
    product = models.ForeignKey(Product, on_delete=models.PROTECT, related_name="subscriptions")
    seats = models.PositiveIntegerField()
    partner_center_subscription_id = models.CharField(max_length=64, blank=True)
    is_active = models.BooleanField(default=True)
    created_at = models.DateTimeField(default=timezone.now)
    # The term: when it ends and whether Microsoft renews it then (NCE auto-renewal), and what the customer
    # scheduled for the next term (Partner Center's "scheduled next term instructions"). A renewal as it is never
    # needs the MCA (R1); a renewal with other seats or another billing term is a seat or term change as well.
    renews_on = models.DateField(null=True, blank=True, help_text="The last day of the current term.")
    auto_renew = models.BooleanField(default=True, help_text="Microsoft renews the subscription at the term's end.")
    next_term_seats = models.PositiveIntegerField(
        null=True, blank=True, help_text="Seats from the renewal on (empty: unchanged)."
    )
    next_term_billing_term = models.CharField(
        max_length=3,
        choices=BillingTerm.choices,
        blank=True,
        help_text="Billing term from the renewal on (empty: unchanged).",
    )

    class Meta:
        ordering = ["account", "product"]
        constraints = [
            models.CheckConstraint(condition=Q(seats__gte=1), name="subscription_at_least_one_seat"),
            models.CheckConstraint(
                condition=Q(next_term_seats__isnull=True) | Q(next_term_seats__gte=1),
                name="subscription_next_term_at_least_one_seat",
            ),
        ]
        indexes = [
            # The readiness page reads each listed account's auto-renewals in one query.
            models.Index(
                fields=["account", "renews_on"],
                condition=Q(is_active=True, auto_renew=True, renews_on__isnull=False),
                name="subscription_auto_renewals",
            )
        ]

    def __str__(self) -> str:
        return f"{self.product} x {self.seats} for {self.account}"

    @property
    def renewal_operations(self) -> list[str]:
        """What the next renewal does at Microsoft: a renewal, plus the seat or term change scheduled with it."""
        operations = [Operation.RENEWAL]
        if self.next_term_seats is not None and self.next_term_seats != self.seats:
            operations.append(Operation.SEAT_INCREASE if self.next_term_seats > self.seats else Operation.SEAT_DECREASE)
        if self.next_term_billing_term and self.next_term_billing_term != self.product.billing_term:
            operations.append(Operation.TERM_CHANGE)
        return operations


class ScheduledSeatChange(models.Model):
    """A seat count a subscription moves to on a later day (mid-term), as scheduled by a channel or staff."""

    subscription = models.ForeignKey(Subscription, on_delete=models.CASCADE, related_name="scheduled_seat_changes")
    seats = models.PositiveIntegerField()
    effective_on = models.DateField()
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)
    done_at = models.DateTimeField(null=True, blank=True, help_text="When it was applied or cancelled.")

    class Meta:
        ordering = ["effective_on", "pk"]
        constraints = [models.CheckConstraint(condition=Q(seats__gte=1), name="scheduledseatchange_at_least_one")]
        indexes = [
            models.Index(
                fields=["subscription", "effective_on"], condition=Q(done_at__isnull=True), name="seat_change_open"
            )
        ]

    def __str__(self) -> str:
        return f"{self.subscription}: {self.seats} seats on {self.effective_on}"

    @property
    def operation(self) -> str:
        return Operation.SEAT_INCREASE if self.seats > self.subscription.seats else Operation.SEAT_DECREASE


class IllegalTransition(Exception):
    """An order was asked to move to a status its current status cannot reach."""


class Order(models.Model):
    # The order state machine: from each status, where it may go next.
    TRANSITIONS: dict[str, frozenset[str]] = {
        OrderStatus.DRAFT: frozenset({OrderStatus.PLACED, OrderStatus.CANCELLED}),
        OrderStatus.PLACED: frozenset({OrderStatus.AWAITING_ACCEPTANCE, OrderStatus.EXECUTED, OrderStatus.CANCELLED}),
        # Released: back to "placed" when it was held as it was placed (the BSS executes it), or on to "executed"
        # when it was held during execution.
        OrderStatus.AWAITING_ACCEPTANCE: frozenset({OrderStatus.PLACED, OrderStatus.EXECUTED, OrderStatus.CANCELLED}),
        OrderStatus.EXECUTED: frozenset({OrderStatus.PROVISIONING}),
        # Provisioning holds an order that turns out to lack acceptance (R11) instead of sending it on.
        OrderStatus.PROVISIONING: frozenset(
            {OrderStatus.PROVISIONED, OrderStatus.FAILED, OrderStatus.AWAITING_ACCEPTANCE}
        ),
        # A failed order is retried (automatically, or by an operator), held by an operator, or cancelled.
        OrderStatus.FAILED: frozenset({OrderStatus.PROVISIONING, OrderStatus.HELD, OrderStatus.CANCELLED}),
        OrderStatus.HELD: frozenset({OrderStatus.PROVISIONING, OrderStatus.CANCELLED}),
        OrderStatus.PROVISIONED: frozenset(),
        OrderStatus.CANCELLED: frozenset(),
    }

    number = models.CharField(max_length=20, unique=True)
    account = models.ForeignKey(Account, on_delete=models.PROTECT, related_name="orders")
    channel = models.CharField(max_length=30, choices=Channel.choices)
    status = models.CharField(max_length=30, choices=OrderStatus.choices, default=OrderStatus.DRAFT)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)
    status_changed_at = models.DateTimeField(default=timezone.now)
    last_error = models.TextField(blank=True)
    # A repeated submit (double click, client retry) with the same key finds this order instead of a second one.
    idempotency_key = models.CharField(max_length=100, null=True, blank=True, unique=True)
    # Execution and provisioning (SPEC flows 4 and 5).
    executed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    executed_at = models.DateTimeField(
        null=True, blank=True, help_text="When a BSS user (or a channel) asked for the order to be executed."
    )
    # MS-RequestIds, persisted before the call, so a retried step is the same request to Partner Center.
    pc_customer_request_id = models.UUIDField(null=True, blank=True)
    pc_order_request_id = models.UUIDField(null=True, blank=True)
    pc_order_id = models.CharField(max_length=64, blank=True)
    provisioning_attempts = models.PositiveIntegerField(default=0)
    provisioning_lease_until = models.DateTimeField(
        null=True, blank=True, help_text="A worker provisions the order until then; after it, it counts as stuck."
    )
    next_attempt_at = models.DateTimeField(null=True, blank=True, db_index=True)

    class Meta:
        ordering = ["-created_at"]
        permissions = [("execute_order", "Can execute an order")]
        indexes = [models.Index(fields=["status", "status_changed_at"])]

    def __str__(self) -> str:
        return self.number

    def can_move_to(self, status: str) -> bool:
        return status in self.TRANSITIONS[self.status]

    def move_to(self, status: str, *, by: AbstractBaseUser | None = None, note: str = "") -> OrderStatusChange:
        """Change status along the state machine, timestamped and recorded; anything else is refused."""
        if not self.can_move_to(status):
            raise IllegalTransition(f"Order {self.number} cannot go from {self.status} to {status}.")
        previous, now = self.status, timezone.now()
        self.status, self.status_changed_at = status, now
        self.save(update_fields=["status", "status_changed_at"])
        return OrderStatusChange.objects.create(
            order=self,
            from_status=previous,
            to_status=status,
            changed_at=now,
            changed_by=by if by is not None and by.is_authenticated else None,
            note=note,
        )


SEAT_CHANGES = (Operation.SEAT_INCREASE, Operation.SEAT_DECREASE)


def seat_difference(operation: str, quantity: int, previous_seats: int | None) -> int | None:
    """The seats a seat change adds (positive) or removes (negative); None for any other operation, or when the
    count before the change is not known (lines stored before it was recorded)."""
    if operation not in SEAT_CHANGES or previous_seats is None:
        return None
    return quantity - previous_seats


def priced_seats(operation: str, quantity: int, previous_seats: int | None) -> int:
    """The seats a line is priced for, the one rule every page, cart and API uses: a seat change the seats it adds
    (5 -> 7: two), a decrease none (nothing more to pay); any other line, or a change whose previous count is
    unknown, its seat count."""
    difference = seat_difference(operation, quantity, previous_seats)
    if difference is None:
        return quantity
    return max(difference, 0)


class OrderLine(models.Model):
    order = models.ForeignKey(Order, on_delete=models.CASCADE, related_name="lines")
    product = models.ForeignKey(Product, on_delete=models.PROTECT, related_name="+")
    operation = models.CharField(max_length=20, choices=Operation.choices, default=Operation.NEW_PURCHASE)
    quantity = models.PositiveIntegerField(default=1)
    subscription = models.ForeignKey(
        Subscription,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="order_lines",
        help_text="The subscription an existing-subscription operation changes.",
    )
    unit_price = models.DecimalField(max_digits=10, decimal_places=2)
    previous_seats = models.PositiveIntegerField(
        null=True,
        blank=True,
        help_text="A seat change's subscription seats before the change (empty on lines stored before it was kept).",
    )

    class Meta:
        constraints = [
            models.CheckConstraint(condition=Q(quantity__gte=1), name="orderline_quantity_positive"),
            models.CheckConstraint(
                condition=Q(operation=Operation.NEW_PURCHASE) | Q(subscription__isnull=False),
                name="orderline_change_names_subscription",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.get_operation_display()}: {self.product} x {self.quantity}"

    @property
    def seat_difference(self) -> int | None:
        return seat_difference(self.operation, self.quantity, self.previous_seats)

    @property
    def priced_quantity(self) -> int:
        return priced_seats(self.operation, self.quantity, self.previous_seats)

    @property
    def total(self) -> Decimal:
        return self.unit_price * self.priced_quantity


class OrderStatusChange(models.Model):
    order = models.ForeignKey(Order, on_delete=models.CASCADE, related_name="status_changes")
    from_status = models.CharField(max_length=30, choices=OrderStatus.choices)
    to_status = models.CharField(max_length=30, choices=OrderStatus.choices)
    changed_at = models.DateTimeField()
    changed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    note = models.CharField(max_length=500, blank=True)

    class Meta:
        ordering = ["changed_at", "pk"]

    def __str__(self) -> str:
        return f"{self.order}: {self.from_status} → {self.to_status}"


class ProvisioningEvent(models.Model):
    """One step of provisioning an order, as it happened: when, what, and the error if any (append-only)."""

    order = models.ForeignKey(Order, on_delete=models.CASCADE, related_name="provisioning_events")
    step = models.CharField(max_length=20, choices=ProvisioningStepName.choices)
    outcome = models.CharField(max_length=10, choices=ProvisioningOutcome.choices)
    message = models.TextField(blank=True)
    attempt = models.PositiveIntegerField(default=0)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["created_at", "pk"]

    def __str__(self) -> str:
        return f"{self.order}: {self.get_step_display()} {self.get_outcome_display()}"


class CampaignQuerySet(models.QuerySet["Campaign"]):
    def visible_to(self, user: AbstractBaseUser | AnonymousUser) -> CampaignQuerySet:
        """CSP staff see every campaign; a reseller's staff only their reseller's (the accounts' scoping)."""
        if not user.is_authenticated or not user.is_active:
            return self.none()
        if user.is_superuser:
            return self.all()
        membership = Membership.of(user)
        if membership is None:
            return self.none()
        if membership.role in (Role.CSP_BSS, Role.ADMIN):
            return self.all()
        if membership.role in (Role.RESELLER, Role.WHITE_LABEL_BSS):
            return self.filter(reseller_id=membership.reseller_id)
        return self.none()


class Campaign(models.Model):
    """An acceptance campaign: staff chose accounts, and each account's signatory is e-mailed Microsoft's acceptance
    link (enhanced flow), reminded, and sent a new link when it expires (bss.services.campaigns)."""

    name = models.CharField(max_length=200)
    reseller = models.ForeignKey(
        Reseller,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="campaigns",
        help_text="The reseller whose staff started it; empty for the CSP's staff (any account).",
    )
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    created_at = models.DateTimeField(default=timezone.now)
    selection = models.CharField(max_length=300, blank=True, help_text="How the accounts were chosen.")
    reminder_days = models.PositiveIntegerField(help_text="Days after a send (or a reminder) before a reminder.")
    max_reminders = models.PositiveIntegerField(default=2)
    reissue_expired = models.BooleanField(default=True, help_text="Send a new link when a link expires.")
    sender = models.CharField(max_length=200, blank=True, help_text="Who asks, as the e-mails name it.")

    objects = CampaignQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at", "-pk"]

    def __str__(self) -> str:
        return self.name


class CampaignSend(models.Model):
    """One account in one campaign: who its signatory is, and what happened to its link. The unique constraints are
    the claim that makes a campaign idempotent: one row per account per campaign, and one open campaign per
    account (a second campaign over the same customer would withdraw the first one's link)."""

    OPEN_STATES = ("queued", "sending", "sent")

    campaign = models.ForeignKey(Campaign, on_delete=models.CASCADE, related_name="sends")
    account = models.ForeignKey(Account, on_delete=models.PROTECT, related_name="campaign_sends")
    state = models.CharField(max_length=20, choices=CampaignSendState.choices, default=CampaignSendState.QUEUED)
    signatory_first_name = models.CharField(max_length=100, blank=True)
    signatory_last_name = models.CharField(max_length=100, blank=True)
    signatory_email = models.EmailField(blank=True)
    signatory_phone = models.CharField(max_length=40, blank=True)
    signatory_source = models.CharField(max_length=10, choices=SignatorySource.choices, blank=True)
    # The mca Attestation (enhanced flow) whose link went out; an id, not a key: bss.models sits below mca.
    attestation_pk = models.BigIntegerField(null=True, blank=True)
    link_expires_at = models.DateTimeField(null=True, blank=True)
    due_at = models.DateTimeField(default=timezone.now, help_text="When the send (or its next attempt) is due.")
    lease_until = models.DateTimeField(null=True, blank=True, help_text="A worker holds the row until then.")
    attempts = models.PositiveIntegerField(default=0)
    email_started_at = models.DateTimeField(null=True, blank=True)
    sent_at = models.DateTimeField(null=True, blank=True)
    emails = models.PositiveIntegerField(default=0, help_text="E-mails handed to the mail server (links+reminders).")
    reminders = models.PositiveIntegerField(default=0)
    last_reminded_at = models.DateTimeField(null=True, blank=True)
    reissues = models.PositiveIntegerField(default=0, help_text="Links re-issued after one expired.")
    accepted_at = models.DateTimeField(null=True, blank=True)
    bounced_at = models.DateTimeField(null=True, blank=True)
    last_error = models.CharField(max_length=500, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["campaign", "pk"]
        constraints = [
            models.UniqueConstraint(fields=["campaign", "account"], name="campaign_send_one_per_account"),
            models.UniqueConstraint(
                fields=["account"],
                condition=Q(state__in=("queued", "sending", "sent")),
                name="campaign_send_one_open_per_account",
            ),
        ]
        indexes = [
            models.Index(fields=["state", "due_at"], name="campaign_send_due"),
            models.Index(fields=["campaign", "state"], name="campaign_send_progress"),
        ]

    def __str__(self) -> str:
        return f"{self.campaign}: {self.account}"

    @property
    def signatory_name(self) -> str:
        return f"{self.signatory_first_name} {self.signatory_last_name}".strip()
