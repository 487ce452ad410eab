"""The BSS pages (/bss/): for CSP staff and white-label staff only. Thin: they read, call `bss.services.*`, and
render what the gate decided; every lookup goes through `Account.objects.visible_to(user)` (another
organisation's order, account or subscription is a 404)."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from decimal import Decimal
from functools import wraps
from typing import Any

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.db.models import Count, Q, QuerySet
from django.http import HttpRequest, HttpResponse, JsonResponse, StreamingHttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.views.decorators.http import require_POST

from bss.choices import CampaignSendState, Channel, Operation, OrderStatus
from bss.forms import (
    AccountFilterForm,
    BounceForm,
    CampaignForm,
    DirectLinkForm,
    NewSubscriptionForm,
    OrderFilterForm,
    ReadinessFilterForm,
    SeatsForm,
)
from bss.models import Account, Campaign, Order, Reseller, Subscription
from bss.services import campaigns, execution, readiness, subscriptions
from bss.services.acceptance import OperationResult
from bss.services.orders import OrderInvalid, gated_operations
from mca import gate, selectors
from mca.choices import DeliveryState
from mca.messages import DIRECT_ACCEPTANCE_URL

EXECUTABLE = (OrderStatus.PLACED, OrderStatus.AWAITING_ACCEPTANCE)


def bss_view(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    """Signed-in BSS users only: anonymous users go to the sign-in page, everyone else gets 403."""

    @login_required
    @wraps(view)
    def wrapped(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        if not execution.is_bss_user(request.user):
            raise PermissionDenied("The BSS is for CSP and white-label staff.")
        return view(request, *args, **kwargs)

    return wrapped


def _accounts(request: HttpRequest) -> QuerySet[Account]:
    return Account.objects.visible_to(request.user)


def _orders(request: HttpRequest) -> QuerySet[Order]:
    return Order.objects.filter(account__in=_accounts(request)).select_related("account", "account__reseller")


def _order(request: HttpRequest, number: str) -> Order:
    return get_object_or_404(_orders(request), number=number)


def _account(request: HttpRequest, pk: int) -> Account:
    return get_object_or_404(_accounts(request).select_related("reseller"), pk=pk)


def _subscription(request: HttpRequest, pk: int) -> Subscription:
    return get_object_or_404(
        Subscription.objects.filter(account__in=_accounts(request)).select_related("account", "product"), pk=pk
    )


def _acceptance_form(actor: Any, account: Account, data: Any = None, error: Exception | None = None) -> forms.Form:
    """The gate's form for this actor; with `data`, bound and validated, and the gate's errors next to fields."""
    form = gate.form_for(actor, account, data)
    if data is not None:
        form.is_valid()
        error_dict = getattr(error, "error_dict", None) or {}
        for field, errors in error_dict.items():
            target = field if field in form.fields else None
            if target is None or target not in form.errors:
                for message in errors:
                    form.add_error(target, message)
        if error is not None and not error_dict:
            form.add_error(None, str(getattr(error, "message", error)))
    return form


# --- dashboard ------------------------------------------------------------------------------------------------


@bss_view
def index(request: HttpRequest) -> HttpResponse:
    orders = _orders(request)
    counts = dict(orders.order_by().values_list("status").annotate(n=Count("pk")))
    by_state = [(value, label, counts.get(value, 0)) for value, label in OrderStatus.choices]
    held = list(orders.filter(status=OrderStatus.AWAITING_ACCEPTANCE).order_by("status_changed_at")[:20])
    failing = list(orders.filter(status__in=[OrderStatus.FAILED, OrderStatus.HELD]).order_by("status_changed_at")[:20])
    to_execute = list(orders.filter(status=OrderStatus.PLACED).order_by("created_at")[:20])
    links = list(selectors.open_attestations_visible_to(request.user)[:20])
    shown = {order.account_id: order.account for order in (*held, *failing, *to_execute)}
    shown.update({attestation.account_id: attestation.account for attestation in links})
    context = {
        "by_state": by_state,
        "held": held,
        "failing": failing,
        "to_execute": to_execute,
        "failing_deliveries": selectors.records_visible_to(request.user)
        .filter(delivery__state__in=[DeliveryState.FAILING, DeliveryState.REFUSED])
        .select_related("account")[:20],
        "pending_attestations": links,
        "mca_states": gate.states_for(shown.values(), viewer=request.user),
        "account_count": _accounts(request).count(),
    }
    return render(request, "bss/index.html", context)


# --- orders ---------------------------------------------------------------------------------------------------


@bss_view
def order_list(request: HttpRequest) -> HttpResponse:
    form = OrderFilterForm(request.GET or None)
    orders = _orders(request)
    if form.is_valid():
        if q := form.cleaned_data["q"].strip():
            orders = orders.filter(Q(number__icontains=q) | Q(account__name__icontains=q))
        if status := form.cleaned_data["status"]:
            orders = orders.filter(status=status)
        if channel := form.cleaned_data["channel"]:
            orders = orders.filter(channel=channel)
    page = Paginator(orders.order_by("-created_at"), 50).get_page(request.GET.get("page"))
    query = request.GET.copy()
    query.pop("page", None)
    return render(request, "bss/order_list.html", {"form": form, "page": page, "query": query.urlencode()})


@bss_view
def order_detail(request: HttpRequest, number: str) -> HttpResponse:
    order = _order(request, number)
    lines = list(order.lines.select_related("product", "subscription"))
    context = {
        "order": order,
        "lines": lines,
        "total": sum((line.total for line in lines), Decimal("0")),
        "currency": next((line.product.currency for line in lines), ""),
        "changes": order.status_changes.select_related("changed_by"),
        "events": order.provisioning_events.all(),
        "executable": order.status in EXECUTABLE,
        "may_execute": request.user.has_perm(execution.EXECUTE_PERMISSION),
    }
    context.update(_order_poll(order, gate.state_for(order.account, viewer=request.user)))
    return render(request, "bss/order_detail.html", context)


# Orders in these states may still change by themselves (released, provisioned): the page's light poll watches them.
_ORDER_MOVING = (OrderStatus.PLACED, OrderStatus.AWAITING_ACCEPTANCE, OrderStatus.EXECUTED, OrderStatus.PROVISIONING)


def _order_poll(order: Order, state: gate.CustomerMcaState) -> dict[str, Any]:
    """The order page's state and its light poll (templates/mca/_poll.html, as on the storefront's order page)."""
    return {
        "mca_state": state,
        "poll_url": reverse("bss:order-status", args=[order.number]),
        "poll_signature": gate.poll_signature(state, order.status),
        "live": order.status in _ORDER_MOVING or state.code == gate.McaState.PENDING,
    }


@bss_view
def order_status(request: HttpRequest, number: str) -> JsonResponse:
    """The order's status and its customer's MCA state as JSON, for the order page's light poll: the acceptance
    arriving, and the held order released, show without "Check now"."""
    order = _order(request, number)
    state = gate.live_state(order.account, viewer=request.user)
    order.refresh_from_db()
    return JsonResponse(
        {
            "status": order.status,
            "status_label": order.get_status_display(),
            "mca_state": state.code,
            "signature": gate.poll_signature(state, order.status),
        }
    )


def _execute_page(request: HttpRequest, order: Order, *, decision: gate.Decision, form: forms.Form | None) -> Any:
    may_confirm = gate.may_confirm(request.user, order.account)
    context = {
        "order": order,
        "lines": order.lines.select_related("product"),
        "decision": decision,
        "form": form if form is not None else (gate.form_for(request.user, order.account) if may_confirm else None),
        "may_confirm": may_confirm,
        "confirmers": [] if may_confirm else execution.who_can_confirm(order.account),
        "idempotency_key": uuid.uuid4(),
    }
    return render(request, "bss/order_execute.html", context)


def _after_execution(request: HttpRequest, result: OperationResult) -> HttpResponse:
    order = result.order
    if result.executed:
        messages.success(request, f"Order {order.number} is executed; provisioning: {order.get_status_display()}.")
    elif result.held:
        reason = result.decision.reason if result.decision else ""
        text = f"Order {order.number} waits for the customer's MCA acceptance. {reason}"
        if result.emailed_to:
            to = gate.mask_email(result.emailed_to)
            text += f" Sent: Microsoft's acceptance link was e-mailed to the signatory only ({to})."
        elif result.outcome is not None and not result.outcome.link:
            text += " The acceptance link is being prepared; send it from the customer's page once it is there."
        messages.info(request, text)
    return redirect("bss:order-detail", number=order.number)


@bss_view
def order_execute(request: HttpRequest, number: str) -> HttpResponse:
    order = _order(request, number)
    if not request.user.has_perm(execution.EXECUTE_PERMISSION):
        raise PermissionDenied("You may not execute orders.")
    if order.status not in EXECUTABLE:
        messages.info(request, f"Order {order.number} is {order.get_status_display().lower()}: nothing to execute.")
        return redirect("bss:order-detail", number=order.number)
    if request.method == "POST":
        confirming = bool(request.POST.get("confirm"))
        context = gate.ConfirmationContext.from_request(request, Channel.BSS_EXECUTION)
        try:
            result = execution.execute_order(
                actor=request.user, order=order, acceptance=request.POST if confirming else None, context=context
            )
        except gate.AcceptanceRequired as required:
            return _execute_page(request, order, decision=required.decision, form=None)
        except (gate.AcceptanceInvalid, gate.IdempotencyConflict) as error:
            decision = gate.check(order.account, gated_operations(execution.order_lines(order)))
            form = _acceptance_form(request.user, order.account, request.POST, error)
            response = _execute_page(request, order, decision=decision, form=form)
            response.status_code = 400
            return response
        except execution.OrderNotExecutable as error:
            messages.error(request, str(error))
            return redirect("bss:order-detail", number=order.number)
        return _after_execution(request, result)
    decision = gate.check(order.account, gated_operations(execution.order_lines(order)))
    return _execute_page(request, order, decision=decision, form=None)


@bss_view
@require_POST
def order_retry(request: HttpRequest, number: str) -> HttpResponse:
    order = _order(request, number)
    try:
        order = execution.retry_provisioning(actor=request.user, order=order)
        messages.success(request, f"Provisioning of {order.number} was started again: {order.get_status_display()}.")
    except execution.OrderNotExecutable as error:
        messages.error(request, str(error))
    return redirect("bss:order-detail", number=order.number)


@bss_view
@require_POST
def order_hold(request: HttpRequest, number: str) -> HttpResponse:
    order = _order(request, number)
    try:
        execution.hold_order(actor=request.user, order=order, note=request.POST.get("note", "")[:500])
        messages.success(request, f"Order {order.number} is held: it will not be retried automatically.")
    except execution.OrderNotExecutable as error:
        messages.error(request, str(error))
    return redirect("bss:order-detail", number=order.number)


# --- accounts -------------------------------------------------------------------------------------------------


@bss_view
def account_list(request: HttpRequest) -> HttpResponse:
    form = AccountFilterForm(request.GET or None)
    accounts = _accounts(request).select_related("reseller")
    if form.is_valid() and (q := form.cleaned_data["q"].strip()):
        accounts = accounts.filter(name__icontains=q)
    accounts = accounts.annotate(
        held_orders=Count("orders", filter=Q(orders__status=OrderStatus.AWAITING_ACCEPTANCE)),
        open_orders=Count("orders", filter=Q(orders__status__in=[OrderStatus.PLACED, OrderStatus.FAILED])),
    )
    # No gate decision per row (it could ask Partner Center once per customer): the local state, in two queries.
    page = Paginator(accounts.order_by("name", "pk"), 50).get_page(request.GET.get("page"))
    mca_states = gate.states_for(page.object_list, viewer=request.user)
    return render(request, "bss/account_list.html", {"form": form, "page": page, "mca_states": mca_states})


@bss_view
def account_detail(request: HttpRequest, pk: int) -> HttpResponse:
    return _account_page(request, _account(request, pk))


def _account_page(
    request: HttpRequest, account: Account, signatory_form: Any = None, status: int = 200
) -> HttpResponse:
    decision = gate.check(account, [Operation.NEW_PURCHASE])
    may_confirm = gate.may_confirm(request.user, account)
    if signatory_form is None and decision.needed and decision.pending is not None and may_confirm:
        signatory_form = gate.form_for(request.user, account)  # "name another signatory" while a link is out
    context = {
        "account": account,
        "decision": decision,
        "records": selectors.records_for_account(account),
        "subscriptions": account.subscriptions.select_related("product"),
        "orders": account.orders.order_by("-created_at")[:20],
        "direct_url": DIRECT_ACCEPTANCE_URL,
        "direct_form": DirectLinkForm(initial={"email": _primary_email(account)}),
        "may_confirm": gate.may_confirm(request.user, account),
        "signatory_form": signatory_form,
        "idempotency_key": uuid.uuid4(),
    }
    state = gate.state_from_decision(decision, viewer=request.user)
    context.update(
        mca_state=state,
        poll_url=reverse("bss:account-status", args=[account.pk]),
        poll_signature=gate.poll_signature(state),
        live=state.code == gate.McaState.PENDING,
    )
    return render(request, "bss/account_detail.html", context, status=status)


@bss_view
def account_status(request: HttpRequest, pk: int) -> JsonResponse:
    """The customer's MCA state as JSON, for the account page's light poll while a link is out."""
    state = gate.live_state(_account(request, pk), viewer=request.user)
    return JsonResponse({"mca_state": state.code, "signature": gate.poll_signature(state)})


def _primary_email(account: Account) -> str:
    contact = account.contacts.order_by("-is_primary", "pk").first()
    return contact.email if contact else ""


@bss_view
@require_POST
def account_check_now(request: HttpRequest, pk: int) -> HttpResponse:
    account = _account(request, pk)
    decision = execution.check_now(actor=request.user, account=account)
    order = _orders(request).filter(account=account, number=request.POST.get("order", "")[:20]).first()
    if order is not None and order.status != OrderStatus.AWAITING_ACCEPTANCE:
        # Pressed on an order page: answer about that order, which no longer waits (never "must be accepted"
        # beside "Provisioned").
        messages.success(
            request, f"Order {order.number} is {order.get_status_display().lower()}: nothing waits for the acceptance."
        )
    elif decision.needed:
        messages.info(request, f"Partner Center was asked again: {decision.reason}.")
    else:
        messages.success(request, f"{decision.reason}. Orders held for {account.name} were released.")
    target = request.POST.get("next", "")
    if target.startswith("/bss/") and "//" not in target:
        return redirect(target)
    return redirect("bss:account-detail", pk=account.pk)


@bss_view
@require_POST
def account_direct_link(request: HttpRequest, pk: int) -> HttpResponse:
    account = _account(request, pk)
    form = DirectLinkForm(request.POST)
    if not form.is_valid():
        messages.error(request, "Enter a valid e-mail address to send the link to.")
    elif not account.is_synced:
        messages.error(request, "The customer has no Microsoft tenant yet: it cannot accept in the admin center.")
    else:
        to = execution.email_direct_acceptance_link(actor=request.user, account=account, to=form.cleaned_data["email"])
        messages.success(request, f"The Microsoft 365 admin center link was e-mailed to {to}.")
    return redirect("bss:account-detail", pk=account.pk)


@bss_view
@require_POST
def account_send_link(request: HttpRequest, pk: int) -> HttpResponse:
    account = _account(request, pk)
    to = execution.resend_signatory_link(
        actor=request.user,
        account=account,
        context=gate.ConfirmationContext.from_request(request, Channel.BSS_EXECUTION),
    )
    if to:
        messages.success(request, f"Sent: Microsoft's acceptance link was e-mailed to the signatory only ({to}).")
    else:
        messages.error(request, "There is no open acceptance link to send (it may still be being prepared).")
    return redirect("bss:account-detail", pk=account.pk)


@bss_view
@require_POST
def account_cancel_link(request: HttpRequest, pk: int) -> HttpResponse:
    account = _account(request, pk)
    try:
        execution.cancel_signatory_link(
            actor=request.user,
            account=account,
            context=gate.ConfirmationContext.from_request(request, Channel.BSS_EXECUTION),
        )
        messages.success(request, "The acceptance link is cancelled; Microsoft's page no longer accepts it.")
    except gate.AcceptanceInvalid as invalid:
        messages.error(request, " ".join(invalid.messages))
    return redirect("bss:account-detail", pk=account.pk)


@bss_view
@require_POST
def account_signatory(request: HttpRequest, pk: int) -> HttpResponse:
    account = _account(request, pk)
    try:
        to = execution.change_signatory(
            actor=request.user,
            account=account,
            data=request.POST,
            context=gate.ConfirmationContext.from_request(request, Channel.BSS_EXECUTION),
        )
    except (gate.AcceptanceInvalid, gate.IdempotencyConflict) as error:
        return _account_page(request, account, _acceptance_form(request.user, account, request.POST, error), 400)
    if to:
        messages.success(request, f"Sent: the new signatory's link was e-mailed to them only ({to}).")
    else:
        messages.info(request, "The new signatory is named; Microsoft's link is being prepared.")
    return redirect("bss:account-detail", pk=account.pk)


# --- subscriptions --------------------------------------------------------------------------------------------


@bss_view
def subscription_list(request: HttpRequest) -> HttpResponse:
    subs = Subscription.objects.filter(account__in=_accounts(request)).select_related("account", "product")
    page = Paginator(subs.order_by("account__name", "pk"), 50).get_page(request.GET.get("page"))
    return render(request, "bss/subscription_list.html", {"page": page})


def _subscription_page(request: HttpRequest, template: str, context: dict[str, Any], status: int = 200) -> Any:
    context.setdefault("idempotency_key", uuid.uuid4())
    return render(request, template, context, status=status)


def _run_subscription_change(
    request: HttpRequest, account: Account, template: str, context: dict[str, Any], call: Callable[..., Any]
) -> HttpResponse:
    """Call a subscription service; on AcceptanceRequired show the gate's form on the same page."""
    confirming = bool(request.POST.get("confirm"))
    acceptance_context = gate.ConfirmationContext.from_request(request, Channel.BSS_SUBSCRIPTION)
    key = request.POST.get("order_key") or None
    try:
        result = call(acceptance=request.POST if confirming else None, context=acceptance_context, idempotency_key=key)
    except gate.AcceptanceRequired as required:
        context.update(_mca_context(request, account, required.decision, None))
        return _subscription_page(request, template, context)
    except (gate.AcceptanceInvalid, gate.IdempotencyConflict) as error:
        decision = gate.check(account, [Operation.NEW_PURCHASE])
        context.update(
            _mca_context(request, account, decision, _acceptance_form(request.user, account, request.POST, error))
        )
        return _subscription_page(request, template, context, status=400)
    except OrderInvalid as error:
        for message in error.messages:
            messages.error(request, message)
        return _subscription_page(request, template, context, status=400)
    return _after_execution(request, result)


