"""State changes of core's own tables."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass, field

from django.db import transaction
from django.utils import timezone

from bankmall.core.audit import record_audit
from bankmall.core.eod import EodStep, registered_eod_steps
from bankmall.core.errors import EndOfDayFailed, InvalidInput
from bankmall.core.integrity import CheckResult, run_checks
from bankmall.core.models import (
    BusinessDay,
    BusinessDayStatus,
    EodStepRun,
    EodStepStatus,
    IntegrityRun,
)
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


# ---------------------------------------------------------------- end of day

#: The most business dates one ``run_end_of_day`` call closes (catching up after downtime).
EOD_MAX_DAYS = 400

EodProgress = Callable[[str, int, int], None]


@dataclass(slots=True)
class EodReport:
    """What one end-of-day call did: the dates it closed and each step's outcome."""

    closed: list[dt.date] = field(default_factory=list)
    already_closed: list[dt.date] = field(default_factory=list)
    steps: list[tuple[dt.date, str, str, dict[str, int | str]]] = field(default_factory=list)
    open_business_date: dt.date | None = None


def open_business_day() -> BusinessDay:
    """The open business day, opening today's (local date) the very first time."""
    day = BusinessDay.objects.filter(status=BusinessDayStatus.OPEN).first()
    if day is not None:
        return day
    with transaction.atomic():
        day, _created = BusinessDay.objects.get_or_create(
            status=BusinessDayStatus.OPEN,
            defaults={"business_date": timezone.localdate(), "opened_at": timezone.now()},
        )
    return day


def run_end_of_day(
    *, through: dt.date | None = None, actor: str, progress: EodProgress | None = None
) -> EodReport:
    """Close every open business date up to and including ``through`` (default: the open one).

    Each date runs the registered steps in order (see ``core.eod``); a step's work and its
    ``done`` record commit together, so a second call for a closed date changes nothing, and a
    call after a crash or a failure resumes at the first step not done. A failed step is
    recorded and audited and raises ``EndOfDayFailed``; the date stays open.

    Effects per closed date: one audit record per step (``core.eod_step_completed``), one
    ``core.eod_completed`` audit record and one ``eod.completed`` event; the next date opens.
    """
    report = EodReport()
    current = open_business_day()
    target = through or current.business_date
    if target < current.business_date:
        report.already_closed.append(target)
        report.open_business_date = current.business_date
        return report
    count = (target - current.business_date).days + 1
    if count > EOD_MAX_DAYS:
        raise InvalidInput(
            f"refusing to close {count} business dates in one run (the limit is {EOD_MAX_DAYS}); "
            f"the open business date is {current.business_date}"
        )
    steps = registered_eod_steps()
    for offset in range(count):
        business_date = current.business_date + dt.timedelta(days=offset)
        for step in steps:
            outcome = _run_step(step, business_date, actor=actor, progress=progress)
            report.steps.append((business_date, step.name, *outcome))
        _close_business_date(business_date, steps=steps, actor=actor)
        report.closed.append(business_date)
    report.open_business_date = target + dt.timedelta(days=1)
    return report


def _run_step(
    step: EodStep, business_date: dt.date, *, actor: str, progress: EodProgress | None
) -> tuple[str, dict[str, int | str]]:
    label = f"{business_date} {step.name}"

    def report(done: int, total: int) -> None:
        if progress is not None:
            progress(label, done, total)

    started_at = timezone.now()
    try:
        with transaction.atomic():
            # The open day's row is the end of day's lock: a second runner waits here and then
            # finds the step done.
            BusinessDay.objects.select_for_update().get(business_date=business_date)
            previous = EodStepRun.objects.filter(
                business_date=business_date, step=step.name
            ).first()
            if previous is not None and previous.status == EodStepStatus.DONE:
                return "skipped", previous.summary
            summary = step.function(business_date, report)
            attempts = (previous.attempts if previous else 0) + 1
            EodStepRun.objects.update_or_create(
                business_date=business_date,
                step=step.name,
                defaults={
                    "status": EodStepStatus.DONE,
                    "summary": summary,
                    "error": "",
                    "attempts": attempts,
                    "started_at": started_at,
                    "finished_at": timezone.now(),
                },
            )
            record_audit(
                "core.eod_step_completed",
                target=f"eod:{business_date.isoformat()}:{step.name}",
                details={"summary": summary, "attempts": attempts},
                actor=actor,
            )
    except Exception as error:  # any failure of any step is recorded, then raised
        message = " ".join(str(error).split()) or type(error).__name__
        _record_failed_step(step, business_date, message, started_at=started_at, actor=actor)
        raise EndOfDayFailed(
            f"end of day {business_date}: step {step.name} failed: {message}"
        ) from error
    return "done", summary


def _record_failed_step(
    step: EodStep, business_date: dt.date, message: str, *, started_at: dt.datetime, actor: str
) -> None:
    with transaction.atomic():
        previous = EodStepRun.objects.filter(business_date=business_date, step=step.name).first()
        EodStepRun.objects.update_or_create(
            business_date=business_date,
            step=step.name,
            defaults={
                "status": EodStepStatus.FAILED,
                "summary": {},
                "error": message[:2000],
                "attempts": (previous.attempts if previous else 0) + 1,
                "started_at": started_at,
                "finished_at": timezone.now(),
            },
        )
        record_audit(
            "core.eod_step_failed",
            target=f"eod:{business_date.isoformat()}:{step.name}",
            details={"error": message[:500]},
            actor=actor,
        )


def _close_business_date(business_date: dt.date, *, steps: list[EodStep], actor: str) -> None:
    with transaction.atomic():
        day = BusinessDay.objects.select_for_update().get(business_date=business_date)
        if day.status == BusinessDayStatus.CLOSED:
            return
        now = timezone.now()
        day.status = BusinessDayStatus.CLOSED
        day.closed_at = now
        day.save(update_fields=["status", "closed_at"])
        next_date = business_date + dt.timedelta(days=1)
        BusinessDay.objects.create(business_date=next_date, opened_at=now)
        names = [step.name for step in steps]
        record_audit(
            "core.eod_completed",
            target=f"eod:{business_date.isoformat()}",
            details={"steps": names, "next_business_date": next_date.isoformat()},
            actor=actor,
        )
        record_event(
            "eod.completed",
            aggregate_id=f"eod:{business_date.isoformat()}",
            payload={
                "business_date": business_date.isoformat(),
                "next_business_date": next_date.isoformat(),
                "steps": names,
            },
        )
