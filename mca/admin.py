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
from datetime import datetime

from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.db.models import QuerySet
from django.http import Http404, HttpRequest, HttpResponseRedirect, StreamingHttpResponse
from django.urls import path, reverse
from django.utils import timezone
from django.utils.formats import date_format
from django.utils.html import format_html
from django.views.decorators.http import require_POST

from bss.models import Account
from mca import gate
from mca.admin_filters import DateRangeFilter, ResellerFilter
from mca.choices import AttestationState, DeliveryState, EvidenceClass, RecordEvent
from mca.delivery import retry_now
from mca.export import check_record, csv_lines, csv_rows
from mca.models import AcceptanceDelivery, AcceptanceRecord, Attestation, CustomerKnowledge, RecheckRun
from mca.paginator import EstimatedCountPaginator
from mca.state import link_is_expired
from mca.verify import verify_chain

EXPORT_PERMISSION = "mca.export_acceptancerecord"
VERIFY_PERMISSION = "mca.verify_acceptance_log"
RETRY_PERMISSION = "mca.retry_delivery"


def when(moment: datetime | None, *, seconds: bool = True) -> str:
    """A timestamp with its time zone: the current one (TIME_ZONE, UTC, unless one was activated), e.g.
    "2026-11-26 08:36:35 UTC"; "—" when there is none."""
    if moment is None:
        return "—"
    return date_format(timezone.localtime(moment), "Y-m-d H:i:s T" if seconds else "Y-m-d H:i T")


def yes_no(value: bool | None, yes: str = "yes", no: str = "no") -> str:
    """Plain text instead of Django's green/red icons: "no" is often not a fault here (e.g. an attestation's log
    alone is not proof by design)."""
    if value is None:
        return "—"
    return yes if value else no


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


class NotFoundMixin:
    """A missing object, or one outside the user's scope, is a plain 404: not Django's redirect to the index with
    "… doesn't exist. Perhaps it was deleted?" (records are never deleted; a foreign id must not hint at anything)."""

    def _get_obj_does_not_exist_redirect(self, request: HttpRequest, opts, object_id: str):
        raise Http404(f"No {opts.verbose_name} with this id here.")


class ReadOnlyAdminMixin(NotFoundMixin):
    """No add, change or delete; the change view shows the object read-only; no bulk actions."""

    actions = None

    def has_add_permission(self, request: HttpRequest, obj=None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj=None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj=None) -> bool:
        return False


class ScopedReadOnlyAdminMixin(ReadOnlyAdminMixin):
    """Read-only, scoped to the accounts the user may see; only the actions a subclass declares (never delete)."""

    def get_queryset(self, request: HttpRequest) -> QuerySet:
        return scope_to_user(super().get_queryset(request), request)

    def get_actions(self, request: HttpRequest):
        actions = super().get_actions(request)
        actions.pop("delete_selected", None)
        return actions


def _delivery_of(record: AcceptanceRecord) -> AcceptanceDelivery | None:
    try:
        return record.delivery
    except AcceptanceDelivery.DoesNotExist:
        return None


admin.site.site_header = "MCA acceptance — setup area"
admin.site.site_title = "MCA setup area"
admin.site.index_title = "Setup area"
# The app list is one click away (Home); the 300 px sidebar would leave the log's columns no room at 1280 px.
admin.site.enable_nav_sidebar = False


class DeliveryStateFilter(admin.ChoicesFieldListFilter):
    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.title = "delivery to Partner Center"


class ScopedAccountFilter(admin.SimpleListFilter):
    """By customer account (for links from an account's page); choices limited to what the user may see."""

    title = "customer"
    parameter_name = "account"

    def lookups(self, request: HttpRequest, model_admin) -> list[tuple[str, str]]:
        value = self.value()
        if not value or not value.isdigit():
            return []  # no list of every account: it is reached from the account's page
        account = Account.objects.visible_to(request.user).filter(pk=int(value)).first()
        return [(str(account.pk), account.name)] if account else []

    def queryset(self, request: HttpRequest, queryset: QuerySet) -> QuerySet:
        value = self.value()
        if not value:
            return queryset
        if not value.isdigit():
            return queryset.none()
        return queryset.filter(account_id=int(value))


