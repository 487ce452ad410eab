from typing import Any

from django.contrib import admin
from django.db.models import QuerySet
from django.http import HttpRequest

from bss.models import (
    Account,
    CloudServiceProvider,
    Contact,
    Membership,
    Order,
    OrderLine,
    OrderStatusChange,
    Product,
    ProvisioningEvent,
    Reseller,
    Subscription,
)
from mca import gate


class AccountScopedAdmin(admin.ModelAdmin):
    """Staff of a white-label reseller see only their reseller's customers' rows."""

    account_path = "account"

    def get_queryset(self, request: HttpRequest) -> QuerySet:
        queryset = super().get_queryset(request)
        visible = Account.objects.visible_to(request.user)
        if self.account_path == "":
            return queryset.filter(pk__in=visible)
        return queryset.filter(**{f"{self.account_path}__in": visible})


@admin.register(CloudServiceProvider)
class CloudServiceProviderAdmin(admin.ModelAdmin):
    list_display = ["name", "partner_center_tenant_id"]


@admin.register(Reseller)
class ResellerAdmin(admin.ModelAdmin):
    list_display = ["name", "slug", "is_white_label", "brand_name", "storefront_host"]
    list_filter = ["is_white_label"]
    search_fields = ["name", "slug"]
    prepopulated_fields = {"slug": ["name"]}


class ContactInline(admin.TabularInline):
    model = Contact
    extra = 0


@admin.register(Account)
class AccountAdmin(AccountScopedAdmin):
    account_path = ""
    list_display = ["name", "owner", "country", "language", "synced", "partner_center_tenant_id"]
    list_filter = ["reseller", "country"]
    search_fields = ["name", "partner_center_tenant_id"]
    list_select_related = ["reseller"]
    inlines = [ContactInline]

    @admin.display(description="Owner", ordering="reseller__name")
    def owner(self, obj: Account) -> str:
        return obj.owner_name

    @admin.display(description="Synced", boolean=True)
    def synced(self, obj: Account) -> bool:
        return obj.is_synced

    def save_model(self, request: HttpRequest, obj: Account, form: Any, change: bool) -> None:
        # The tenant is set through the gate, so what is known about the customer's acceptance moves with it (R2)
        # and deliveries waiting for a Partner Center customer go out.
        tenant_changed = "partner_center_tenant_id" in form.changed_data
        tenant = obj.partner_center_tenant_id
        if tenant_changed:
            obj.partner_center_tenant_id = form.initial.get("partner_center_tenant_id") if change else None
        super().save_model(request, obj, form, change)
        if tenant_changed:
            gate.set_tenant(obj, tenant)


@admin.register(Membership)
class MembershipAdmin(admin.ModelAdmin):
    list_display = ["user", "role", "account", "reseller"]
    list_filter = ["role", "reseller"]
    search_fields = ["user__username", "user__email", "account__name"]
    list_select_related = ["user", "account", "reseller"]
    autocomplete_fields = ["account"]


@admin.register(Product)
class ProductAdmin(admin.ModelAdmin):
    list_display = ["name", "sku", "vendor", "partner_center_offer_id", "billing_term", "price", "is_active"]
    list_filter = ["vendor", "billing_term", "is_active"]
    search_fields = ["name", "sku", "partner_center_offer_id"]


@admin.register(Subscription)
class SubscriptionAdmin(AccountScopedAdmin):
    list_display = ["account", "product", "seats", "partner_center_subscription_id", "is_active"]
    list_filter = ["is_active", "product__vendor"]
    search_fields = ["account__name", "partner_center_subscription_id"]
    list_select_related = ["account", "product"]


class OrderLineInline(admin.TabularInline):
    model = OrderLine
    extra = 0


class OrderStatusChangeInline(admin.TabularInline):
    model = OrderStatusChange
    extra = 0
    can_delete = False
    readonly_fields = ["from_status", "to_status", "changed_at", "changed_by", "note"]

    def has_add_permission(self, request: HttpRequest, obj: Order | None = None) -> bool:
        return False


class ProvisioningEventInline(admin.TabularInline):
    model = ProvisioningEvent
    extra = 0
    can_delete = False
    readonly_fields = ["created_at", "attempt", "step", "outcome", "message"]

    def has_add_permission(self, request: HttpRequest, obj: Order | None = None) -> bool:
        return False


@admin.register(Order)
class OrderAdmin(AccountScopedAdmin):
    list_display = ["number", "account", "channel", "status", "created_at", "status_changed_at"]
    list_filter = ["status", "channel"]
    search_fields = ["number", "account__name"]
    list_select_related = ["account"]
    # Status only moves through the state machine (Order.move_to), never by editing the field.
    # Provisioning writes these (bss.services.provisioning); the request ids keep retries idempotent.
    readonly_fields = [
        "status",
        "status_changed_at",
        "last_error",
        "executed_by",
        "executed_at",
        "pc_customer_request_id",
        "pc_order_request_id",
        "pc_order_id",
        "provisioning_attempts",
        "provisioning_lease_until",
        "next_attempt_at",
    ]
    inlines = [OrderLineInline, OrderStatusChangeInline, ProvisioningEventInline]
