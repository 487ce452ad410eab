"""Signals of the acceptance domain, for decoupled side effects only (never business rules).

- `acceptance_known` is sent after commit when a customer's MCA acceptance becomes known (recorded here, reported
  by Partner Center, or accepted by the signatory at Microsoft). Arguments: `key` (the knowledge key) and
  `accounts` (a queryset of the BSS accounts it covers). The BSS connects to it to release orders held for
  acceptance.

The signals below are for tools outside the application (webhooks, alerts). Each is sent **inside** the transaction
that made the change, so a receiver that writes an outbox row commits or rolls back with it; a receiver must not
call the network.

- `state_changed`: an account's MCA state (`mca.state`) moved, e.g. a re-check found it accepted or stale.
  Arguments: `account`, `previous` and `state` (state names such as "pending", "accepted"), `source` (what found it:
  "recheck", "acceptance", "campaign"...). Sent by `mca.state.state_changes` around each write that may move a
  state (knowledge written or removed, a link sent, cancelled, re-issued or expired); it is built only when
  `wanted(state_changed)` (a receiver connected with `connect_when` says whether it wants it now).
- `acceptance_recorded`: an acceptance record was appended to the log. Argument: `record` (sent by `mca.log.append`;
  on PostgreSQL before the chain head is locked, so the record has its id and content but not yet its `sequence`).
- `delivery_failed`: telling Partner Center about a record was given up (the outbox row is failed). Argument:
  `delivery`.
"""

from collections.abc import Callable
from typing import Any

from django.dispatch import Signal

acceptance_known = Signal()
state_changed = Signal()
acceptance_recorded = Signal()
delivery_failed = Signal()


# --- Whether anyone wants a signal now ---------------------------------------------------------------------------
# Building `state_changed`'s arguments costs queries (the state before and after). A receiver that only sometimes
# wants it (webhooks: only while a subscription asks for the event) connects with a predicate, so the sender
# skips that work, and the confirmation path pays nothing, when no receiver wants it.

_predicates: dict[int, dict[str, Callable[[], bool]]] = {}


def connect_when(
    signal: Signal, receiver: Callable[..., Any], *, wanted: Callable[[], bool], dispatch_uid: str
) -> None:
    """Connect `receiver` to `signal`, saying with `wanted()` (cheap: no query) whether it wants it right now."""
    signal.connect(receiver, dispatch_uid=dispatch_uid, weak=False)
    _predicates.setdefault(id(signal), {})[dispatch_uid] = wanted


def wanted(signal: Signal) -> bool:
    """Does any receiver want `signal` now? A receiver connected without `connect_when` always does."""
    if not signal.has_listeners():
        return False
    predicates = _predicates.get(id(signal), {})
    if len(signal.receivers) > len(predicates):
        return True
    return any(predicate() for predicate in predicates.values())
