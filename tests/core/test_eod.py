"""End of day: steps run once per business date, in order; a failure resumes where it stopped."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator

import pytest
from django.db import connection, transaction
from django.test import Client
from django.utils import timezone

from bankmall.core.actions import EOD_MAX_DAYS, open_business_day, run_end_of_day
from bankmall.core.audit import record_audit
from bankmall.core.eod import (
    StepProgress,
    StepSummary,
    register_eod_step,
    registered_eod_steps,
    unregister_eod_step,
)
from bankmall.core.errors import EndOfDayFailed, InvalidInput
from bankmall.core.models import AuditRecord, BusinessDay, EodStepRun, OutboxEvent
from bankmall.core.tasks import run_scheduled_end_of_day
from bankmall.jobs import app as project_app
from bankmall.security.models import UserKind
from tests.signed_in import make_user, sign_in

pytestmark = pytest.mark.django_db

START = dt.date(2026, 3, 30)


class Steps:
    """Two test steps around core's integrity step; ``fail_on`` makes the second one fail."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, dt.date]] = []
        self.fail_on: dt.date | None = None

    def first(self, business_date: dt.date, progress: StepProgress) -> StepSummary:
        self.calls.append(("first", business_date))
        record_audit("test.first_step_ran", target=business_date.isoformat(), actor="tester")
        progress(1, 1)
        return {"accounts": 3}

    def second(self, business_date: dt.date, progress: StepProgress) -> StepSummary:
        self.calls.append(("second", business_date))
        # Work the step does before it fails must vanish with the failure.
        record_audit("test.second_step_ran", target=business_date.isoformat(), actor="tester")
        if business_date == self.fail_on:
            raise RuntimeError("interest plan missing\nfor account 42")
        return {"orders": 1}


@pytest.fixture
def steps() -> Iterator[Steps]:
    registered = Steps()
    register_eod_step("test_first", registered.first, order=10, description="first")
    register_eod_step("test_second", registered.second, order=20, description="second")
    yield registered
    unregister_eod_step("test_first")
    unregister_eod_step("test_second")


@pytest.fixture
def day_open() -> BusinessDay:
    return BusinessDay.objects.create(business_date=START, opened_at=timezone.now())


def _count(action: str) -> int:
    return AuditRecord.objects.filter(action=action).count()


def test_the_first_business_date_is_today() -> None:
    assert open_business_day().business_date == timezone.localdate()
    assert BusinessDay.objects.count() == 1


def test_end_of_day_runs_each_step_in_order_and_opens_the_next_date(
    steps: Steps, day_open: BusinessDay
) -> None:
    seen: list[tuple[str, int, int]] = []

    report = run_end_of_day(actor="tester", progress=lambda *args: seen.append(args))

    assert steps.calls == [("first", START), ("second", START)]
    # Apps register steps of their own (banking, ledger); the test's run first, integrity last.
    expected = [(step.name, "done") for step in registered_eod_steps()]
    assert [(step, outcome) for _day, step, outcome, _ in report.steps] == expected
    assert expected[:2] == [("test_first", "done"), ("test_second", "done")]
    assert expected[-1] == ("integrity_checks", "done")
    assert report.closed == [START]
    assert open_business_day().business_date == START + dt.timedelta(days=1)
    assert BusinessDay.objects.get(business_date=START).status == "closed"
    assert ("2026-03-30 test_first", 1, 1) in seen
    assert _count("core.eod_step_completed") == len(expected)
    assert _count("core.eod_completed") == 1
    event = OutboxEvent.objects.get(event_type="eod.completed")
    assert event.payload["next_business_date"] == "2026-03-31"


def test_a_second_run_for_a_closed_date_changes_nothing(
    steps: Steps, day_open: BusinessDay
) -> None:
    run_end_of_day(actor="tester")
    audit_before = AuditRecord.objects.count()
    events_before = OutboxEvent.objects.count()

    report = run_end_of_day(through=START, actor="tester")

    assert report.already_closed == [START]
    assert report.closed == []
    assert len(steps.calls) == 2
    assert AuditRecord.objects.count() == audit_before
    assert OutboxEvent.objects.count() == events_before
    assert open_business_day().business_date == START + dt.timedelta(days=1)


