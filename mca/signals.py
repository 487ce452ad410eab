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
  "recheck", "acceptance", "campaign"...).
- `acceptance_recorded`: an acceptance record was appended to the log. Argument: `record`.
- `delivery_failed`: telling Partner Center about a record was given up (the outbox row is failed). Argument:
  `delivery`.
"""

from django.dispatch import Signal

acceptance_known = Signal()
state_changed = Signal()
acceptance_recorded = Signal()
delivery_failed = Signal()