def _mca_context(request: HttpRequest, account: Account, decision: gate.Decision, form: Any) -> dict[str, Any]:
    may_confirm = gate.may_confirm(request.user, account)
    return {
        "decision": decision,
        "mca_form": form if form is not None else (gate.form_for(request.user, account) if may_confirm else None),
        "may_confirm": may_confirm,
        "confirmers": [] if may_confirm else execution.who_can_confirm(account),
        "order_key": request.POST.get("order_key") or uuid.uuid4(),
    }


@bss_view
def subscription_new(request: HttpRequest, pk: int) -> HttpResponse:
    account = _account(request, pk)
    if not request.user.has_perm(execution.EXECUTE_PERMISSION):
        raise PermissionDenied("You may not manage subscriptions.")
    form = NewSubscriptionForm(request.POST or None)
    context: dict[str, Any] = {"account": account, "form": form}
    if request.method != "POST":
        return _subscription_page(request, "bss/subscription_form.html", context)
    if not form.is_valid():
        return _subscription_page(request, "bss/subscription_form.html", context, status=400)
    return _run_subscription_change(
        request,
        account,
        "bss/subscription_form.html",
        context,
        lambda **kw: subscriptions.create_subscription(
            actor=request.user,
            account=account,
            product=form.cleaned_data["product"],
            seats=form.cleaned_data["seats"],
            **kw,
        ),
    )


