import tempfile
from pathlib import Path
from typing import Any

from django.contrib import admin, messages
from django.contrib.admin.options import IncorrectLookupParameters
from django.contrib.admin.views.main import ChangeList
from django.core.exceptions import PermissionDenied
from django.core.paginator import InvalidPage
from django.db.models import QuerySet
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.urls import path, reverse
from django.utils.html import format_html
from django.views.decorators.http import require_POST
from django_countries import countries

from bss.choices import Operation
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
from mca.admin import EXPORT_PERMISSION, NotFoundMixin, when
from mca.admin_filters import ResellerFilter
from mca.choices import DeliveryState
from mca.export import export_evidence_pack
from mca.selectors import LocalStatus, local_status_for, records_for_account
from mca.templatetags.mca_state import mca_badge


class AccountScopedAdmin(NotFoundMixin, admin.ModelAdmin):
    """Staff of a white-label reseller see only their reseller's customers' rows; another's id is a 404."""

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


class CountryInUseFilter(admin.SimpleListFilter):
    """Only the countries of the accounts the user may see (not the world's 249)."""

    title = "country"
    parameter_name = "country"

    def lookups(self, request: HttpRequest, model_admin) -> list[tuple[str, str]]:
        codes = Account.objects.visible_to(request.user).order_by().values_list("country", flat=True).distinct()
        choices = [(str(code), f"{countries.name(code) or code} ({code})") for code in codes if code]
        return sorted(choices, key=lambda choice: choice[1])

    def queryset(self, request: HttpRequest, queryset: QuerySet) -> QuerySet:
        return queryset.filter(country=self.value()) if self.value() else queryset


class AccountChangeList(ChangeList):
    """The page's accounts get what is known locally about their MCA acceptance in a few queries (no Partner
    Center call per row: `gate.check` runs on an account's own page)."""

    def get_results(self, request: HttpRequest) -> None:
        self._count_and_page(request)
        statuses = local_status_for(self.result_list)
        states = gate.states_for(self.result_list, viewer=request.user)
        for account in self.result_list:
            account.mca_local = statuses.get(account.pk)
            account.mca_state = states.get(account.pk)

    def _count_and_page(self, request: HttpRequest) -> None:
        """Django's `ChangeList.get_results`, counting once when nothing narrows the list: Django counts the rows
        shown and then, for its "N total", the same rows again (a second COUNT(*) per page, issue 20)."""
        paginator = self.model_admin.get_paginator(request, self.queryset, self.list_per_page)
        result_count = paginator.count
        if not self.model_admin.show_full_result_count:
            full_result_count = None
        elif self.queryset.query.where == self.root_queryset.query.where:  # no filter, search or date narrows it
            full_result_count = result_count
        else:
            full_result_count = self.root_queryset.count()
        can_show_all = result_count <= self.list_max_show_all
        multi_page = result_count > self.list_per_page
        if (self.show_all and can_show_all) or not multi_page:
            result_list = self.queryset._clone()
        else:
            try:
                result_list = paginator.page(self.page_num).object_list
            except InvalidPage as error:
                raise IncorrectLookupParameters from error
        self.result_count = result_count
        self.show_full_result_count = self.model_admin.show_full_result_count
        self.show_admin_actions = not self.show_full_result_count or bool(full_result_count)
        self.full_result_count = full_result_count
        self.result_list = result_list
        self.can_show_all = can_show_all
        self.multi_page = multi_page
        self.paginator = paginator


def _day(moment) -> str:
    return when(moment)[:10] if moment else ""


def local_summary(status: LocalStatus | None) -> tuple[str, str]:
    """(headline, detail) of what is known here, for the accounts list."""
    if status is None:
        return "—", ""
    if status.needed is False:
        if status.counts:
            verified = f"verified {_day(status.verified_at)}" if status.verified_at else "known here only"
            return "not needed", f"{status.kind_label}, {_day(status.accepted_at)}; {verified}"
        return "not needed", "Cloud Agreement accepted before the cut-over"
    if status.attestation_state:
        expires = when(status.link_expires_at, seconds=False)
        if status.link_expired:
            return "needed: link expired", f"sent to {status.signatory_name}, expired {expires}"
        if status.waiting:
            detail = (
                f"{status.signatory_name}, link expires {expires}" if status.link_expires_at else status.signatory_name
            )
            return "waiting for signatory", detail
    if status.needed is None:
        return "unknown here", "Partner Center is asked on the account's page"
    if status.kind and not status.counts:
        return "needed", f"only a partner confirmation of {_day(status.accepted_at)}, before the MCA refresh"
    return "needed", "nothing recorded here"


