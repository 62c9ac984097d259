"""State changes of core's own tables."""

from __future__ import annotations

import datetime as dt

from django.db import transaction
from django.utils import timezone

from bankmall.core.audit import record_audit
from bankmall.core.integrity import CheckResult, run_checks
from bankmall.core.models import IntegrityRun
from bankmall.core.outbox import record_event


def run_integrity_checks(*, actor: str) -> tuple[list[CheckResult], IntegrityRun | None]:
    """Run every integrity check and record the outcome.

    Effects: when the schema is current, one ``IntegrityRun`` row, one audit record
    (``core.integrity_checked``) and one ``integrity.checked`` event; on an unmigrated database
    nothing is written (the tables may not exist) and the run is returned as ``None``.
    """
    started_at = timezone.now()
    results = run_checks()
    if results and results[0].name == "migrations" and not results[0].passed:
        return results, None
    return results, _record_run(results, started_at=started_at, actor=actor)


def _record_run(results: list[CheckResult], *, started_at: dt.datetime, actor: str) -> IntegrityRun:
    passed = all(result.passed for result in results)
    with transaction.atomic():
        run = IntegrityRun.objects.create(
            started_at=started_at,
            finished_at=timezone.now(),
            passed=passed,
            results=[{"name": r.name, "problems": r.problems} for r in results],
            triggered_by=actor,
        )
        failed = [result.name for result in results if not result.passed]
        record_audit(
            "core.integrity_checked",
            target=run.public_id,
            details={"passed": passed, "failed_checks": failed},
            actor=actor,
        )
        record_event(
            "integrity.checked",
            aggregate_id=run.public_id,
            payload={"passed": passed, "failed_checks": failed},
        )
    return run
