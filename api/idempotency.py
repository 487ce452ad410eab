"""`Idempotency-Key` on POST (Stripe's semantics): the first answer for a key is stored and replayed for the same
key and body; the same key with another body is refused (422); a key whose first request is still running is
refused (409) rather than run twice. Keys are per user and expire after API_IDEMPOTENCY_TTL_HOURS.

Answers to requests that never reached the operation (401, 403, 429) and server errors are not stored, so a retry
runs again.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from datetime import timedelta
from functools import wraps
from typing import Any

from django.conf import settings
from django.db import DataError, IntegrityError, transaction
from django.utils import timezone
from rest_framework import exceptions
from rest_framework.request import Request
from rest_framework.response import Response

from api.errors import PROBLEM_CONTENT_TYPE, IdempotencyKeyInUse, IdempotencyKeyReused
from api.models import IdempotentResponse

HEADER = "Idempotency-Key"
MAX_KEY_LENGTH = 100
NOT_STORED = frozenset({401, 403, 429})
REPLAYED_HEADER = "Idempotent-Replayed"


def ttl() -> timedelta:
    return timedelta(hours=getattr(settings, "API_IDEMPOTENCY_TTL_HOURS", 24))


def request_hash(request: Request) -> str:
    body = json.dumps(request.data, sort_keys=True, separators=(",", ":"), default=str)
    text = f"{request.method} {request.get_full_path()}\n{body}"
    return hashlib.sha256(text.encode()).hexdigest()


def idempotency_key(request: Request) -> str | None:
    key = request.headers.get(HEADER)
    if key is None:
        return None
    key = key.strip()
    if not key or len(key) > MAX_KEY_LENGTH or not key.isprintable():
        raise exceptions.ValidationError(
            {HEADER: [f"An idempotency key is 1 to {MAX_KEY_LENGTH} printable characters (a UUID is best)."]}
        )
    return key


def in_progress_lease() -> timedelta:
    """How long a key's first request may be "still running": longer than any request lives (gunicorn's worker
    timeout is 60 s). An older unanswered key was left by a request that died (worker killed, database connection
    lost before it could release the key) and is taken over by the next request: the services' own idempotency
    key (`service_key`) keeps the rerun from writing twice."""
    return timedelta(seconds=settings.API_IDEMPOTENCY_IN_PROGRESS_SECONDS)


def service_key(request: Request) -> str | None:
    """The key handed to the services (the gate, place_order): namespaced per user, so two clients choosing the
    same key never meet in the services' own idempotency."""
    key = idempotency_key(request)
    if key is None:
        return None
    return "api:" + hashlib.sha256(f"{request.user.pk}:{key}".encode()).hexdigest()[:64]


def purge_expired() -> int:
    """Forget answers older than the time to live (also run on each use of an expired key)."""
    deleted, _ = IdempotentResponse.objects.filter(created_at__lt=timezone.now() - ttl()).delete()
    return deleted


def _replay(row: IdempotentResponse) -> Response:
    content_type = PROBLEM_CONTENT_TYPE if row.status_code >= 400 else None
    return Response(row.body, status=row.status_code, headers={REPLAYED_HEADER: "true"}, content_type=content_type)


def idempotent(handler: Callable[..., Response]) -> Callable[..., Response]:
    """Wrap a DRF view's `post` (it runs after authentication, permissions and throttling)."""

    @wraps(handler)
    def wrapper(view: Any, request: Request, *args: Any, **kwargs: Any) -> Response:
        key = idempotency_key(request)
        if key is None:
            return handler(view, request, *args, **kwargs)
        fingerprint = request_hash(request)
        IdempotentResponse.objects.filter(user=request.user, key=key, created_at__lt=timezone.now() - ttl()).delete()
        try:
            with transaction.atomic():
                row = IdempotentResponse.objects.create(user=request.user, key=key, request_hash=fingerprint)
        except IntegrityError:
            row = IdempotentResponse.objects.get(user=request.user, key=key)
            if row.request_hash != fingerprint:
                raise IdempotencyKeyReused() from None
            if row.status_code is not None:
                return _replay(row)
            now = timezone.now()
            abandoned = IdempotentResponse.objects.filter(
                pk=row.pk, status_code__isnull=True, created_at__lt=now - in_progress_lease()
            )
            if not abandoned.update(created_at=now):
                raise IdempotencyKeyInUse() from None
        try:
            try:
                response = handler(view, request, *args, **kwargs)
            except Exception as exc:  # the answer the client gets (a problem), stored like any other
                response = view.handle_exception(exc)
        except Exception:
            row.delete()
            raise
        if response.status_code >= 500 or response.status_code in NOT_STORED:
            row.delete()
        else:
            row.status_code = response.status_code
            row.body = response.data
            try:
                with transaction.atomic():
                    row.save(update_fields=["status_code", "body"])
            except DataError:
                # A problem echoing what the client sent can hold text PostgreSQL's jsonb refuses (a NUL, a lone
                # surrogate): such an answer is not kept; a retry with the key gets the same refusal afresh.
                row.delete()
        return response

    return wrapper