@admin.register(Account)
class AccountAdmin(AccountScopedAdmin):
    account_path = ""
    list_display = ["name", "owner", "country", "synced", "mca_status", "mca_records"]
    list_filter = [ResellerFilter, CountryInUseFilter]
    search_fields = ["name", "partner_center_tenant_id"]
    list_select_related = ["reseller"]
    inlines = [ContactInline]
    change_form_template = "admin/bss/account/change_form.html"

    def get_changelist(self, request: HttpRequest, **kwargs):
        return AccountChangeList

    @admin.display(description="Owner", ordering="reseller__name")
    def owner(self, obj: Account) -> str:
        return obj.owner_name

    @admin.display(description="Synced", boolean=True)
    def synced(self, obj: Account) -> bool:
        return obj.is_synced

    @admin.display(description="MCA (known here)")
    def mca_status(self, obj: Account) -> str:
        headline, detail = local_summary(getattr(obj, "mca_local", None))
        badge = mca_badge(getattr(obj, "mca_state", None))
        return format_html('{}<br><span class="mca-local">{}</span><br><small>{}</small>', badge, headline, detail)

    @admin.display(description="MCA records")
    def mca_records(self, obj: Account) -> str:
        status: LocalStatus | None = getattr(obj, "mca_local", None)
        if status is None or not status.records:
            return "none"
        problems = [
            f"{status.deliveries[state]} {label}"
            for state, label in ((DeliveryState.FAILING, "failing"), (DeliveryState.REFUSED, "refused"))
            if status.deliveries.get(state)
        ]
        return f"{status.records}" + (f" ({', '.join(problems)})" if problems else "")

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

    # --- the account's MCA status (gate.check: may ask Partner Center within its budget) and its actions ---
    def get_urls(self):
        return [
            path(
                "<path:object_id>/mca/export/",
                self.admin_site.admin_view(require_POST(self.export_evidence_view)),
                name="bss_account_mca_export",
            ),
            path(
                "<path:object_id>/mca/check/",
                self.admin_site.admin_view(require_POST(self.check_now_view)),
                name="bss_account_mca_check",
            ),
            *super().get_urls(),
        ]

    def _account_or_404(self, request: HttpRequest, object_id: str) -> Account:
        account = self.get_object(request, object_id)  # scoped by get_queryset: another tenant's id is None
        if account is None or not self.has_view_permission(request, account):
            raise Http404("No account with this id here.")
        return account

    def change_view(self, request: HttpRequest, object_id: str, form_url: str = "", extra_context=None):
        extra_context = dict(extra_context or {})
        if request.method == "GET":
            account = self._account_or_404(request, object_id)
            extra_context["mca"] = self._mca_context(request, account)
        return super().change_view(request, object_id, form_url, extra_context)

    def _mca_context(self, request: HttpRequest, account: Account) -> dict[str, Any]:
        decision = gate.check(account, [Operation.NEW_PURCHASE])
        status = decision.status
        records = [
            (record, _delivery_row(record)) for record in records_for_account(account).order_by("-sequence")[:50]
        ]
        failing = sum(1 for _, delivery in records if delivery["failing"])
        return {
            "decision": decision,
            "reason": _sentence(decision.reason),
            "known_by": status.known_by.label if status and status.known_by else "",
            "accepted_at": when(status.accepted_at)[:10] if status and status.accepted_at else "",  # a day agreed
            "verified_at": when(status.verified_at) if status and status.verified_at else "",
            "pending": decision.pending,
            "pending_expires": when(decision.pending.expires_at) if decision.pending else "",
            "records": records,
            "failing": failing,
            "deliveries_url": reverse("admin:mca_acceptancedelivery_changelist")
            + f"?account={account.pk}&state__exact=failing",
            "log_url": reverse("admin:mca_acceptancerecord_changelist") + f"?account={account.pk}",
            "can_export": request.user.has_perm(EXPORT_PERMISSION),
            "export_url": reverse("admin:bss_account_mca_export", args=[account.pk]),
            "check_url": reverse("admin:bss_account_mca_check", args=[account.pk]),
        }

    def export_evidence_view(self, request: HttpRequest, object_id: str) -> HttpResponse:
        """R14 from the setup area: the evidence pack `mca_export` writes (one zip a third party can verify)."""
        account = self._account_or_404(request, object_id)
        if not request.user.has_perm(EXPORT_PERMISSION):
            raise PermissionDenied
        with tempfile.TemporaryDirectory(prefix="mca-evidence-") as temp:
            pack = export_evidence_pack(account, Path(temp), within=Account.objects.visible_to(request.user))
            content = pack.read_bytes()
        response = HttpResponse(content, content_type="application/zip")
        response["Content-Disposition"] = f'attachment; filename="{pack.name}"'
        return response

    def check_now_view(self, request: HttpRequest, object_id: str) -> HttpResponse:
        """ "Check now": ask Microsoft again at once (open attestations, the customer's confirmations)."""
        account = self._account_or_404(request, object_id)
        decision = gate.check_now(account)
        level = messages.WARNING if decision.needed else messages.SUCCESS
        verdict = "MCA acceptance needed" if decision.needed else "MCA acceptance not needed"
        messages.add_message(request, level, f"Checked {account.name} now: {verdict}. {_sentence(decision.reason)}")
        return HttpResponseRedirect(reverse("admin:bss_account_change", args=[account.pk]) + "#mca-status")


def _sentence(text: str) -> str:
    """The gate's reason as a sentence: one full stop at the end, whether or not it came with one."""
    return text.rstrip(". ") + "."


def _delivery_row(record) -> dict[str, Any]:
    delivery = getattr(record, "delivery", None)  # None when the record has no delivery row
    if delivery is None:
        return {"state": "—", "failing": False, "error": "", "next": ""}
    refused = delivery.state == DeliveryState.REFUSED
    return {
        "state": "refused (Partner Center said no for good)" if refused else delivery.get_state_display(),
        "failing": delivery.state == DeliveryState.FAILING,
        "error": delivery.last_error,
        "next": when(delivery.next_attempt_at) if delivery.state == DeliveryState.FAILING else "",
    }


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
