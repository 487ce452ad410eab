"""Storefront views: thin, one class per checkout step (oscar-style), each declaring its pre-conditions.

Catalog → cart → account → Service Details (the MCA step) → review → place order → confirmation; plus My
subscriptions (seat changes go through the same steps) and My agreements. Cart and checkout state live behind
`CheckoutSession`; cart/checkout logic in `storefront.cart` / `storefront.checkout`; the MCA in `mca.gate`.
"""

from __future__ import annotations

import uuid
from typing import Any
from urllib.parse import urlsplit

from django.contrib import messages
from django.contrib.auth.views import LoginView, LogoutView, redirect_to_login
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse, HttpResponseBase, JsonResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import resolve
from django.utils.translation import gettext as _
from django.views import View

from bss.choices import Role
from bss.models import Account, Membership, Order, Subscription
from bss.services import acceptance
from bss.services.orders import OrderInvalid
from mca import gate, selectors
from storefront import checkout
from storefront.cart import Cart
from storefront.forms import AddToCartForm, CartLineForm, ChooseAccountForm, NewCustomerForm, SeatChangeForm
from storefront.session import CheckoutSession
from storefront.stores import Store, home_store_for, resolve_store


def _new_key() -> str:
    return str(uuid.uuid4())


class StoreView(View):
    """Resolves the store; sign-in (per store) and pre-conditions for the views that need them."""

    login_required = False
    pre_conditions: tuple[str, ...] = ()
    not_orderable_here = False  # signed in, but none of the user's customers is ordered for in this store
    store: Store
    cart: Cart
    checkout_session: CheckoutSession

    def dispatch(self, request: HttpRequest, *args: Any, reseller_slug: str | None = None, **kwargs: Any):
        self.store = resolve_store(request, reseller_slug)
        self.checkout_session = CheckoutSession(request, self.store.key)
        self.cart = Cart(self.checkout_session, self.store)
        user = request.user
        if self.login_required and not user.is_authenticated:
            return redirect_to_login(request.get_full_path(), self.store.url("sign-in"))
        if user.is_authenticated:
            home = home_store_for(user)
            membership = Membership.of(user)
            if membership is not None and membership.role == Role.CUSTOMER and home.key != self.store.key:
                if self.store.by_host and home.reseller is None:
                    # On a reseller's own host every /store/ URL is that reseller's store: the CSP's store cannot
                    # be reached here, and redirecting to /store/ would loop (issue 17). Say where to go instead.
                    return self.render("storefront/other_store.html", {"home": home}, status=403)
                # A customer user shops in its own account's store.
                match = resolve(request.path_info)
                target = {k: v for k, v in match.kwargs.items() if k != "reseller_slug"}
                return redirect(home.url(match.url_name, **target))
            if membership is not None and membership.role != Role.CUSTOMER:
                self.not_orderable_here = not self.store.accounts_for(user).exists()
            if self.not_orderable_here:
                if self.login_required:
                    raise PermissionDenied("There is no customer you can order for in this store.")
                if request.method == "POST":
                    # Told at the catalog and cart, before a cart is filled that no checkout here could place.
                    messages.error(request, self.not_orderable_message(home))
                    return redirect(self.store.url("catalog"))
        early = self.before_pre_conditions(request)
        if early is not None:
            return early
        try:
            for name in self.pre_conditions:
                getattr(self, name)()
        except checkout.FailedPreCondition as failed:
            messages.warning(request, failed.message)
            return redirect(failed.url)
        return super().dispatch(request, *args, **kwargs)

    def before_pre_conditions(self, request: HttpRequest) -> HttpResponseBase | None:
        return None

    def not_orderable_message(self, home: Store | None) -> str:
        text = _("None of your customers can be ordered for in %(store)s, so nothing can be added here.") % {
            "store": self.store.name
        }
        if home is not None and home.key != self.store.key:
            text += " " + _("Order in %(store)s instead.") % {"store": home.name}
        return text

    # --- pre-conditions (each raises FailedPreCondition naming the step that fixes it) --------------------
    def cart_not_empty(self) -> None:
        self.lines = self.cart.lines()
        if not self.lines:
            raise checkout.FailedPreCondition(self.store.url("cart"), _("Your cart is empty: add a product first."))

    def account_chosen(self) -> None:
        self.account = self.chosen_account()
        if self.account is None:
            raise checkout.FailedPreCondition(
                self.store.url("checkout-account"), _("Choose the customer this order is for.")
            )

    def mca_settled(self) -> None:
        self.decision = checkout.decision_for(self.account, [line.as_request() for line in self.lines])
        if not checkout.may_place(self.decision):
            raise checkout.FailedPreCondition(
                self.store.url("checkout-service-details"),
                _("The Microsoft Customer Agreement must be accepted before this order can be placed."),
            )

    # --- helpers -----------------------------------------------------------------------------------------
    def chosen_account(self) -> Account | None:
        account_id = self.checkout_session.account_id()
        if account_id is None:
            return None
        # Every checkout step loads the account: its known MCA acceptance comes in the same query, so the gate's
        # checks on this request (the step guard, place_order) answer a known customer without a query.
        account = gate.with_known_acceptance(self.store.accounts_for(self.request.user)).filter(pk=account_id).first()
        change_account = self.cart.change_account_id()
        if account is None or (change_account is not None and change_account != account.pk):
            self.checkout_session.set_account_id(None)
            return None
        return account

    def render(self, template: str, context: dict[str, Any] | None = None, status: int = 200) -> HttpResponse:
        base = {"store": self.store, "cart_count": len(self.checkout_session.lines())}
        if self.not_orderable_here:
            home = home_store_for(self.request.user)
            base["not_orderable_here"] = self.not_orderable_message(home)
            base["home_store"] = home if home is not None and home.key != self.store.key else None
        return render(self.request, template, {**base, **(context or {})}, status=status)


