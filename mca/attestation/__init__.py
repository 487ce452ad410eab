"""Attestation flows: how Microsoft is told that a customer accepted the MCA (one module per flow).

`current_flow()` is the one chosen by MCA_ATTESTATION_FLOW (`enhanced`, Microsoft's current attestation, by
default; `legacy` for installations from before 2026-01-05). `flow_for_record()` is the flow a record was written
by, found in the registry by the record's event, so records keep being delivered the way they were made after the
setting changes. Nothing outside this package branches on the flow, and nothing names one.
"""

from __future__ import annotations

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

from mca.attestation.base import (
    AcceptanceInvalid,
    AttestationFlow,
    IdempotencyConflict,
    Outcome,
    OutcomeKind,
    SendOutcome,
)
from mca.attestation.enhanced import EnhancedFlow, cancel_link, record_link_sent
from mca.attestation.legacy import LegacyFlow
from mca.models import AcceptanceRecord

# The registry: every flow by its name (the setting's value) and by the log events it writes.
FLOWS: dict[str, AttestationFlow] = {}
_BY_EVENT: dict[str, AttestationFlow] = {}


def register(flow: AttestationFlow) -> AttestationFlow:
    """Add a flow; each log event belongs to one flow only."""
    claimed = sorted(event for event in flow.record_events if event in _BY_EVENT)
    if flow.name in FLOWS or claimed:
        raise ImproperlyConfigured(f"Attestation flow {flow.name!r} is registered twice or claims {claimed}")
    FLOWS[flow.name] = flow
    _BY_EVENT.update(dict.fromkeys(flow.record_events, flow))
    return flow


register(EnhancedFlow())
register(LegacyFlow())
DEFAULT_FLOW = EnhancedFlow.name


def flows() -> tuple[AttestationFlow, ...]:
    return tuple(FLOWS.values())


def current_flow() -> AttestationFlow:
    name = getattr(settings, "MCA_ATTESTATION_FLOW", DEFAULT_FLOW) or DEFAULT_FLOW
    try:
        return FLOWS[name]
    except KeyError:
        raise ImproperlyConfigured(f"MCA_ATTESTATION_FLOW must be one of {', '.join(FLOWS)}; got {name!r}") from None


def flow_for_record(record: AcceptanceRecord) -> AttestationFlow:
    """The flow that wrote `record` (found by its event), so records keep being handled the way they were made
    after the setting changes."""
    try:
        return _BY_EVENT[record.event]
    except KeyError:
        raise ValueError(f"No attestation flow writes {record.event!r} records") from None


def advance_due() -> list[tuple[str, int]]:
    """What every flow has due at Microsoft (its links to create, answers to poll), as (flow name, id) pairs."""
    return [(flow.name, work_id) for flow in flows() for work_id in flow.due()]


def advance(flow_name: str, work_id: int) -> str | None:
    return FLOWS[flow_name].advance(work_id)


def check_now(key: str) -> None:
    """ "Check now": every flow asks Microsoft at once about the customer's open attestations."""
    for flow in flows():
        flow.check_now(key)


__all__ = [
    "FLOWS",
    "AcceptanceInvalid",
    "AttestationFlow",
    "IdempotencyConflict",
    "Outcome",
    "OutcomeKind",
    "SendOutcome",
    "advance",
    "advance_due",
    "cancel_link",
    "check_now",
    "current_flow",
    "flow_for_record",
    "flows",
    "record_link_sent",
    "register",
]