# Short labels for the list (the detail page and the filter show the full ones).
EVENT_SHORT = {
    RecordEvent.LEGACY_CONFIRMATION: "legacy confirmation",
    RecordEvent.FORM_SUBMITTED: "form submitted",
    RecordEvent.ATTESTATION_CREATED: "attestation created",
    RecordEvent.SIGNATORY_ACCEPTED: "signatory accepted",
    RecordEvent.AGREEMENT_CREATED: "agreement created",
    RecordEvent.LINK_EXPIRED: "link expired",
    RecordEvent.LINK_REISSUED: "link re-issued",
}
DELIVERY_SHORT = {
    DeliveryState.WAITING_FOR_CUSTOMER: "waiting for customer id",
    DeliveryState.FAILING: "failing",
    DeliveryState.REFUSED: "refused",
}


def _pretty_json(text: str) -> str:
    """JSON text indented, keys in the order they were written (as entered); other text unchanged."""
    try:
        return json.dumps(json.loads(text), indent=2, ensure_ascii=False)
    except ValueError:
        return text


@admin.register(AcceptanceRecord)
class AcceptanceRecordAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    # Fits a 1280 px window beside the filters: short labels, the reseller under the customer.
    list_display = (
        "number",
        "created",
        "customer",
        "event_column",
        "confirmer_column",
        "channel",
        "evidence",
        "delivery_state",
    )
    list_display_links = ("number",)
    list_select_related = ("delivery",)
    list_filter = (
        DateRangeFilter,
        "channel",
        "evidence_class",
        ("delivery__state", DeliveryStateFilter),
        ResellerFilter,
        ScopedAccountFilter,
    )
    search_fields = ("account_name", "last_name", "first_name", "actor_display_name", "email")
    search_help_text = "Customer name, the name entered in the form or of who confirmed, or e-mail."
    ordering = ("-sequence",)
    sortable_by = ("number", "created")
    show_full_result_count = False
    show_facets = admin.ShowFacets.NEVER
    paginator = EstimatedCountPaginator
    list_per_page = 50

    fieldsets = (
        ("Event", {"fields": ("event", "attestation_id", "signatory_company", "authority", "link_expires")}),
        (
            "Who confirmed",
            {"fields": ("actor_display_name", "actor_username", "actor_user_id", "actor_role", "actor_organisation")},
        ),
        ("For whom", {"fields": ("account_name", "account", "reseller_name", "reseller", "tenant_id")}),
        ("When and where", {"fields": ("created_detail", "channel", "host", "ip", "user_agent")}),
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
        ("Form as entered", {"fields": ("form_as_entered",)}),
        (
            "Read from the form (normalised, for search and delivery)",
            {"fields": ("first_name", "last_name", "email", "phone", "date_agreed")},
        ),
        ("Microsoft's answer for this step", {"fields": ("microsoft_answer_pretty",)}),
        ("Trigger", {"fields": ("order_number", "subscription_ref", "operation", "idempotency_key")}),
        ("Evidence", {"fields": ("evidence_class", "log_alone_is_proof")}),
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
    @admin.display(description="#", ordering="sequence")
    def number(self, record: AcceptanceRecord) -> int:
        return record.sequence

    @admin.display(description="created", ordering="created_at")
    def created(self, record: AcceptanceRecord) -> str:
        day, time_of_day = when(record.created_at).split(" ", 1)
        return format_html('<span class="mca-nowrap">{}</span><br><small>{}</small>', day, time_of_day)

    @admin.display(description="customer")
    def customer(self, record: AcceptanceRecord) -> str:
        return format_html("{}<br><small>{}</small>", record.account_name, record.reseller_name or "CSP direct")

    @admin.display(description="event")
    def event_column(self, record: AcceptanceRecord) -> str:
        return format_html(
            '<span title="{}">{}</span>',
            record.get_event_display(),
            EVENT_SHORT.get(record.event, record.get_event_display()),
        )

    @admin.display(description="evidence", ordering=None)
    def evidence(self, record: AcceptanceRecord) -> str:
        # The full labels explain themselves in the filter and the detail page; the list needs room.
        return {
            EvidenceClass.FIRST_PARTY: "first-party",
            EvidenceClass.SIGNATORY_AT_MICROSOFT: "signatory at Microsoft",
        }.get(record.evidence_class, "attestation")

    @admin.display(description="confirmed by")
    def confirmer_column(self, record: AcceptanceRecord) -> str:
        return format_html(
            '<span title="{}">{}</span><br><small>{}</small>',
            record.confirmer,
            record.actor_display_name,
            record.get_actor_role_display(),
        )

    @admin.display(description="delivery")
    def delivery_state(self, record: AcceptanceRecord) -> str:
        delivery = _delivery_of(record)
        if delivery is None:
            return "—"
        full = delivery.get_state_display()
        return format_html('<span title="{}">{}</span>', full, DELIVERY_SHORT.get(delivery.state, full.lower()))

    # --- detail fields ---
    @admin.display(description="IP address")
    def ip(self, record: AcceptanceRecord) -> str:
        return record.ip_address or "—"

    @admin.display(description="created (server time)")
    def created_detail(self, record: AcceptanceRecord) -> str:
        return when(record.created_at)

    @admin.display(description="authority declared")
    def authority(self, record: AcceptanceRecord) -> str:
        return yes_no(record.authority_declared, "yes: the submitter declared the signatory's authority")

    @admin.display(description="link expires")
    def link_expires(self, record: AcceptanceRecord) -> str:
        return when(record.link_expires_at)

    @admin.display(description="log alone is proof")
    def log_alone_is_proof(self, record: AcceptanceRecord) -> str:
        if record.evidence_class == EvidenceClass.SIGNATORY_AT_MICROSOFT:
            return "yes: Microsoft reported the signatory's acceptance"
        if record.log_sufficient_as_proof:
            return "yes: the customer's own user accepted"
        if record.evidence_class == EvidenceClass.FIRST_PARTY:
            return "not this step: the signatory's acceptance at Microsoft (a later record) proves it"
        return "not alone: Partner Center's record of the acceptance backs it (see the delivery below)"

    @admin.display(description="Microsoft's answer")
    def microsoft_answer_pretty(self, record: AcceptanceRecord) -> str:
        if not record.microsoft_answer:
            return "—"
        return format_html('<pre class="mca-pre">{}</pre>', _pretty_json(record.microsoft_answer))

    @admin.display(description="form data (exactly as entered)")
    def form_as_entered(self, record: AcceptanceRecord) -> str:
        if record.form_data in ("", "{}"):
            return "— (this step has no form)"
        return format_html('<pre class="mca-pre">{}</pre>', _pretty_json(record.form_data))

    @admin.display(description="attempts")
    def delivery_attempts(self, record: AcceptanceRecord):
        delivery = _delivery_of(record)
        return delivery.attempts if delivery else "—"

    @admin.display(description="next try")
    def delivery_next_attempt(self, record: AcceptanceRecord) -> str:
        delivery = _delivery_of(record)
        if delivery is None or delivery.state in (DeliveryState.SENT, DeliveryState.REFUSED):
            return "—"
        return when(delivery.next_attempt_at)

    @admin.display(description="last error")
    def delivery_last_error(self, record: AcceptanceRecord) -> str:
        delivery = _delivery_of(record)
        return (delivery.last_error if delivery else "") or "—"

    @admin.display(description="Partner Center's answer")
    def delivery_answer(self, record: AcceptanceRecord) -> str:
        delivery = _delivery_of(record)
        if delivery is None or (delivery.response is None and delivery.last_status_code is None):
            return "—"
        answer = json.dumps(delivery.response, indent=2, ensure_ascii=False)
        note = " — an identical confirmation already existed (600061)" if delivery.already_confirmed else ""
        status = delivery.last_status_code or "—"
        return format_html('HTTP {}{}<pre class="mca-pre-tight">{}</pre>', status, note, answer)

    @admin.display(description="sent at")
    def delivery_sent_at(self, record: AcceptanceRecord) -> str:
        delivery = _delivery_of(record)
        return when(delivery.sent_at) if delivery else "—"

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

    def history_view(self, request: HttpRequest, object_id: str, extra_context=None):
        raise Http404("Acceptance records have no history: they are never changed.")

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
        text += f" at {when(delivery.sent_at, seconds=False)}"
        if delivery.last_status_code:
            text += f" (HTTP {delivery.last_status_code})"
    if delivery.attempts:
        text += f"; {delivery.attempts} attempt(s)"
    if delivery.next_attempt_at and delivery.state != "sent":
        text += f"; next try {when(delivery.next_attempt_at, seconds=False)}"
    if delivery.last_error:
        text += f"; last error: {delivery.last_error}"
    return text


@admin.register(AcceptanceDelivery)
class AcceptanceDeliveryAdmin(ScopedReadOnlyAdminMixin, admin.ModelAdmin):
    """Each record's delivery to Partner Center: failing ones with their last error and next try, and a
    "Retry now" action (sends them at once, in this request) for users with `mca.retry_delivery`."""

    list_display = ("record_link", "customer", "state_column", "attempts", "last_error_short", "next_try")
    list_select_related = ("record",)
    list_filter = ("state", ScopedAccountFilter)
    ordering = ("-id",)
    sortable_by = ("id",)
    show_full_result_count = False
    show_facets = admin.ShowFacets.NEVER
    paginator = EstimatedCountPaginator
    actions = ["retry_now_action"]
    fields = (
        "record",
        "account",
        "state",
        "request_id",
        "tenant_id",
        "template_id",
        "attempts",
        "next_try",
        "last_error",
        "last_status_code",
        "already_confirmed_text",
        "answer",
        "sent",
        "created",
        "updated",
    )
    readonly_fields = fields

    def has_retry_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm(RETRY_PERMISSION)

    @admin.action(description="Retry now (send the selected failing deliveries at once)", permissions=["retry"])
    def retry_now_action(self, request: HttpRequest, queryset: QuerySet) -> None:
        # `queryset` is already scoped to the user's accounts: a foreign id in the POST is simply not there.
        selected = list(queryset.select_related("record").order_by("pk"))
        outcomes = retry_now([delivery.pk for delivery in selected])
        after = {d.pk: d for d in AcceptanceDelivery.objects.filter(pk__in=outcomes)}
        for delivery in selected:
            row = after[delivery.pk]
            label = f"Record #{delivery.record.sequence} ({delivery.record.account_name})"
            if outcomes[delivery.pk] is None:
                messages.warning(request, f"{label}: not retried — it is {row.get_state_display().lower()}.")
            elif row.state == DeliveryState.SENT:
                code = f" (HTTP {row.last_status_code})" if row.last_status_code else ""
                messages.success(request, f"{label}: sent to Partner Center{code}.")
            elif row.state == DeliveryState.FAILING:
                messages.error(
                    request,
                    f"{label}: still failing — {row.last_error}; next try {when(row.next_attempt_at)}.",
                )
            else:
                messages.warning(request, f"{label}: {row.get_state_display()}. {row.last_error}".strip())

    @admin.display(description="record", ordering="id")
    def record_link(self, delivery: AcceptanceDelivery) -> str:
        url = reverse("admin:mca_acceptancerecord_change", args=[delivery.record_id])
        return format_html('<a href="{}">#{}</a>', url, delivery.record.sequence)

    @admin.display(description="customer")
    def customer(self, delivery: AcceptanceDelivery) -> str:
        return delivery.record.account_name

    @admin.display(description="state")
    def state_column(self, delivery: AcceptanceDelivery) -> str:
        if delivery.state == DeliveryState.REFUSED:
            return "refused (Partner Center said no for good)"
        return delivery.get_state_display()

    @admin.display(description="last error")
    def last_error_short(self, delivery: AcceptanceDelivery) -> str:
        if not delivery.last_error:
            return "—"
        text = delivery.last_error if len(delivery.last_error) <= 140 else delivery.last_error[:139] + "…"
        return format_html('<span title="{}">{}</span>', delivery.last_error, text)

    @admin.display(description="next try")
    def next_try(self, delivery: AcceptanceDelivery) -> str:
        if delivery.state in (DeliveryState.SENT, DeliveryState.REFUSED, DeliveryState.WAITING_FOR_CUSTOMER):
            return "—"
        return when(delivery.next_attempt_at)

    @admin.display(description="identical confirmation already existed (600061)")
    def already_confirmed_text(self, delivery: AcceptanceDelivery) -> str:
        return yes_no(delivery.already_confirmed)

    @admin.display(description="Partner Center's answer")
    def answer(self, delivery: AcceptanceDelivery) -> str:
        if delivery.response is None:
            return "—"
        return format_html(
            '<pre class="mca-pre-tight">{}</pre>', json.dumps(delivery.response, indent=2, ensure_ascii=False)
        )

    @admin.display(description="sent")
    def sent(self, delivery: AcceptanceDelivery) -> str:
        return when(delivery.sent_at)

    @admin.display(description="created")
    def created(self, delivery: AcceptanceDelivery) -> str:
        return when(delivery.created_at)

    @admin.display(description="updated")
    def updated(self, delivery: AcceptanceDelivery) -> str:
        return when(delivery.updated_at)

    def change_view(self, request: HttpRequest, object_id: str, form_url: str = "", extra_context=None):
        if request.method == "POST":
            raise PermissionDenied("Deliveries are changed only by the delivery worker.")
        return super().change_view(request, object_id, form_url, extra_context)


@admin.register(Attestation)
class AttestationAdmin(ScopedReadOnlyAdminMixin, admin.ModelAdmin):
    """Acceptance links out with customers' signatories (enhanced attestation): pending ones with their expiry,
    and a "Check now" action that asks Microsoft at once."""

    list_display = ("customer", "signatory", "state_now", "expires", "created", "last_error_short")
    list_select_related = ("account",)
    list_filter = ("state",)
    search_fields = ("account__name", "signatory_name", "signatory_email")
    ordering = ("-created_at",)
    sortable_by = ()
    show_full_result_count = False
    show_facets = admin.ShowFacets.NEVER
    paginator = EstimatedCountPaginator
    actions = ["check_now_action"]
    fields = (
        "account",
        "state",
        "signatory_name",
        "signatory_email",
        "attestation_id",
        "acceptance_link",
        "expires",
        "accepted",
        "form_record",
        "attempts",
        "last_error",
        "created",
    )
    readonly_fields = fields

    @admin.action(description="Check now (ask Microsoft whether the signatory accepted)", permissions=["view"])
    def check_now_action(self, request: HttpRequest, queryset: QuerySet) -> None:
        accounts = {attestation.account_id: attestation.account for attestation in queryset.select_related("account")}
        for account in sorted(accounts.values(), key=lambda a: a.name):
            decision = gate.check_now(account)
            level = messages.WARNING if decision.needed else messages.SUCCESS
            messages.add_message(request, level, f"{account.name}: {decision.reason.rstrip('. ')}.")

    @admin.display(description="customer", ordering="account__name")
    def customer(self, attestation: Attestation) -> str:
        return attestation.account.name

    @admin.display(description="signatory")
    def signatory(self, attestation: Attestation) -> str:
        return format_html("{}<br><small>{}</small>", attestation.signatory_name, attestation.signatory_email)

    @admin.display(description="state", ordering="state")
    def state_now(self, attestation: Attestation) -> str:
        """The stored state, but a pending link past Microsoft's expiresAt is expired at once (before any poll)."""
        if link_is_expired(attestation.state, attestation.expires_at):
            return AttestationState.EXPIRED.label
        return attestation.get_state_display()

    @admin.display(description="link expires")
    def expires(self, attestation: Attestation) -> str:
        return when(attestation.expires_at)

    @admin.display(description="accepted")
    def accepted(self, attestation: Attestation) -> str:
        return when(attestation.accepted_at)

    @admin.display(description="created")
    def created(self, attestation: Attestation) -> str:
        return when(attestation.created_at)

    @admin.display(description="Microsoft's acceptance page")
    def acceptance_link(self, attestation: Attestation) -> str:
        if not attestation.acceptance_url:
            return "— (not created at Microsoft yet)"
        return format_html(
            '<a href="{}" rel="noopener noreferrer">{}</a>', attestation.acceptance_url, attestation.acceptance_url
        )

    @admin.display(description="last error")
    def last_error_short(self, attestation: Attestation) -> str:
        return attestation.last_error[:140] or "—"

    def change_view(self, request: HttpRequest, object_id: str, form_url: str = "", extra_context=None):
        if request.method == "POST":
            raise PermissionDenied("Attestations are changed only by the acceptance services.")
        return super().change_view(request, object_id, form_url, extra_context)


@admin.register(CustomerKnowledge)
class CustomerKnowledgeAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ("key", "kind", "accepted", "confirmed_by", "verified", "updated")
    list_filter = ("kind",)
    search_fields = ("key", "confirmed_by")
    ordering = ("-updated_at",)
    sortable_by = ()
    show_full_result_count = False
    show_facets = admin.ShowFacets.NEVER
    paginator = EstimatedCountPaginator
    fields = (
        "key",
        "kind",
        "accepted",
        "template_id",
        "template_version_rank",
        "confirmed_by",
        "record",
        "verified",
        "updated",
    )
    readonly_fields = fields

    @admin.display(description="accepted")
    def accepted(self, knowledge: CustomerKnowledge) -> str:
        return when(knowledge.accepted_at)

    @admin.display(description="last verified at Partner Center")
    def verified(self, knowledge: CustomerKnowledge) -> str:
        return when(knowledge.verified_at) if knowledge.verified_at else "never (known here only)"

    @admin.display(description="updated")
    def updated(self, knowledge: CustomerKnowledge) -> str:
        return when(knowledge.updated_at)

    def change_view(self, request: HttpRequest, object_id: str, form_url: str = "", extra_context=None):
        if request.method == "POST":
            raise PermissionDenied("Knowledge is changed only by the acceptance services.")
        return super().change_view(request, object_id, form_url, extra_context)


@admin.register(RecheckRun)
class RecheckRunAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    """Re-check runs and their progress (mca.recheck): counts move while the workers answer."""

    list_display = (
        "id",
        "source",
        "started",
        "progress",
        "planned",
        "asked",
        "accepted",
        "not_accepted",
        "unknown",
        "throttled",
        "finished",
    )
    list_filter = ("source",)
    fields = (*list_display[1:], "max_age_days", "last_progress_at")
    readonly_fields = fields

    @admin.display(description="started")
    def started(self, run: RecheckRun) -> str:
        return when(run.started_at)

    @admin.display(description="answered")
    def progress(self, run: RecheckRun) -> str:
        return f"{run.done} of {run.planned} ({run.progress_percent} %)"

    @admin.display(description="finished")
    def finished(self, run: RecheckRun) -> str:
        return when(run.finished_at) if run.finished_at else "running"