# --- Catalog and cart ---------------------------------------------------------------------------------------


class CatalogView(StoreView):
    def get(self, request: HttpRequest) -> HttpResponse:
        return self.render("storefront/catalog.html", {"products": self.store.products()})

    def post(self, request: HttpRequest) -> HttpResponse:
        form = AddToCartForm(request.POST, products=self.store.products())
        if not form.is_valid():
            messages.error(request, " ".join(str(e) for errors in form.errors.values() for e in errors))
            return self.render(
                "storefront/catalog.html", {"products": self.store.products(), "failed": form}, status=400
            )
        product, quantity = form.cleaned_data["product"], form.cleaned_data["quantity"]
        self.cart.add(product, quantity)
        messages.success(
            request,
            _("Added %(quantity)s × %(product)s to your cart.") % {"quantity": quantity, "product": product.name},
        )
        return redirect(self.store.url("cart"))


class CartView(StoreView):
    def get(self, request: HttpRequest) -> HttpResponse:
        lines = self.cart.lines()
        return self.render("storefront/cart.html", {"lines": lines, "total": self.cart.total()})

    def post(self, request: HttpRequest) -> HttpResponse:
        form = CartLineForm(request.POST)
        if not form.is_valid():
            messages.error(request, _("Enter a seat count from 1 to 10000."))
            return redirect(self.store.url("cart"))
        product_id, quantity = form.cleaned_data["product"], form.cleaned_data["quantity"]
        if request.POST.get("action") == "remove" or not quantity:
            self.cart.remove(product_id)
            messages.success(request, _("Removed from your cart."))
        else:
            self.cart.set_quantity(product_id, quantity)
            messages.success(request, _("Cart updated."))
        return redirect(self.store.url("cart"))


# --- Checkout steps -----------------------------------------------------------------------------------------


