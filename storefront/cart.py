"""The cart: products with seat counts, or one seat change of an existing subscription. Kept in the session
through `CheckoutSession`; read back as `CartLine`s with their products (one query) for display and ordering."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from bss.choices import Operation
from bss.models import Product, Subscription, priced_seats
from bss.services.orders import LineRequest
from storefront.session import CheckoutSession
from storefront.stores import Store


@dataclass(frozen=True)
class CartLine:
    product: Product
    quantity: int
    operation: str = Operation.NEW_PURCHASE
    subscription: Subscription | None = None

    @property
    def is_change(self) -> bool:
        return self.subscription is not None

    @property
    def operation_label(self) -> str:
        return Operation(self.operation).label

    @property
    def total(self) -> Decimal:
        """What this line costs (a seat change priced as the difference, `bss.models.priced_seats`)."""
        return self.product.price * self.charged_seats

    @property
    def charged_seats(self) -> int:
        previous = self.subscription.seats if self.subscription is not None else None
        return priced_seats(self.operation, self.quantity, previous)

    def as_request(self) -> LineRequest:
        """For a seat change the line's quantity is the subscription's new seat count."""
        return LineRequest(self.product, self.quantity, self.operation, self.subscription)


class Cart:
    def __init__(self, session: CheckoutSession, store: Store) -> None:
        self.session = session
        self.store = store

    def lines(self) -> list[CartLine]:
        raw = self.session.lines()
        product_ids = {line.get("product_id") for line in raw}
        products = self.store.products().in_bulk([pk for pk in product_ids if isinstance(pk, int)])
        subscription_ids = [line["subscription_id"] for line in raw if isinstance(line.get("subscription_id"), int)]
        subscriptions = Subscription.objects.select_related("product").in_bulk(subscription_ids)
        lines = []
        for line in raw:
            product = products.get(line.get("product_id"))
            if product is None:
                continue  # no longer for sale in this store
            subscription = subscriptions.get(line.get("subscription_id")) if line.get("subscription_id") else None
            lines.append(
                CartLine(product, int(line["quantity"]), line.get("operation", Operation.NEW_PURCHASE), subscription)
            )
        return lines

    def is_empty(self) -> bool:
        return not self.lines()

    def total(self) -> Decimal:
        return sum((line.total for line in self.lines()), Decimal("0"))

    def change_account_id(self) -> int | None:
        """The account a seat change in the cart belongs to (the checkout is then for that account)."""
        for line in self.lines():
            if line.subscription is not None:
                return line.subscription.account_id
        return None

    def add(self, product: Product, quantity: int) -> None:
        """Add seats of a product (a cart holding a seat change starts over as a purchase cart)."""
        raw = [line for line in self.session.lines() if not line.get("subscription_id")]
        for line in raw:
            if line["product_id"] == product.pk:
                line["quantity"] = quantity if line["quantity"] + quantity > _max() else line["quantity"] + quantity
                break
        else:
            raw.append({"product_id": product.pk, "quantity": quantity, "operation": Operation.NEW_PURCHASE})
        self.session.set_lines(raw)

    def set_quantity(self, product_id: int, quantity: int) -> None:
        raw = self.session.lines()
        for line in raw:
            if line["product_id"] == product_id:
                line["quantity"] = quantity
        self.session.set_lines(raw)

    def remove(self, product_id: int) -> None:
        self.session.set_lines([line for line in self.session.lines() if line["product_id"] != product_id])

    def start_seat_change(self, subscription: Subscription, seats: int) -> str:
        """Replace the cart with a change of `subscription` to `seats` seats; returns the operation."""
        operation = Operation.SEAT_INCREASE if seats > subscription.seats else Operation.SEAT_DECREASE
        return self.start_change(subscription, seats, operation)

    def start_renewal(self, subscription: Subscription) -> str:
        """Replace the cart with the renewal of `subscription` at its current seat count."""
        return self.start_change(subscription, subscription.seats, Operation.RENEWAL)

    def start_change(self, subscription: Subscription, seats: int, operation: str) -> str:
        """Replace the cart with one operation on an existing subscription (the checkout is for its account)."""
        self.session.set_lines(
            [
                {
                    "product_id": subscription.product_id,
                    "quantity": seats,
                    "operation": operation,
                    "subscription_id": subscription.pk,
                }
            ]
        )
        self.session.set_account_id(subscription.account_id)
        return operation

    def clear(self) -> None:
        self.session.flush()


def _max() -> int:
    from bss.services.orders import MAX_SEATS

    return MAX_SEATS
