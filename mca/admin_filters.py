"""Admin list filters for the acceptance log: static choices only — never a DISTINCT over a million rows."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils import timezone

from bss.choices import Role
from bss.models import Membership, Reseller

CSP_DIRECT = "csp"


class ResellerFilter(admin.SimpleListFilter):
    """By the record's reseller; choices from the (small) reseller table, limited to what the user may see."""

    title = "reseller"
    parameter_name = "reseller"

    def lookups(self, request: HttpRequest, model_admin) -> list[tuple[str, str]]:
        membership = Membership.of(request.user)
        if (
            not request.user.is_superuser
            and membership is not None
            and membership.role in (Role.RESELLER, Role.WHITE_LABEL_BSS)
        ):
            resellers = Reseller.objects.filter(pk=membership.reseller_id)
            return [(str(pk), name) for pk, name in resellers.values_list("pk", "name")]
        choices = [(CSP_DIRECT, "CSP direct")]
        choices += [(str(pk), name) for pk, name in Reseller.objects.order_by("name").values_list("pk", "name")]
        return choices

    def queryset(self, request: HttpRequest, queryset: QuerySet) -> QuerySet:
        value = self.value()
        if not value:
            return queryset
        if value == CSP_DIRECT:
            return queryset.filter(reseller__isnull=True)
        if not value.isdigit():
            return queryset.none()
        return queryset.filter(reseller_id=int(value))


def _parse_day(value: str | None) -> date | None:
    if not value:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        return None


def _start_of(day: date) -> datetime:
    return timezone.make_aware(datetime.combine(day, time.min), timezone.get_current_timezone())


class DateRangeFilter(admin.ListFilter):
    """created_at from / to (inclusive days, in the current time zone), as two date inputs.

    Unlike `date_hierarchy`, it never asks the database which years and months exist (a scan at 1M rows).
    """

    title = "date (created)"
    template = "admin/mca/date_range_filter.html"
    field_name = "created_at"
    parameter_from = "created_from"
    parameter_to = "created_to"

    def __init__(self, request, params, model, model_admin) -> None:
        super().__init__(request, params, model, model_admin)
        for name in (self.parameter_from, self.parameter_to):
            if name in params:
                value = params.pop(name)
                self.used_parameters[name] = value[-1] if isinstance(value, list) else value
        self.errors: dict[str, str] = {}
        self.start = self._day(self.parameter_from, "From")
        self.end = self._day(self.parameter_to, "To")
        if self.start is not None and self.end is not None and self.start > self.end:
            # A reversed range would list nothing: say so and show the range the person meant.
            self.note = (
                f"The date range was reversed (from {self.start:%Y-%m-%d} is after to {self.end:%Y-%m-%d}): "
                f"showing {self.end:%Y-%m-%d} to {self.start:%Y-%m-%d}."
            )
            self.start, self.end = self.end, self.start
        else:
            self.note = ""
        self._tell(request)

    def _day(self, parameter: str, label: str) -> date | None:
        raw = self.used_parameters.get(parameter)
        if not raw:
            return None
        day = _parse_day(raw.strip())
        if day is None:
            self.errors[parameter] = f"“{raw}” is not a date (YYYY-MM-DD); “{label}” is ignored."
        return day

    def _tell(self, request: HttpRequest) -> None:
        """Errors go beside the date fields and, once per request, into the page's messages."""
        texts = [*self.errors.values(), *([self.note] if self.note else [])]
        if not texts or getattr(request, "_mca_date_range_told", False):
            return
        request._mca_date_range_told = True
        for text in texts:
            messages.warning(request, text)

    def has_output(self) -> bool:
        return True

    def expected_parameters(self) -> list[str]:
        return [self.parameter_from, self.parameter_to]

    def queryset(self, request: HttpRequest, queryset: QuerySet) -> QuerySet:
        if self.start is not None:
            queryset = queryset.filter(**{f"{self.field_name}__gte": _start_of(self.start)})
        if self.end is not None and self.end < date.max:
            queryset = queryset.filter(**{f"{self.field_name}__lt": _start_of(self.end + timedelta(days=1))})
        return queryset

    def choices(self, changelist):
        # The template renders a small GET form; this carries what it needs, in the shape filters yield.
        keep = {
            key: value
            for key, value in changelist.get_filters_params().items()
            if key not in self.expected_parameters()
        }
        query = changelist.query if hasattr(changelist, "query") else ""
        hidden = []
        for key, value in keep.items():
            for item in value if isinstance(value, list) else [value]:
                hidden.append((key, item))
        if query:
            hidden.append(("q", query))
        yield {
            "start": self.used_parameters.get(self.parameter_from, ""),
            "end": self.used_parameters.get(self.parameter_to, ""),
            "parameter_from": self.parameter_from,
            "parameter_to": self.parameter_to,
            "hidden": hidden,
            "clear_url": changelist.get_query_string(remove=self.expected_parameters()),
            "selected": bool(self.used_parameters),
            "error_from": self.errors.get(self.parameter_from, ""),
            "error_to": self.errors.get(self.parameter_to, ""),
            "note": self.note,
        }