@bss_view
def subscription_detail(request: HttpRequest, pk: int) -> HttpResponse:
    subscription = _subscription(request, pk)
    form = SeatsForm(request.POST or None, initial={"seats": subscription.seats})
    context: dict[str, Any] = {
        "subscription": subscription,
        "account": subscription.account,
        "form": form,
        "orders": subscription.order_lines.select_related("order").order_by("-order__created_at")[:20],
    }
    if request.method != "POST":
        return _subscription_page(request, "bss/subscription_detail.html", context)
    if not request.user.has_perm(execution.EXECUTE_PERMISSION):
        raise PermissionDenied("You may not manage subscriptions.")
    if not form.is_valid():
        return _subscription_page(request, "bss/subscription_detail.html", context, status=400)
    return _run_subscription_change(
        request,
        subscription.account,
        "bss/subscription_detail.html",
        context,
        lambda **kw: subscriptions.change_seats(
            actor=request.user, subscription=subscription, seats=form.cleaned_data["seats"], **kw
        ),
    )


@bss_view
@require_POST
def subscription_renew(request: HttpRequest, pk: int) -> HttpResponse:
    subscription = _subscription(request, pk)
    result = subscriptions.renew_subscription(
        actor=request.user, subscription=subscription, idempotency_key=request.POST.get("order_key") or None
    )
    return _after_execution(request, result)