class AccountStepView(StoreView):
    """Step 1: the customer the order is for (a customer user: its own; a reseller: one of its customers or a
    new one)."""

    login_required = True
    pre_conditions = ("cart_not_empty",)

    def get(self, request: HttpRequest) -> HttpResponse:
        accounts = self.store.accounts_for(request.user)
        fixed = self.cart.change_account_id()
        if fixed is not None:
            account = get_object_or_404(accounts, pk=fixed)
            self.checkout_session.set_account_id(account.pk)
            return redirect(self.store.url("checkout-service-details"))
        if not checkout.may_create_customers(request.user, self.store) and accounts.count() == 1:
            self.checkout_session.set_account_id(accounts.get().pk)
            return redirect(self.store.url("checkout-service-details"))
        return self._page(ChooseAccountForm(accounts=accounts, initial={"account": self.checkout_session.account_id()}))

    def _page(self, choose: ChooseAccountForm, create: NewCustomerForm | None = None, status: int = 200):
        may_create = checkout.may_create_customers(self.request.user, self.store)
        if create is None and may_create:
            create = NewCustomerForm(initial={"idempotency_key": _new_key()})
        accounts = list(choose.fields["account"].queryset)
        return self.render(
            "storefront/checkout_account.html",
            {
                "step": "account",
                "choose": choose,
                "create": create if may_create else None,
                "mca_states": gate.states_for(accounts, viewer=self.request.user),
            },
            status=status,
        )

    def post(self, request: HttpRequest) -> HttpResponse:
        accounts = self.store.accounts_for(request.user)
        if request.POST.get("action") == "create":
            if not checkout.may_create_customers(request.user, self.store):
                raise PermissionDenied("You may not create customers here.")
            create = NewCustomerForm(request.POST)
            if not create.is_valid():
                return self._page(ChooseAccountForm(accounts=accounts), create, status=400)
            key = create.cleaned_data["idempotency_key"]
            account_id = self.checkout_session.created_account(key) if key else None
            if account_id is None:
                data = create.cleaned_data
                account = checkout.create_customer(
                    actor=request.user,
                    store=self.store,
                    name=data["name"],
                    country=data["country"],
                    language=data["language"],
                )
                account_id = account.pk
                if key:
                    self.checkout_session.remember_created_account(key, account_id)
            self.checkout_session.set_account_id(account_id)
            messages.success(request, _("New customer created."))
            return redirect(self.store.url("checkout-service-details"))
        # Choosing: an id outside the store's visible accounts is not found (404), and nothing is written.
        raw = request.POST.get("account", "")
        if not raw.isdigit():
            choose = ChooseAccountForm(request.POST, accounts=accounts)
            choose.is_valid()
            return self._page(choose, status=400)
        account = get_object_or_404(accounts, pk=int(raw))
        fixed = self.cart.change_account_id()
        if fixed is not None and fixed != account.pk:
            raise PermissionDenied("A seat change is for the subscription's own customer.")
        self.checkout_session.set_account_id(account.pk)
        return redirect(self.store.url("checkout-service-details"))


def origin_of(url: str) -> str:
    """scheme://host[:port] of a URL: what a Content-Security-Policy source names."""
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


def _show_refusal(form: Any, refused: gate.AcceptanceInvalid | gate.IdempotencyConflict) -> int:
    """Put what the gate refused on the form (each field's errors beside it; a key reused with other data above
    the form) and return the page's status: 400 for invalid input, 409 for the conflict."""
    if isinstance(refused, gate.AcceptanceInvalid):
        for field, errors in refused.error_dict.items():
            form.add_error(field if field in form.fields else None, errors)
        return 400
    form.add_error(None, refused.messages)
    return 409


