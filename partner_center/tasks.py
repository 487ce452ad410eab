"""Celery tasks of the Partner Center layer."""

from celery import shared_task


@shared_task(ignore_result=True)
def check_tokens_task() -> bool:
    """Beat (PARTNER_CENTER_TOKEN_CHECK_SECONDS): check the tokens, so the BSS banner reads a fresh result."""
    from partner_center.readiness import check_tokens

    return check_tokens().ok