@bss_view
@require_POST
def subscription_cancel(request: HttpRequest, pk: int) -> HttpResponse:
    subscription = _subscription(request, pk)
    result = subscriptions.cancel_subscription(
        actor=request.user, subscription=subscription, idempotency_key=request.POST.get("order_key") or None
    )
    return _after_execution(request, result)


# --- acceptance records ---------------------------------------------------------------------------------------


@bss_view
def acceptance_list(request: HttpRequest) -> HttpResponse:
    records = selectors.records_visible_to(request.user).select_related("account")
    if q := request.GET.get("q", "").strip()[:100]:
        records = records.filter(
            Q(account__name__icontains=q) | Q(email__icontains=q) | Q(last_name__icontains=q) | Q(order_number=q)
        )
    page = Paginator(records, 50).get_page(request.GET.get("page"))
    return render(request, "bss/acceptance_list.html", {"page": page, "q": q})


# --- MCA readiness --------------------------------------------------------------------------------------------


def _readiness_filters(request: HttpRequest, counts: readiness.Counts) -> tuple[ReadinessFilterForm, Any]:
    """The filter form (owner choices: the user's scope only) and the filters, or None when the input is invalid."""
    form = ReadinessFilterForm(request.GET or None, owners=counts.by_owner)
    if not request.GET:
        return form, readiness.ReadinessFilters()
    if not form.is_valid():
        return form, None
    data = form.cleaned_data
    filters = readiness.ReadinessFilters(
        state=data["state"], reseller=data["reseller"], at_risk=data["at_risk"], q=data["q"].strip()
    )
    return form, filters


