"""Scheduled jobs of core (run by ``bankmall worker``; see ``bankmall/jobs.py``)."""

from __future__ import annotations

import logging

from celery import shared_task
from django.utils import timezone

from bankmall.core.actions import open_business_day, run_end_of_day, run_integrity_checks

logger = logging.getLogger(__name__)


@shared_task(name="core.run_integrity_checks", acks_late=True)
def run_scheduled_integrity_checks() -> str:
    """Run every integrity check and record the run; logs an error when one fails."""
    _results, run = run_integrity_checks(actor="job:integrity-checks")
    if run is None:
        logger.error("integrity checks skipped: the database schema is not migrated")
        return "skipped"
    if not run.passed:
        logger.error("integrity checks FAILED: %s", run.results)
    return run.public_id


@shared_task(name="core.run_end_of_day", acks_late=True)
def run_scheduled_end_of_day() -> str:
    """Close the open business date if it is today or earlier (never run ahead of the calendar).

    A manual ``bankmall eod --date`` may have moved the business date past today; then the
    scheduled run has nothing to do. A failed step is logged and retried by the next run.
    """
    today = timezone.localdate()
    if open_business_day().business_date > today:
        return "ahead"
    report = run_end_of_day(through=today, actor="job:end-of-day")
    return ",".join(day.isoformat() for day in report.closed) or "nothing"
