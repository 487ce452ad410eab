"""Admin list filters for the acceptance log: static choices only — never a DISTINCT over a million rows."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta

from django.contrib import admin
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
        self.start = _parse_day(self.used_parameters.get(self.parameter_from))
        self.end = _parse_day(self.used_parameters.get(self.parameter_to))

    def has_output(self) -> bool:
        return True

    def expected_parameters(self) -> list[str]:
        return [self.parameter_from, self.parameter_to]

    def queryset(self, request: HttpRequest, queryset: QuerySet) -> QuerySet:
        if self.start is not None:
            queryset = queryset.filter(**{f"{self.field_name}__gte": _start_of(self.start)})
        if self.end is not None:
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
        }