def test_catching_up_closes_every_date_in_order(steps: Steps, day_open: BusinessDay) -> None:
    report = run_end_of_day(through=START + dt.timedelta(days=2), actor="tester")

    assert report.closed == [START + dt.timedelta(days=n) for n in range(3)]
    assert [day for name, day in steps.calls if name == "first"] == report.closed
    assert open_business_day().business_date == START + dt.timedelta(days=3)
    assert BusinessDay.objects.filter(status="open").count() == 1


def test_a_failed_step_keeps_nothing_of_its_work_and_a_rerun_resumes_there(
    steps: Steps, day_open: BusinessDay
) -> None:
    steps.fail_on = START

    with pytest.raises(EndOfDayFailed, match="step test_second failed: interest plan missing"):
        run_end_of_day(actor="tester")

    failed = EodStepRun.objects.get(step="test_second")
    assert (failed.status, failed.attempts) == ("failed", 1)
    assert failed.error == "interest plan missing for account 42"
    assert _count("test.second_step_ran") == 0
    assert _count("test.first_step_ran") == 1
    assert _count("core.eod_step_failed") == 1
    assert open_business_day().business_date == START
    assert not OutboxEvent.objects.filter(event_type="eod.completed").exists()

    steps.fail_on = None
    report = run_end_of_day(actor="tester")

    assert [(step, outcome) for _day, step, outcome, _ in report.steps][:2] == [
        ("test_first", "skipped"),
        ("test_second", "done"),
    ]
    assert _count("test.first_step_ran") == 1
    done = EodStepRun.objects.get(step="test_second")
    assert (done.status, done.attempts, done.error) == ("done", 2, "")
    assert report.closed == [START]


def test_a_broken_audit_chain_keeps_the_day_open(day_open: BusinessDay) -> None:
    with transaction.atomic():
        record_audit("test.thing_changed", actor="tester")
    with connection.cursor() as cursor:
        cursor.execute("UPDATE core_auditrecord SET actor = 'mallory'")

    with pytest.raises(EndOfDayFailed, match="integrity check audit_chain failed"):
        run_end_of_day(actor="tester")

    assert open_business_day().business_date == START
    assert EodStepRun.objects.get(step="integrity_checks").status == "failed"


def test_too_many_dates_at_once_are_refused_and_change_nothing(day_open: BusinessDay) -> None:
    with pytest.raises(InvalidInput, match="refusing to close"):
        run_end_of_day(through=START + dt.timedelta(days=EOD_MAX_DAYS), actor="tester")

    assert BusinessDay.objects.count() == 1
    assert not EodStepRun.objects.exists()
    assert AuditRecord.objects.count() == 0


def test_the_schedule_closes_today_but_never_runs_ahead_of_the_calendar() -> None:
    entry = project_app.conf.beat_schedule["end-of-day"]
    assert entry["task"] == run_scheduled_end_of_day.name
    assert entry["schedule"].hour == {22}

    today = timezone.localdate()
    assert run_scheduled_end_of_day() == today.isoformat()
    assert open_business_day().business_date == today + dt.timedelta(days=1)
    assert run_scheduled_end_of_day() == "ahead"


def test_the_back_office_shows_the_business_date_and_a_stuck_step(
    client: Client, steps: Steps, day_open: BusinessDay
) -> None:
    steps.fail_on = START
    with pytest.raises(EndOfDayFailed):
        run_end_of_day(actor="tester")
    sign_in(client, make_user("ops.wang", kind=UserKind.STAFF, roles=("teller",)))

    page = client.get("/backoffice/").content.decode()

    assert "Open business date: 2026-03-30." in page
    assert "The end of day is stopped at a failed step." in page
    assert "interest plan missing for account 42" in page
