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
            if self.login_required and not self.store.accounts_for(user).exists():
                raise PermissionDenied("There is no customer you can order for in this store.")
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

    # --- pre-conditions (each raises FailedPreCondition naming the step that fixes it) --------------------
    def cart_not_empty(self) -> None:
        self.lines = self.cart.lines()
        if not self.lines:
            raise checkout.FailedPreCondition(self.store.url("cart"), "Your cart is empty: add a product first.")

    def account_chosen(self) -> None:
        self.account = self.chosen_account()
        if self.account is None:
            raise checkout.FailedPreCondition(
                self.store.url("checkout-account"), "Choose the customer this order is for."
            )

    def mca_settled(self) -> None:
        self.decision = checkout.decision_for(self.account, [line.as_request() for line in self.lines])
        if not checkout.may_place(self.decision):
            raise checkout.FailedPreCondition(
                self.store.url("checkout-service-details"),
                "The Microsoft Customer Agreement must be accepted before this order can be placed.",
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
        messages.success(request, f"Added {quantity} × {product.name} to your cart.")
        return redirect(self.store.url("cart"))


class CartView(StoreView):
    def get(self, request: HttpRequest) -> HttpResponse:
        lines = self.cart.lines()
        return self.render("storefront/cart.html", {"lines": lines, "total": self.cart.total()})

    def post(self, request: HttpRequest) -> HttpResponse:
        form = CartLineForm(request.POST)
        if not form.is_valid():
            messages.error(request, "Enter a seat count from 1 to 10000.")
            return redirect(self.store.url("cart"))
        product_id, quantity = form.cleaned_data["product"], form.cleaned_data["quantity"]
        if request.POST.get("action") == "remove" or not quantity:
            self.cart.remove(product_id)
            messages.success(request, "Removed from your cart.")
        else:
            self.cart.set_quantity(product_id, quantity)
            messages.success(request, "Cart updated.")
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
        return self.render(
            "storefront/checkout_account.html",
            {"step": "account", "choose": choose, "create": create if may_create else None},
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
            messages.success(request, "New customer created.")
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
        if form is None and decision.show_form and may_confirm:
            form = gate.form_for(user, self.account)
        response = self.render(
            "storefront/checkout_service_details.html",
            {
                "step": "details",
                "account": self.account,
                "lines": self.lines,
                "decision": decision,
                "form": form,
                "may_confirm": may_confirm,
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
        return self._page(self._decision())

    def post(self, request: HttpRequest) -> HttpResponse:
        action = request.POST.get("action", "accept")
        if action == "check_now":
            gate.check_now(self.account)
            decision = self._decision()
            if not decision.needed:
                messages.success(request, f"Microsoft reports the agreement accepted. {decision.reason}.")
                return redirect(self.store.url("checkout-review"))
            messages.info(request, "Microsoft has not reported the acceptance yet. " + decision.reason + ".")
            return redirect(self.store.url("checkout-service-details"))
        if action == "resend":
            return self._resend()
        decision = self._decision()
        if not decision.show_form:
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
        except gate.AcceptanceInvalid as invalid:
            for field, errors in invalid.error_dict.items():
                form.add_error(field if field in form.fields else None, errors)
            return self._page(decision, form, status=400)
        except gate.IdempotencyConflict as conflict:
            form.add_error(None, conflict.messages)
            return self._page(decision, form, status=409)
        if outcome.accepted:
            messages.success(request, "Thank you: the acceptance of the Microsoft Customer Agreement is recorded.")
            return redirect(self.store.url("checkout-review"))
        attestation = outcome.attestation
        if attestation is not None and not checkout.signatory_is(request.user, attestation.signatory_email):
            if emailed_to:
                messages.success(
                    request,
                    f"Microsoft's acceptance link was e-mailed to {attestation.signatory_name}. You can place the "
                    "order now: it waits until the agreement is accepted.",
                )
            else:
                messages.warning(
                    request,
                    "Microsoft has not issued the acceptance link yet; send it from My agreements once it is ready. "
                    "You can place the order now: it waits until the agreement is accepted.",
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
            f"A new acceptance link was e-mailed to {attestation.signatory_name}."
            if emailed_to
            else "A new acceptance link was requested from Microsoft; send it again once it is ready.",
        )
    else:
        messages.success(request, "A new acceptance link is ready.")
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
        return JsonResponse({**decision.as_dict(), "may_place": checkout.may_place(decision)})


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
                request, "The Microsoft Customer Agreement must be accepted before this order can be placed."
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
        total = sum(line.unit_price * line.quantity for line in order.lines.all())
        return self.render("storefront/order.html", {"order": order, "total": total})


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
        accounts = self.store.accounts_for(request.user)
        records = selectors.records_visible_to(request.user).filter(account__in=accounts)[:200]
        attestations = selectors.open_attestations_visible_to(request.user).filter(account__in=accounts)
        return self.render("storefront/agreements.html", {"records": records, "attestations": attestations})

    def post(self, request: HttpRequest) -> HttpResponse:
        raw = request.POST.get("account", "")
        if not raw.isdigit():
            return redirect(self.store.url("agreements"))
        account = get_object_or_404(self.store.accounts_for(request.user), pk=int(raw))
        return _resend_link(request, self.store, account, self.store.url("agreements"))


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