class ServiceDetailsView(StoreView):
    """Step 2: Service Details, with the MCA step when the gate says acceptance is needed."""

    login_required = True
    pre_conditions = ("cart_not_empty", "account_chosen")

    def _decision(self) -> gate.Decision:
        return checkout.decision_for(self.account, [line.as_request() for line in self.lines])

    def _context(self) -> gate.ConfirmationContext:
        return gate.ConfirmationContext.from_request(
            self.request, self.store.channel_for(self.request.user), operation=self.lines[0].operation
        )

    def _page(self, decision: gate.Decision, form: Any = None, status: int = 200) -> HttpResponse:
        user = self.request.user
        pending = decision.pending
        may_confirm = gate.may_confirm(user, self.account)
        # "Change the signatory": the form again while a link is out (the new link supersedes the old one).
        changing = bool(
            decision.needed and pending is not None and (form is not None or self.request.GET.get("change"))
        )
        if form is None and (decision.show_form or changing) and may_confirm:
            form = gate.form_for(user, self.account)
        response = self.render(
            "storefront/checkout_service_details.html",
            {
                "step": "details",
                "account": self.account,
                "lines": self.lines,
                "decision": decision,
                "mca_state": gate.state_from_decision(decision, viewer=user),
                "form": form,
                "changing": changing,
                "may_confirm": may_confirm,
                "may_change_customer": self.cart.change_account_id() is None
                and checkout.may_choose_customer(user, self.store),
                "pending": pending,
                "show_microsoft_page": bool(
                    pending
                    and pending.link
                    and pending.waiting
                    and checkout.signatory_is(user, pending.signatory_email)
                ),
                "idempotency_key": _new_key(),
            },
            status=status,
        )
        if pending and pending.link:
            # The Content-Security-Policy lets this page frame Microsoft's acceptance page, from its origin only.
            response._csp_update = {"frame-src": [origin_of(pending.link)]}
        return response

    def get(self, request: HttpRequest) -> HttpResponse:
        decision = self._decision()
        if decision.waiting:
            # Ask Microsoft about the link (at most once per MCA_ATTESTATION_MIN_CHECK_SECONDS): a link Microsoft
            # ended shows as expired at once, an accepted one lets the customer go on.
            gate.check_now(self.account)
            decision = self._decision()
        return self._page(decision)

    def post(self, request: HttpRequest) -> HttpResponse:
        action = request.POST.get("action", "accept")
        if action == "cancel_link":
            return _cancel_link(request, self.store, self.account, self.store.url("checkout-service-details"))
        if action == "check_now":
            gate.check_now(self.account)
            decision = self._decision()
            if not decision.needed:
                messages.success(request, _("Microsoft reports the agreement accepted.") + f" {decision.reason}.")
                return redirect(self.store.url("checkout-review"))
            messages.info(request, _("Microsoft has not reported the acceptance yet.") + f" {decision.reason}.")
            return redirect(self.store.url("checkout-service-details"))
        if action == "resend":
            return self._resend()
        decision = self._decision()
        if not decision.needed:  # the form, or another signatory while a link is out
            return redirect(self.store.url("checkout-service-details"))
        form = gate.form_for(request.user, self.account, request.POST)
        if not form.is_valid():
            return self._page(decision, form, status=400)
        try:
            outcome, emailed_to = acceptance.confirm_acceptance(
                actor=request.user,
                account=self.account,
                data=request.POST,
                context=decision.context_for(self._context()),
                sender=self.store.name,
            )
        except (gate.AcceptanceInvalid, gate.IdempotencyConflict) as refused:
            return self._page(decision, form, status=_show_refusal(form, refused))
        if outcome.accepted:
            messages.success(request, _("Thank you: the acceptance of the Microsoft Customer Agreement is recorded."))
            return redirect(self.store.url("checkout-review"))
        attestation = outcome.attestation
        if attestation is not None and not checkout.signatory_is(request.user, attestation.signatory_email):
            if emailed_to:
                messages.success(
                    request,
                    _(
                        "Microsoft's acceptance link was sent to %(name)s (%(email)s) only. You can place the order "
                        "now: it waits until the agreement is accepted."
                    )
                    % {"name": attestation.signatory_name, "email": gate.mask_email(emailed_to)},
                )
            else:
                messages.warning(
                    request,
                    _(
                        "Microsoft has not issued the acceptance link yet; send it from My agreements once it is "
                        "ready. You can place the order now: it waits until the agreement is accepted."
                    ),
                )
        return redirect(self.store.url("checkout-service-details"))

    def _resend(self) -> HttpResponse:
        return _resend_link(self.request, self.store, self.account, self.store.url("checkout-service-details"))


def _resend_link(request: HttpRequest, store: Store, account: Account, back: str) -> HttpResponse:
    try:
        outcome, emailed_to = acceptance.resend_link(
            actor=request.user,
            account=account,
            context=gate.ConfirmationContext.from_request(request, store.channel_for(request.user)),
            sender=store.name,
        )
    except gate.AcceptanceInvalid as invalid:
        messages.error(request, " ".join(invalid.messages))
        return redirect(back)
    attestation = outcome.attestation
    if attestation is not None and not checkout.signatory_is(request.user, attestation.signatory_email):
        messages.success(
            request,
            _("A new acceptance link was sent to %(name)s (%(email)s) only.")
            % {"name": attestation.signatory_name, "email": gate.mask_email(emailed_to)}
            if emailed_to
            else _("A new acceptance link was requested from Microsoft; send it again once it is ready."),
        )
    else:
        messages.success(request, _("A new acceptance link is ready."))
    return redirect(back)


def _cancel_link(request: HttpRequest, store: Store, account: Account, back: str) -> HttpResponse:
    try:
        gate.cancel_link(
            actor=request.user,
            account=account,
            context=gate.ConfirmationContext.from_request(request, store.channel_for(request.user)),
        )
    except gate.AcceptanceInvalid as invalid:
        messages.error(request, " ".join(invalid.messages))
        return redirect(back)
    messages.success(
        request, f"The acceptance link for {account.name} is cancelled; Microsoft's page no longer accepts it."
    )
    return redirect(back)


