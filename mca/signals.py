"""Signals of the acceptance domain, for decoupled side effects only (never business rules).

`acceptance_known` is sent after commit when a customer's MCA acceptance becomes known (recorded here, reported by
Partner Center, or accepted by the signatory at Microsoft). Arguments: `key` (the knowledge key) and `accounts`
(a queryset of the BSS accounts it covers). The BSS connects to it to release orders held for acceptance.
"""

from django.dispatch import Signal

acceptance_known = Signal()