@bss_view
def readiness_page(request: HttpRequest) -> HttpResponse:
    counts = readiness.counts_for(request.user)
    form, filters = _readiness_filters(request, counts)
    query = request.GET.copy()
    query.pop("page", None)
    context: dict[str, Any] = {"form": form, "counts": counts, "query": query.urlencode(), "rows": [], "page": None}
    if filters is None:
        return render(request, "bss/readiness.html", context, status=400)
    page = readiness.page_for(request.user, filters, counts, request.GET.get("page"))
    context["page"] = page
    context["rows"] = readiness.rows_for(list(page.object_list), viewer=request.user)
    return render(request, "bss/readiness.html", context)


@bss_view
def readiness_csv(request: HttpRequest) -> HttpResponse:
    counts = readiness.counts_for(request.user)
    form, filters = _readiness_filters(request, counts)
    if filters is None:
        errors = "; ".join(f"{name}: {' '.join(messages_)}" for name, messages_ in form.errors.items())
        return HttpResponse(f"Invalid filter: {errors}\n", status=400, content_type="text/plain; charset=utf-8")
    response = StreamingHttpResponse(readiness.csv_lines(request.user, filters), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = 'attachment; filename="mca-readiness.csv"'
    return response


# --- acceptance campaigns -------------------------------------------------------------------------------------


def _campaign(request: HttpRequest, pk: int) -> Campaign:
    return get_object_or_404(campaigns.campaigns_visible_to(request.user).select_related("reseller"), pk=pk)


def _campaign_form(request: HttpRequest, data: Any = None) -> CampaignForm:
    visible = Account.objects.visible_to(request.user).exclude(reseller__isnull=True).values("reseller_id")
    return CampaignForm(data, resellers=Reseller.objects.filter(pk__in=visible))


@bss_view
def campaign_list(request: HttpRequest) -> HttpResponse:
    shown = list(campaigns.campaigns_visible_to(request.user).select_related("reseller", "created_by")[:100])
    counts = campaigns.progress_for(shown)
    rows = [(campaign, counts[campaign.pk]) for campaign in shown]
    return render(request, "bss/campaign_list.html", {"rows": rows})


def _start_errors(form: forms.Form, error: campaigns.CampaignInvalid) -> None:
    for field_name, messages_ in error.errors.items():
        target = field_name if field_name in form.fields else None
        for message in messages_:
            form.add_error(target, message)


@bss_view
def campaign_new(request: HttpRequest) -> HttpResponse:
    form = _campaign_form(request, request.POST if request.method == "POST" else None)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            added = campaigns.start_campaign(
                actor=request.user,
                name=data["name"],
                authority_confirmed=data["authority_confirmed"],
                states=data["states"],
                reseller=data["reseller"],
                direct_only=data["direct_only"],
                account_ids=data["accounts"],
                reminder_days=data["reminder_days"],
            )
        except campaigns.CampaignInvalid as error:
            _start_errors(form, error)
        else:
            _added_message(request, added)
            return redirect("bss:campaign-detail", pk=added.campaign.pk)
    status = 400 if request.method == "POST" else 200
    return render(request, "bss/campaign_form.html", {"form": form}, status=status)


def _added_message(request: HttpRequest, added: campaigns.Added) -> None:
    text = f"{len(added.queued)} link(s) queued; {len(added.needs_signatory)} account(s) need a signatory"
    if added.elsewhere:
        text += f"; {len(added.elsewhere)} already in another open campaign"
    if added.not_eligible:
        text += f"; {len(added.not_eligible)} hand-picked account(s) not required, stale or expired"
    messages.success(request, text + ".")


@bss_view
def campaign_detail(request: HttpRequest, pk: int) -> HttpResponse:
    campaign = _campaign(request, pk)
    state = request.GET.get("state", "")
    sends = campaign.sends.select_related("account").order_by("pk")
    if state in CampaignSendState.values:
        sends = sends.filter(state=state)
    page = Paginator(sends, 50).get_page(request.GET.get("page"))
    context = {
        "campaign": campaign,
        "progress": campaigns.progress(campaign),
        "page": page,
        "state": state,
        "states": CampaignSendState.choices,
        "extend_form": _campaign_form(request),
        "bounce_form": BounceForm(),
    }
    return render(request, "bss/campaign_detail.html", context)


@bss_view
@require_POST
def campaign_extend(request: HttpRequest, pk: int) -> HttpResponse:
    campaign = _campaign(request, pk)
    ids = [part.strip() for part in request.POST.get("accounts", "").replace("\n", ",").split(",") if part.strip()]
    if not ids or not all(part.isdigit() for part in ids):
        messages.error(request, "Give the account numbers to add, separated by commas.")
        return redirect("bss:campaign-detail", pk=campaign.pk)
    try:
        added = campaigns.extend_campaign(actor=request.user, campaign=campaign, account_ids=[int(i) for i in ids])
    except campaigns.CampaignInvalid as error:
        messages.error(request, str(error))
    else:
        _added_message(request, added)
    return redirect("bss:campaign-detail", pk=campaign.pk)


@bss_view
@require_POST
def campaign_check(request: HttpRequest, pk: int) -> HttpResponse:
    campaign = _campaign(request, pk)
    settled = campaigns.check_links_now(campaign)
    messages.success(request, f"Asked Microsoft about the links out: {settled} send(s) settled.")
    return redirect("bss:campaign-detail", pk=campaign.pk)


@bss_view
@require_POST
def campaign_bounce(request: HttpRequest, pk: int) -> HttpResponse:
    campaign = _campaign(request, pk)
    form = BounceForm(request.POST)
    if form.is_valid():
        count = campaigns.mark_bounced(
            email=form.cleaned_data["email"], reason=form.cleaned_data["reason"], campaign=campaign
        )
        messages.success(request, f"{count} send(s) marked bounced.")
    else:
        messages.error(request, "Enter the e-mail address that bounced.")
    return redirect("bss:campaign-detail", pk=campaign.pk)
