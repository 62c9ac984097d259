"""Scheduled jobs of core (run by ``bankmall worker``; see ``bankmall/jobs.py``)."""

from __future__ import annotations

import logging

from celery import shared_task

from bankmall.core.actions import run_integrity_checks

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
