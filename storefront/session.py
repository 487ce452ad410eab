"""The one wrapper around what the storefront keeps in the session (oscar's CheckoutSessionData idea): the cart's
lines and the checkout's chosen account, per store, so views never touch `request.session` keys themselves."""

from __future__ import annotations

import uuid
from typing import Any

from django.http import HttpRequest


class CheckoutSession:
    """Cart and checkout state of one visitor in one store."""

    def __init__(self, request: HttpRequest, store_key: str) -> None:
        self._session = request.session
        self._key = f"storefront:{store_key}"

    # --- storage ---------------------------------------------------------------------------------------
    def _data(self) -> dict[str, Any]:
        data = self._session.get(self._key)
        return data if isinstance(data, dict) else {}

    def _set(self, name: str, value: Any) -> None:
        data = self._data()
        if value is None:
            data.pop(name, None)
        else:
            data[name] = value
        self._session[self._key] = data
        self._session.modified = True

    # --- cart lines ------------------------------------------------------------------------------------
    def lines(self) -> list[dict[str, Any]]:
        """Each line: product_id, quantity, operation, subscription_id (None for a new purchase)."""
        lines = self._data().get("lines")
        return [dict(line) for line in lines] if isinstance(lines, list) else []

    def set_lines(self, lines: list[dict[str, Any]]) -> None:
        self._set("lines", lines or None)
        # Another cart is another order: placing it gets a key of its own.
        self._set("order_key", str(uuid.uuid4()) if lines else None)

    # --- placing the order once ------------------------------------------------------------------------
    def order_key(self) -> str:
        """The idempotency key of this checkout's order: every place-order submit of one cart (a double-click,
        five tabs, a crafted POST without the form's key) places at most one order."""
        key = self._data().get("order_key")
        if not isinstance(key, str) or not key:
            key = str(uuid.uuid4())  # a cart from before keys were kept: one from now on
            self._set("order_key", key)
            self._session.save()  # before placing, so a concurrent submit reads it
        return key

    def placed_order_keys(self) -> list[str]:
        """The keys of the orders this session placed last (a resubmit after the cart was emptied shows them)."""
        keys = self._data().get("placed_order_keys")
        return [key for key in keys if isinstance(key, str)] if isinstance(keys, list) else []

    # --- checkout --------------------------------------------------------------------------------------
    def account_id(self) -> int | None:
        value = self._data().get("account_id")
        return value if isinstance(value, int) else None

    def set_account_id(self, account_id: int | None) -> None:
        self._set("account_id", account_id)

    def created_account(self, idempotency_key: str) -> int | None:
        """The account a new-customer form with this key already created (a double-click creates one)."""
        created = self._data().get("created_accounts") or {}
        value = created.get(idempotency_key)
        return value if isinstance(value, int) else None

    def remember_created_account(self, idempotency_key: str, account_id: int) -> None:
        created = dict(self._data().get("created_accounts") or {})
        created[idempotency_key] = account_id
        self._set("created_accounts", dict(list(created.items())[-20:]))

    def flush(self) -> None:
        """Forget the cart and the checkout (after the order is placed); its order's key is kept a while."""
        key = self._data().get("order_key")
        if isinstance(key, str) and key:
            self._set("placed_order_keys", [*self.placed_order_keys(), key][-5:])
        self._set("lines", None)
        self._set("order_key", None)
        self._set("account_id", None)
