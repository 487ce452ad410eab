"""The setup area for the acceptance log (R12): read-only, scoped, fast at a million records.

- Nobody adds, changes or deletes a record here; the change view is a read-only detail page with the chain check
  of that record and its delivery state beside it.
- Scoping: `Account.objects.visible_to(user)` decides (CSP staff and superusers: all; white-label staff: their
  reseller's customers).
- Big tables: static filter choices, a date-range filter instead of `date_hierarchy`, no full-result count, an
  estimated-count paginator, sorting only on indexed columns, trigram indexes for search on PostgreSQL.
- A streamed CSV export of the filtered list and a "Verify chain" button, each behind its permission.
"""

from __future__ import annotations

import json

from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponseRedirect, StreamingHttpResponse
from django.urls import path, reverse
from django.utils import timezone
from django.utils.html import format_html
from django.views.decorators.http import require_POST

from bss.models import Account
from mca.admin_filters import DateRangeFilter, ResellerFilter
from mca.chain import verify_chain
from mca.choices import EvidenceClass
from mca.export import check_record, csv_lines, csv_rows
from mca.models import AcceptanceDelivery, AcceptanceRecord, CustomerKnowledge
from mca.paginator import EstimatedCountPaginator

EXPORT_PERMISSION = "mca.export_acceptancerecord"
VERIFY_PERMISSION = "mca.verify_acceptance_log"


def scope_to_user(queryset: QuerySet, request: HttpRequest, account_path: str = "account") -> QuerySet:
    """Limit a queryset to the accounts the user may see (the one scoping function decides).

    Users who see every account get the queryset unfiltered (so an unfiltered list stays unfiltered and the
    paginator can use the table estimate); others get `account__in` a subquery — a semi-join PostgreSQL runs
    against the (account, -created_at) index.
    """
    visible = Account.objects.visible_to(request.user)
    if not visible.query.where:
        return queryset
    return queryset.filter(**{f"{account_path}__in": visible.values("pk")})


class ReadOnlyAdminMixin:
    """No add, change or delete; the change view shows the object read-only; no bulk actions."""

    actions = None

    def has_add_permission(self, request: HttpRequest, obj=None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj=None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj=None) -> bool:
        return False


def _delivery_of(record: AcceptanceRecord) -> AcceptanceDelivery | None:
    try:
        return record.delivery
    except AcceptanceDelivery.DoesNotExist:
        return None


admin.site.site_header = "MCA acceptance — setup area"
admin.site.site_title = "MCA setup area"
admin.site.index_title = "Setup area"


class DeliveryStateFilter(admin.ChoicesFieldListFilter):
    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.title = "delivery to Partner Center"


