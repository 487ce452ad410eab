"""What the API keeps of its own: the first answer to each idempotent POST (Stripe's idempotency keys)."""

from __future__ import annotations

from django.conf import settings
from django.core.serializers.json import DjangoJSONEncoder
from django.db import models
from django.utils import timezone


class IdempotentResponse(models.Model):
    """The first answer to a POST sent with an `Idempotency-Key`, replayed for the same key and body.

    Scoped to the user (two clients may pick the same key), kept for API_IDEMPOTENCY_TTL_HOURS. A row without a
    status is a request still running: a concurrent retry with its key is told so instead of running twice.
    """

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    key = models.CharField(max_length=100)
    request_hash = models.CharField(max_length=64, help_text="SHA-256 of the method, path and JSON body.")
    status_code = models.PositiveSmallIntegerField(null=True, blank=True)
    body = models.JSONField(null=True, blank=True, encoder=DjangoJSONEncoder)
    created_at = models.DateTimeField(default=timezone.now, db_index=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["user", "key"], name="api_idempotency_one_per_user_key")]

    def __str__(self) -> str:
        return f"{self.key} ({self.status_code or 'running'})"
