"""Read-mostly admin pages for the simulator's state (handy during demos and drills)."""

from django.contrib import admin

from partner_center.simulator.models import (
    SimAgreement,
    SimAgreementTemplate,
    SimAttestation,
    SimCallCount,
    SimCustomer,
    SimFault,
    SimIdempotencyRecord,
    SimOrder,
    SimSubscription,
)


@admin.register(SimCustomer)
class SimCustomerAdmin(admin.ModelAdmin):
    list_display = ["company_name", "tenant_id", "domain", "country", "direct_signed"]
    list_filter = ["direct_signed"]
    search_fields = ["company_name", "tenant_id", "domain"]


@admin.register(SimAgreementTemplate)
class SimAgreementTemplateAdmin(admin.ModelAdmin):
    list_display = ["agreement_type", "version_rank", "template_id", "agreement_link"]


@admin.register(SimAgreement)
class SimAgreementAdmin(admin.ModelAdmin):
    list_display = ["customer", "agreement_type", "date_agreed", "first_name", "last_name", "email"]
    list_filter = ["agreement_type"]
    list_select_related = ["customer"]


@admin.register(SimAttestation)
class SimAttestationAdmin(admin.ModelAdmin):
    list_display = ["attestation_id", "company_name", "first_name", "last_name", "email", "status", "expires_at"]
    list_filter = ["status"]
    search_fields = ["attestation_id", "company_name", "email", "last_name"]
    list_select_related = ["agreement"]
    readonly_fields = ["created_at", "accepted_at", "accepted_ip", "accepted_user_agent"]


@admin.register(SimOrder)
class SimOrderAdmin(admin.ModelAdmin):
    list_display = ["order_id", "customer", "status", "created_at"]
    list_select_related = ["customer"]


@admin.register(SimSubscription)
class SimSubscriptionAdmin(admin.ModelAdmin):
    list_display = ["subscription_id", "customer", "offer_id", "quantity", "status"]
    list_select_related = ["customer"]


@admin.register(SimIdempotencyRecord)
class SimIdempotencyRecordAdmin(admin.ModelAdmin):
    list_display = ["request_id", "method", "path", "status", "created_at"]


@admin.register(SimFault)
class SimFaultAdmin(admin.ModelAdmin):
    list_display = ["mode", "remaining", "status", "latency_ms", "retry_after", "path_prefix"]


@admin.register(SimCallCount)
class SimCallCountAdmin(admin.ModelAdmin):
    list_display = ["endpoint", "count"]