class McaStatusView(StoreView):
    """The MCA step's state as JSON, for the page's light poll (asks Microsoft about open links for this customer)."""

    login_required = True
    pre_conditions = ("cart_not_empty", "account_chosen")

    def get(self, request: HttpRequest) -> JsonResponse:
        decision = checkout.decision_for(self.account, [line.as_request() for line in self.lines])
        if decision.waiting:
            gate.check_now(self.account)
            decision = checkout.decision_for(self.account, [line.as_request() for line in self.lines])
        state = gate.state_from_decision(decision, viewer=request.user)
        return JsonResponse({**decision.as_dict(), "may_place": checkout.may_place(decision), "mca_state": state.code})


class ReviewView(StoreView):
    """Step 3: review. Guarded: the MCA must be settled (accepted, not needed, or a link out)."""

    login_required = True
    pre_conditions = ("cart_not_empty", "account_chosen", "mca_settled")

    def get(self, request: HttpRequest) -> HttpResponse:
        return self.render(
            "storefront/checkout_review.html",
            {
                "step": "review",
                "account": self.account,
                "lines": self.lines,
                "total": sum(line.total for line in self.lines),
                "decision": self.decision,
                "idempotency_key": _new_key(),
            },
        )


class PlaceOrderView(StoreView):
    """Step 4: place the order (POST only). Same guard as review, so a crafted POST cannot skip the MCA step."""

    login_required = True
    pre_conditions = ("cart_not_empty", "account_chosen", "mca_settled")
    http_method_names = ["post"]

    def before_pre_conditions(self, request: HttpRequest) -> HttpResponseBase | None:
        if request.method == "POST" and not self.checkout_session.lines():
            # A double click or a resubmit after the order emptied the cart: show the order this checkout placed.
            order = checkout.existing_order(request.user, self.checkout_session.placed_order_keys())
            if order is not None:
                return redirect(self.store.url("order", number=order.number))
        return None

    def post(self, request: HttpRequest) -> HttpResponse:
        try:
            order = checkout.place_cart_order(
                actor=request.user,
                account=self.account,
                cart=self.cart,
                store=self.store,
                idempotency_key=self.checkout_session.order_key(),  # bound to the checkout, not to the form
            )
        except gate.AcceptanceRequired:
            messages.warning(
                request, _("The Microsoft Customer Agreement must be accepted before this order can be placed.")
            )
            return redirect(self.store.url("checkout-service-details"))
        except OrderInvalid as invalid:
            messages.error(request, " ".join(invalid.messages))
            return redirect(self.store.url("cart"))
        return redirect(self.store.url("order", number=order.number))


class OrderView(StoreView):
    login_required = True

    def get(self, request: HttpRequest, number: str) -> HttpResponse:
        order = get_object_or_404(
            Order.objects.select_related("account").prefetch_related("lines__product", "lines__subscription"),
            number=number,
            account__in=self.store.accounts_for(request.user),
        )
        total = sum(line.total for line in order.lines.all())
        state = gate.state_for(order.account, viewer=request.user)
        return self.render(
            "storefront/order.html",
            {
                "order": order,
                "total": total,
                "currency": next((line.product.currency for line in order.lines.all()), ""),
                "mca_state": state,
                "poll_url": self.store.url("order-status", number=order.number),
                "poll_signature": _order_signature(order, state),
                "live": order.status in _ORDER_MOVING or state.code == gate.McaState.PENDING,
            },
        )


_NEXT_STEP = {
    "placed": "Your provider executes the order.",
    "awaiting_acceptance": "It goes ahead once the Microsoft Customer Agreement is accepted.",
    "executed": "Microsoft creates the subscriptions.",
    "provisioning": "Microsoft creates the subscriptions.",
    "provisioned": "Done: see My subscriptions.",
    "failed": "Your provider is looking into it.",
    "held": "Your provider is looking into it.",
    "cancelled": "Nothing: the order is cancelled.",
}


class OrdersView(StoreView):
    """My orders: each order with its status, its customer's MCA state and the next step."""

    login_required = True

    def get(self, request: HttpRequest) -> HttpResponse:
        orders = list(
            Order.objects.filter(account__in=self.store.accounts_for(request.user))
            .select_related("account")
            .order_by("-created_at")[:100]
        )
        states = gate.states_for({order.account_id: order.account for order in orders}.values(), viewer=request.user)
        rows = [(order, _NEXT_STEP.get(order.status, "")) for order in orders]
        return self.render("storefront/orders.html", {"rows": rows, "mca_states": states})


