"""The ledger's end-of-day step: release the reservations of pending transfers that expired."""

from __future__ import annotations

import datetime as dt
from typing import Final

from django.utils import timezone

from bankmall.core.eod import StepProgress, StepSummary
from bankmall.ledger.actions import EXPIRE_BATCH_MAX, expire_pending_transfers

ROUNDS_MAX: Final = 1_000


def expire_pending(business_date: dt.date, progress: StepProgress) -> StepSummary:
    """Expire every pending transfer whose timeout passed by the end of ``business_date``
    (and not after now), ``EXPIRE_BATCH_MAX`` per transaction savepoint."""
    end_of_day = dt.datetime.combine(business_date + dt.timedelta(days=1), dt.time.min, dt.UTC)
    cutoff = min(timezone.now(), end_of_day)
    expired = 0
    for _round in range(ROUNDS_MAX):
        written = expire_pending_transfers(now=cutoff, limit=EXPIRE_BATCH_MAX, actor="system:eod")
        expired += len(written)
        progress(expired, expired)
        if len(written) < EXPIRE_BATCH_MAX:
            break
    return {"expired": expired}