@admin.register(AcceptanceRecord)
class AcceptanceRecordAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = (
        "sequence",
        "created_at",
        "account_name",
        "reseller_name",
        "confirmer_column",
        "channel",
        "evidence",
        "delivery_state",
    )
    list_display_links = ("sequence",)
    list_select_related = ("delivery",)
    list_filter = (
        DateRangeFilter,
        "channel",
        "evidence_class",
        ("delivery__state", DeliveryStateFilter),
        ResellerFilter,
    )
    search_fields = ("account_name", "last_name", "first_name", "actor_display_name", "email")
    search_help_text = "Customer name, the name entered in the form or of who confirmed, or e-mail."
    ordering = ("-sequence",)
    sortable_by = ("sequence", "created_at")
    show_full_result_count = False
    show_facets = admin.ShowFacets.NEVER
    paginator = EstimatedCountPaginator
    list_per_page = 50

    fieldsets = (
        (
            "Who confirmed",
            {"fields": ("actor_display_name", "actor_username", "actor_user_id", "actor_role", "actor_organisation")},
        ),
        ("For whom", {"fields": ("account_name", "account", "reseller_name", "reseller", "tenant_id")}),
        ("When and where", {"fields": ("created_at", "channel", "host", "ip_address", "user_agent")}),
        (
            "What was shown",
            {
                "fields": (
                    "agreement_type",
                    "template_id",
                    "template_version_rank",
                    "document_link",
                    "language",
                    "country",
                )
            },
        ),
        (
            "Form as entered",
            {"fields": ("form_as_entered", "first_name", "last_name", "email", "phone", "date_agreed")},
        ),
        ("Trigger", {"fields": ("order_number", "subscription_ref", "operation", "idempotency_key")}),
        ("Evidence", {"fields": ("evidence_class", "log_sufficient_as_proof")}),
        (
            "Delivery to Partner Center",
            {
                "fields": (
                    "delivery_state",
                    "delivery_attempts",
                    "delivery_next_attempt",
                    "delivery_last_error",
                    "delivery_answer",
                    "delivery_sent_at",
                )
            },
        ),
        ("Chain", {"fields": ("sequence", "hash_version", "prev_hash", "entry_hash", "chain_status")}),
    )

    def get_readonly_fields(self, request: HttpRequest, obj=None) -> list[str]:
        return [name for _, options in self.fieldsets for name in options["fields"]]

    def get_queryset(self, request: HttpRequest) -> QuerySet:
        return scope_to_user(super().get_queryset(request), request)

    def get_object(self, request: HttpRequest, object_id: str, from_field=None):
        queryset = self.get_queryset(request).select_related("delivery", "account", "reseller")
        field = self.model._meta.pk if from_field is None else self.model._meta.get_field(from_field)
        try:
            return queryset.get(**{field.name: field.to_python(object_id)})
        except (self.model.DoesNotExist, ValidationError, ValueError):
            return None

    # --- list columns ---
    @admin.display(description="evidence", ordering=None)
    def evidence(self, record: AcceptanceRecord) -> str:
        # The full labels explain themselves in the filter and the detail page; the list needs room.
        return "first-party" if record.evidence_class == EvidenceClass.FIRST_PARTY else "attestation"

    @admin.display(description="confirmed by")
    def confirmer_column(self, record: AcceptanceRecord) -> str:
        return record.confirmer

    @admin.display(description="delivery")
    def delivery_state(self, record: AcceptanceRecord) -> str:
        delivery = _delivery_of(record)
        return delivery.get_state_display() if delivery else "—"

    # --- detail fields ---
    @admin.display(description="form data (as entered)")
    def form_as_entered(self, record: AcceptanceRecord) -> str:
        try:
            pretty = json.dumps(json.loads(record.form_data), indent=2, ensure_ascii=False, sort_keys=True)
        except ValueError:
            pretty = record.form_data
        return format_html('<pre style="margin:0">{}</pre>', pretty)

    @admin.display(description="attempts")
    def delivery_attempts(self, record: AcceptanceRecord):
        delivery = _delivery_of(record)
        return delivery.attempts if delivery else "—"

    @admin.display(description="next try")
    def delivery_next_attempt(self, record: AcceptanceRecord):
        delivery = _delivery_of(record)
        return delivery.next_attempt_at if delivery and delivery.next_attempt_at else "—"

    @admin.display(description="last error")
    def delivery_last_error(self, record: AcceptanceRecord) -> str:
        delivery = _delivery_of(record)
        return (delivery.last_error if delivery else "") or "—"

    @admin.display(description="Partner Center's answer")
    def delivery_answer(self, record: AcceptanceRecord) -> str:
        delivery = _delivery_of(record)
        if delivery is None or (delivery.response is None and delivery.last_status_code is None):
            return "—"
        answer = json.dumps(delivery.response, indent=2, ensure_ascii=False, sort_keys=True)
        note = " — an identical confirmation already existed (600061)" if delivery.already_confirmed else ""
        return format_html('HTTP {}{}<pre style="margin:0">{}</pre>', delivery.last_status_code or "—", note, answer)

    @admin.display(description="sent at")
    def delivery_sent_at(self, record: AcceptanceRecord):
        delivery = _delivery_of(record)
        return delivery.sent_at if delivery and delivery.sent_at else "—"

    @admin.display(description="chain check of this record")
    def chain_status(self, record: AcceptanceRecord) -> str:
        return str(self._record_check(record))

    def _record_check(self, record: AcceptanceRecord):
        cached = getattr(record, "_chain_check", None)
        if cached is None:
            cached = record._chain_check = check_record(record)
        return cached

    def change_view(self, request: HttpRequest, object_id: str, form_url: str = "", extra_context=None):
        if request.method == "POST":
            raise PermissionDenied("Acceptance records are read-only.")
        return super().change_view(request, object_id, form_url, extra_context)

    def render_change_form(self, request: HttpRequest, context, add=False, change=False, form_url="", obj=None):
        if obj is not None:
            check = self._record_check(obj)
            context.update(
                chain_ok=check.ok, chain_status=str(check), delivery_summary=_delivery_summary(_delivery_of(obj))
            )
        return super().render_change_form(request, context, add, change, form_url, obj)

    # --- export and verify ---
    def get_urls(self):
        info = self.opts.app_label, self.opts.model_name
        return [
            path("export/", self.admin_site.admin_view(self.export_view), name=f"{info[0]}_{info[1]}_export"),
            path(
                "verify/",
                self.admin_site.admin_view(require_POST(self.verify_view)),
                name=f"{info[0]}_{info[1]}_verify",
            ),
            *super().get_urls(),
        ]

    def changelist_view(self, request: HttpRequest, extra_context=None):
        info = self.opts.app_label, self.opts.model_name
        extra_context = {
            **(extra_context or {}),
            "can_export": request.user.has_perm(EXPORT_PERMISSION),
            "can_verify": request.user.has_perm(VERIFY_PERMISSION),
            "export_url": reverse(f"admin:{info[0]}_{info[1]}_export", current_app=self.admin_site.name),
            "verify_url": reverse(f"admin:{info[0]}_{info[1]}_verify", current_app=self.admin_site.name),
        }
        return super().changelist_view(request, extra_context)

    def export_view(self, request: HttpRequest):
        """The list as filtered and searched on the page, streamed as CSV (every matching row, not one page)."""
        if not (self.has_view_permission(request) and request.user.has_perm(EXPORT_PERMISSION)):
            raise PermissionDenied
        changelist = self.get_changelist_instance(request)  # the same filters, search and scope as the list
        queryset = changelist.queryset.select_related(None)
        response = StreamingHttpResponse(csv_lines(csv_rows(queryset)), content_type="text/csv; charset=utf-8")
        stamp = timezone.now().strftime("%Y%m%d-%H%M%S")
        response["Content-Disposition"] = f'attachment; filename="acceptance-records-{stamp}.csv"'
        return response

    def verify_view(self, request: HttpRequest):
        if not request.user.has_perm(VERIFY_PERMISSION):
            raise PermissionDenied
        result = verify_chain()
        if result.ok:
            messages.success(request, f"Acceptance log intact: {result.checked} records verified.")
        else:
            messages.error(
                request,
                f"Acceptance log NOT intact: {result.first_break}. {result.checked} record(s) before it verified.",
            )
        return HttpResponseRedirect(reverse("admin:mca_acceptancerecord_changelist"))


