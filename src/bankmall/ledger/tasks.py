"""Scheduled jobs of the ledger (run by ``bankmall worker --beat``; see ``bankmall/jobs.py``)."""

from __future__ import annotations

from typing import Final

from celery import shared_task

from bankmall.ledger.actions import EXPIRE_BATCH_MAX, expire_pending_transfers

#: At most this many rounds of ``EXPIRE_BATCH_MAX`` per run; what is left waits for the next
#: run a minute later, so one run never holds a worker for long after a backlog.
ROUNDS_MAX: Final = 50


@shared_task(name="ledger.expire_pending_transfers", acks_late=True)
def expire_due_pending_transfers() -> int:
    """Release the reservations of pending transfers whose timeout passed; returns how many.

    Scheduled every minute (``CELERY_BEAT_SCHEDULE``), so a hold stops reducing the available
    balance within about a minute of its timeout; the end-of-day step expires whatever is left.
    A pending transfer posted or voided meanwhile is left to that action.
    """
    expired = 0
    for _round in range(ROUNDS_MAX):
        written = expire_pending_transfers(limit=EXPIRE_BATCH_MAX, actor="job:ledger-expiry")
        expired += len(written)
        if len(written) < EXPIRE_BATCH_MAX:
            break
    return expired
