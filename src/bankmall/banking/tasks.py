"""Scheduled jobs of banking (run by ``bankmall worker --beat``; see ``bankmall/jobs.py``)."""

from __future__ import annotations

from celery import shared_task

from bankmall.banking.actions import purge_api_idempotency_records


@shared_task(name="banking.purge_api_idempotency_records", acks_late=True)
def purge_expired_api_idempotency_records() -> int:
    """Delete replayable API responses older than ``API_IDEMPOTENCY_RETENTION_DAYS``."""
    return purge_api_idempotency_records(actor="job:api-idempotency-cleanup")