class OrderStatusView(StoreView):
    """The order's status and its customer's MCA state as JSON, for the order page's light poll: while a link is
    out with the signatory, Microsoft is asked (at most once per MCA_ATTESTATION_MIN_CHECK_SECONDS), so the page
    sees the acceptance arrive, and the held order released, without anyone pressing a button."""

    login_required = True

    def get(self, request: HttpRequest, number: str) -> JsonResponse:
        order = get_object_or_404(
            Order.objects.select_related("account"), number=number, account__in=self.store.accounts_for(request.user)
        )
        state = gate.live_state(order.account, viewer=request.user)
        order.refresh_from_db()
        return JsonResponse(
            {
                "status": order.status,
                "status_label": order.get_status_display(),
                "mca_state": state.code,
                "signature": _order_signature(order, state),
            }
        )


def _order_signature(order: Order, state: gate.CustomerMcaState) -> str:
    return gate.poll_signature(state, order.status)


def _states_signature(states: dict[int, gate.CustomerMcaState]) -> str:
    return ",".join(f"{pk}:{states[pk].code}" for pk in sorted(states))


# Orders and agreements in these states may still change by themselves (the poll watches them).
_ORDER_MOVING = ("placed", "awaiting_acceptance", "executed", "provisioning")


# --- Account area -------------------------------------------------------------------------------------------


class SubscriptionsView(StoreView):
    """My subscriptions: a seat change goes through the checkout's steps (seat_increase / seat_decrease)."""

    login_required = True

    def _subscriptions(self):
        return Subscription.objects.filter(
            account__in=self.store.accounts_for(self.request.user), is_active=True
        ).select_related("product", "account")

    def get(self, request: HttpRequest, failed: SeatChangeForm | None = None, status: int = 200) -> HttpResponse:
        rows = [
            (sub, failed if failed is not None and failed.subscription == sub else SeatChangeForm(subscription=sub))
            for sub in self._subscriptions()
        ]
        return self.render("storefront/subscriptions.html", {"rows": rows}, status=status)

    def post(self, request: HttpRequest) -> HttpResponse:
        raw = request.POST.get("subscription", "")
        if not raw.isdigit():
            return self.get(request, status=400)
        subscription = get_object_or_404(self._subscriptions(), pk=int(raw))
        if request.POST.get("action") == "renew":
            self.cart.start_renewal(subscription)
            messages.info(
                request,
                f"Renewal: {subscription.product.name} for {subscription.account.name}, {subscription.seats} seats. "
                "Your cart now holds this renewal.",
            )
            return redirect(self.store.url("checkout-account"))
        form = SeatChangeForm(request.POST, subscription=subscription)
        if not form.is_valid():
            return self.get(request, failed=form, status=400)
        operation = self.cart.start_seat_change(subscription, form.cleaned_data["seats"])
        messages.info(
            request,
            f"{'Seat increase' if operation == 'seat_increase' else 'Seat decrease'}: {subscription.product.name} for "
            f"{subscription.account.name}, {subscription.seats} → {form.cleaned_data['seats']} seats. "
            "Your cart now holds this change.",
        )
        return redirect(self.store.url("checkout-account"))


class AgreementsView(StoreView):
    """My agreements (R12): the acceptance records, links out and delivery state of the accounts the user may see
    in this store; an expired or lost link can be sent again."""

    login_required = True

    def get(self, request: HttpRequest) -> HttpResponse:
        accounts = list(self.store.accounts_for(request.user))
        records = selectors.records_visible_to(request.user).filter(account__in=accounts)[:200]
        attestations = selectors.open_attestations_visible_to(request.user).filter(account__in=accounts)
        states = gate.states_for(accounts, viewer=request.user)
        return self.render(
            "storefront/agreements.html",
            {
                "records": records,
                "attestations": attestations,
                "accounts": accounts,
                "mca_states": states,
                "poll_url": self.store.url("agreements-status"),
                "poll_signature": _states_signature(states),
                "live": any(state.code == gate.McaState.PENDING for state in states.values()),
            },
        )

    def post(self, request: HttpRequest) -> HttpResponse:
        raw = request.POST.get("account", "")
        if not raw.isdigit():
            return redirect(self.store.url("agreements"))
        account = get_object_or_404(self.store.accounts_for(request.user), pk=int(raw))
        if request.POST.get("action") == "cancel_link":
            return _cancel_link(request, self.store, account, self.store.url("agreements"))
        return _resend_link(request, self.store, account, self.store.url("agreements"))


