"""Signals of the BSS, for decoupled side effects only (webhooks, alerts; never business rules).

Each is sent **inside** the transaction that made the change (a receiver's outbox row commits with it); receivers
must not call the network.

- `order_held_for_acceptance`: an order was held until its customer accepts the MCA. Arguments: `order`, `reason`
  (the gate's sentence).
- `order_released`: a held order was released (acceptance arrived). Argument: `order`.
"""

from django.dispatch import Signal

order_held_for_acceptance = Signal()
order_released = Signal()