def _delivery_summary(delivery: AcceptanceDelivery | None) -> str:
    if delivery is None:
        return "No delivery row."
    text = delivery.get_state_display()
    if delivery.sent_at:
        text += f" at {timezone.localtime(delivery.sent_at):%Y-%m-%d %H:%M}"
        if delivery.last_status_code:
            text += f" (HTTP {delivery.last_status_code})"
    if delivery.attempts:
        text += f"; {delivery.attempts} attempt(s)"
    if delivery.next_attempt_at and delivery.state != "sent":
        text += f"; next try {timezone.localtime(delivery.next_attempt_at):%Y-%m-%d %H:%M}"
    if delivery.last_error:
        text += f"; last error: {delivery.last_error}"
    return text


@admin.register(AcceptanceDelivery)
class AcceptanceDeliveryAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ("record_link", "customer", "state", "attempts", "next_attempt_at", "last_status_code", "sent_at")
    list_select_related = ("record",)
    list_filter = ("state",)
    ordering = ("-id",)
    sortable_by = ("id",)
    show_full_result_count = False
    show_facets = admin.ShowFacets.NEVER
    paginator = EstimatedCountPaginator
    readonly_fields = (
        "record",
        "account",
        "state",
        "request_id",
        "tenant_id",
        "template_id",
        "attempts",
        "next_attempt_at",
        "last_error",
        "last_status_code",
        "already_confirmed",
        "response",
        "sent_at",
        "created_at",
        "updated_at",
    )

    def get_queryset(self, request: HttpRequest) -> QuerySet:
        return scope_to_user(super().get_queryset(request), request)

    @admin.display(description="record", ordering="id")
    def record_link(self, delivery: AcceptanceDelivery) -> str:
        url = reverse("admin:mca_acceptancerecord_change", args=[delivery.record_id])
        return format_html('<a href="{}">#{}</a>', url, delivery.record.sequence)

    @admin.display(description="customer")
    def customer(self, delivery: AcceptanceDelivery) -> str:
        return delivery.record.account_name

    def change_view(self, request: HttpRequest, object_id: str, form_url: str = "", extra_context=None):
        if request.method == "POST":
            raise PermissionDenied("Deliveries are changed only by the delivery worker.")
        return super().change_view(request, object_id, form_url, extra_context)


@admin.register(CustomerKnowledge)
class CustomerKnowledgeAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ("key", "kind", "accepted_at", "confirmed_by", "verified_at", "updated_at")
    list_filter = ("kind",)
    search_fields = ("key", "confirmed_by")
    ordering = ("-updated_at",)
    show_full_result_count = False
    show_facets = admin.ShowFacets.NEVER
    paginator = EstimatedCountPaginator
    readonly_fields = (
        "key",
        "kind",
        "accepted_at",
        "template_id",
        "template_version_rank",
        "confirmed_by",
        "record",
        "verified_at",
        "updated_at",
    )

    def change_view(self, request: HttpRequest, object_id: str, form_url: str = "", extra_context=None):
        if request.method == "POST":
            raise PermissionDenied("Knowledge is changed only by the acceptance services.")
        return super().change_view(request, object_id, form_url, extra_context)
