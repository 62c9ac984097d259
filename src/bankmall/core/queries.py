"""Reads over core's tables for dashboards and operations."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from django.db.models import Count, Min
from django.db.models.functions import TruncDate
from django.utils import timezone

from bankmall.core.models import (
    AuditRecord,
    BusinessDay,
    BusinessDayStatus,
    EodStepRun,
    IntegrityRun,
    OutboxEvent,
)
from bankmall.core.outbox import announced_since, waiting_announced

DAYS_MAX = 366


@dataclass(frozen=True, slots=True)
class DailyCount:
    day: dt.date
    count: int


@dataclass(frozen=True, slots=True)
class OutboxStatus:
    waiting: int
    oldest_waiting_at: dt.datetime | None
    published_last_day: int


def audit_activity_by_day(*, days: int, today: dt.date) -> list[DailyCount]:
    """Audit records per day (in the active time zone) for the ``days`` days ending ``today``.

    Days without records are included with a zero, so charts have no gaps.
    """
    days = max(1, min(days, DAYS_MAX))
    first_day = today - dt.timedelta(days=days - 1)
    zone = timezone.get_current_timezone()
    start = dt.datetime.combine(first_day, dt.time.min, tzinfo=zone)
    rows = (
        AuditRecord.objects.filter(occurred_at__gte=start)
        .annotate(day=TruncDate("occurred_at", tzinfo=zone))
        .values("day")
        .annotate(count=Count("id"))
    )
    counts = {row["day"]: row["count"] for row in rows}
    return [
        DailyCount(
            day=first_day + dt.timedelta(days=offset),
            count=counts.get(first_day + dt.timedelta(days=offset), 0),
        )
        for offset in range(days)
    ]


def outbox_status(*, now: dt.datetime) -> OutboxStatus:
    """How many events wait for the relay, since when, and how many it published in a day:
    outbox rows published in the last day, and the events announced by audit records of the
    last day that are no longer waiting."""
    waiting = OutboxEvent.objects.filter(published_at__isnull=True).aggregate(
        count=Count("id"), oldest=Min("created_at")
    )
    day_ago = now - dt.timedelta(days=1)
    published = OutboxEvent.objects.filter(published_at__gte=day_ago).count()
    announced_waiting, announced_oldest = waiting_announced()
    oldest = min(
        (moment for moment in (waiting["oldest"], announced_oldest) if moment is not None),
        default=None,
    )
    published += announced_since(day_ago) - waiting_announced(since=day_ago)[0]
    return OutboxStatus(
        waiting=waiting["count"] + announced_waiting,
        oldest_waiting_at=oldest,
        published_last_day=published,
    )


def latest_integrity_run() -> IntegrityRun | None:
    """The most recent recorded run of the integrity checks, if any."""
    return IntegrityRun.objects.order_by("-finished_at").first()


@dataclass(frozen=True, slots=True)
class EndOfDayStatus:
    open_business_date: dt.date | None
    last_closed: BusinessDay | None
    recent_steps: list[EodStepRun]

    @property
    def failed_steps(self) -> list[EodStepRun]:
        """Failed steps of the open date: the end of day is stuck until they succeed."""
        return [
            run
            for run in self.recent_steps
            if run.status == "failed" and run.business_date == self.open_business_date
        ]


def end_of_day_status(*, recent: int = 10) -> EndOfDayStatus:
    """The open business date, the last closed one and the latest step runs."""
    open_day = BusinessDay.objects.filter(status=BusinessDayStatus.OPEN).first()
    last_closed = (
        BusinessDay.objects.filter(status=BusinessDayStatus.CLOSED)
        .order_by("-business_date")
        .first()
    )
    steps = list(EodStepRun.objects.order_by("-finished_at", "-id")[:recent])
    return EndOfDayStatus(
        open_business_date=open_day.business_date if open_day else None,
        last_closed=last_closed,
        recent_steps=steps,
    )
