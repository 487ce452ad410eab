"""Managing webhook subscriptions, scoped like every BSS object: CSP staff (and administrators) manage every
subscription, a reseller's users (reseller and white-label BSS roles) only their reseller's; nobody else any. A
reseller's subscription receives only its own customers' events (`webhooks.events.emit`)."""

from __future__ import annotations

import base64
import secrets
from collections.abc import Iterable
from typing import Any

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser, AnonymousUser
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.validators import URLValidator
from django.db.models import QuerySet

from bss.choices import Role
from bss.models import Membership, Reseller
from webhooks.delivery import replay
from webhooks.models import EventType, Message, Subscription

CSP_ROLES = (Role.CSP_BSS, Role.ADMIN)
RESELLER_ROLES = (Role.RESELLER, Role.WHITE_LABEL_BSS)


def new_secret() -> str:
    """A Standard Webhooks secret: "whsec_" and 32 random bytes in base64."""
    return "whsec_" + base64.b64encode(secrets.token_bytes(32)).decode()


def is_csp(user: AbstractBaseUser | AnonymousUser) -> bool:
    if not user.is_authenticated or not user.is_active:
        return False
    membership = Membership.of(user)
    return user.is_superuser or (membership is not None and membership.role in CSP_ROLES)


def own_reseller_id(user: AbstractBaseUser | AnonymousUser) -> int | None:
    """The reseller whose subscriptions this user manages, or None (CSP staff, or nobody)."""
    if not user.is_authenticated or not user.is_active:
        return None
    membership = Membership.of(user)
    if membership is not None and membership.role in RESELLER_ROLES:
        return membership.reseller_id
    return None


def may_manage(user: AbstractBaseUser | AnonymousUser) -> bool:
    return is_csp(user) or own_reseller_id(user) is not None


def subscriptions_visible_to(user: AbstractBaseUser | AnonymousUser) -> QuerySet[Subscription]:
    if is_csp(user):
        return Subscription.objects.all()
    reseller_id = own_reseller_id(user)
    if reseller_id is None:
        return Subscription.objects.none()
    return Subscription.objects.filter(reseller_id=reseller_id)


def messages_visible_to(user: AbstractBaseUser | AnonymousUser) -> QuerySet[Message]:
    """The delivery log a user may read: its subscriptions' messages."""
    return Message.objects.filter(subscription__in=subscriptions_visible_to(user))


def clean_url(url: str) -> str:
    URLValidator(schemes=["https", "http"] if settings.WEBHOOKS_ALLOW_HTTP else ["https"])(url)
    return url


def clean_event_types(event_types: Any) -> list[str]:
    """A non-empty list of known event types (sorted, once each); ValidationError otherwise."""
    if not isinstance(event_types, list | tuple) or not event_types:
        raise ValidationError(f"Choose at least one event type: {', '.join(EventType.values)}.")
    unknown = sorted({str(t) for t in event_types} - set(EventType.values))
    if unknown:
        raise ValidationError(f"Unknown event type: {', '.join(unknown)}.")
    return sorted(set(event_types))


def create_subscription(
    *,
    actor: AbstractBaseUser,
    url: str,
    event_types: Iterable[str],
    description: str = "",
    reseller: Reseller | None = None,
) -> Subscription:
    """A new subscription with a new secret (returned on the object: show it once). A reseller's user always
    subscribes for its own reseller (`reseller` must be empty or its own); CSP staff for every customer, or for one
    reseller's. Raises PermissionDenied, ValidationError (nothing written)."""
    if not may_manage(actor):
        raise PermissionDenied("You may not manage webhook subscriptions.")
    if not is_csp(actor):
        own = own_reseller_id(actor)
        if reseller is not None and reseller.pk != own:
            raise PermissionDenied("You may subscribe to your own customers' events only.")
        reseller = Reseller.objects.get(pk=own)
    try:
        clean_url(url)
    except ValidationError as error:
        raise ValidationError({"url": error.messages}) from error
    try:
        types = clean_event_types(list(event_types))
    except ValidationError as error:
        raise ValidationError({"event_types": error.messages}) from error
    return Subscription.objects.create(
        url=url,
        event_types=types,
        description=description,
        reseller=reseller,
        secret=new_secret(),
        created_by=actor,
    )


def update_subscription(*, actor: AbstractBaseUser, subscription: Subscription, **changes: Any) -> Subscription:
    """Change url, event_types, description or is_active (enabling clears the reason it was disabled)."""
    if not subscriptions_visible_to(actor).filter(pk=subscription.pk).exists():
        raise PermissionDenied("You may not manage this subscription.")
    if "url" in changes:
        try:
            subscription.url = clean_url(changes["url"])
        except ValidationError as error:
            raise ValidationError({"url": error.messages}) from error
    if "event_types" in changes:
        try:
            subscription.event_types = clean_event_types(changes["event_types"])
        except ValidationError as error:
            raise ValidationError({"event_types": error.messages}) from error
    if "description" in changes:
        subscription.description = changes["description"]
    if "is_active" in changes:
        subscription.is_active = bool(changes["is_active"])
        if subscription.is_active:
            subscription.disabled_reason = ""
    subscription.save()
    return subscription


def replay_messages(*, actor: AbstractBaseUser, messages: Iterable[Message]) -> list[Message]:
    """Replay messages the actor may see (others: PermissionDenied). Raises delivery.ReplayRefused."""
    messages = list(messages)
    visible = set(messages_visible_to(actor).filter(pk__in=[m.pk for m in messages]).values_list("pk", flat=True))
    if any(message.pk not in visible for message in messages):
        raise PermissionDenied("You may not replay these messages.")
    return replay(messages)