class AgreementsStatusView(StoreView):
    """Each customer's MCA state as JSON, for My agreements' light poll; Microsoft is asked about the links out
    (at most once per link per MCA_ATTESTATION_MIN_CHECK_SECONDS)."""

    login_required = True

    def get(self, request: HttpRequest) -> JsonResponse:
        accounts = list(self.store.accounts_for(request.user))
        states = gate.states_for(accounts, viewer=request.user)
        for account in accounts:
            if states[account.pk].code == gate.McaState.PENDING:
                gate.check_now(account)
        states = gate.states_for(accounts, viewer=request.user)
        return JsonResponse(
            {"states": {str(pk): state.code for pk, state in states.items()}, "signature": _states_signature(states)}
        )


class AgreementSignatoryView(StoreView):
    """Name (or change) a customer's signatory from My agreements: the gate's form; a link out is superseded by
    the new one (recorded, and withdrawn at Microsoft)."""

    login_required = True

    def _account(self, account_id: int) -> Account:
        return get_object_or_404(self.store.accounts_for(self.request.user), pk=account_id)

    def _page(self, account: Account, form: Any, status: int = 200) -> HttpResponse:
        decision = gate.check(account, ["new_purchase"])
        return self.render(
            "storefront/agreement_signatory.html",
            {
                "account": account,
                "form": form,
                "decision": decision,
                "mca_state": gate.state_from_decision(decision, viewer=self.request.user),
                "idempotency_key": _new_key(),
            },
            status=status,
        )

    def get(self, request: HttpRequest, account_id: int) -> HttpResponse:
        account = self._account(account_id)
        if not gate.may_confirm(request.user, account):
            raise PermissionDenied("You may not name the signatory for this customer.")
        return self._page(account, gate.form_for(request.user, account))

    def post(self, request: HttpRequest, account_id: int) -> HttpResponse:
        account = self._account(account_id)
        form = gate.form_for(request.user, account, request.POST)
        if not form.is_valid():
            return self._page(account, form, status=400)
        try:
            outcome, emailed_to = acceptance.confirm_acceptance(
                actor=request.user,
                account=account,
                data=request.POST,
                context=gate.ConfirmationContext.from_request(request, self.store.channel_for(request.user)),
                sender=self.store.name,
            )
        except (gate.AcceptanceInvalid, gate.IdempotencyConflict) as refused:
            return self._page(account, form, status=_show_refusal(form, refused))
        if outcome.accepted:
            messages.success(request, "Thank you: the acceptance of the Microsoft Customer Agreement is recorded.")
        elif emailed_to:
            messages.success(request, f"Sent: Microsoft's acceptance link went to {gate.mask_email(emailed_to)} only.")
        else:
            messages.warning(
                request, "Microsoft has not issued the acceptance link yet; send it again once it is ready."
            )
        return redirect(self.store.url("agreements"))


# --- Sign-in per store --------------------------------------------------------------------------------------


class StoreSignInView(LoginView):
    template_name = "storefront/sign_in.html"

    def dispatch(self, request: HttpRequest, *args: Any, reseller_slug: str | None = None, **kwargs: Any):
        self.store = resolve_store(request, reseller_slug)
        return super().dispatch(request, *args, **kwargs)

    def get_default_redirect_url(self) -> str:
        return self.store.url("catalog")

    def get_success_url(self) -> str:
        user = self.request.user
        membership = Membership.of(user)
        home = home_store_for(user)
        if membership is not None and membership.role == Role.CUSTOMER and home.key != self.store.key:
            return home.url("catalog")  # a customer user lands in its own account's store
        return super().get_success_url()

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        return {**super().get_context_data(**kwargs), "store": self.store}


class StoreSignOutView(LogoutView):
    def dispatch(self, request: HttpRequest, *args: Any, reseller_slug: str | None = None, **kwargs: Any):
        self.store = resolve_store(request, reseller_slug)
        self.next_page = self.store.url("catalog")
        return super().dispatch(request, *args, **kwargs)
