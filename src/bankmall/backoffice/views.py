"""The staff console's pages. Each view is guarded by ``staff_view`` (default deny) and is
read-only unless it calls an action."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils import timezone
from django.utils.formats import date_format
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET

from bankmall.core.charts import Point, bar_chart
from bankmall.core.queries import (
    audit_activity_by_day,
    end_of_day_status,
    latest_integrity_run,
    outbox_status,
)
from bankmall.security.access import staff_view

ACTIVITY_DAYS = 14


@require_GET
@staff_view("security.access_backoffice")
def dashboard(request: HttpRequest) -> HttpResponse:
    """System overview: audit activity per day and the event relay's backlog."""
    now = timezone.now()
    activity = audit_activity_by_day(days=ACTIVITY_DAYS, today=timezone.localdate(now))
    chart = bar_chart(
        [Point(label=date_format(item.day, "m-d"), value=item.count) for item in activity],
        title=_("Audited actions per day"),
        description=_("Audited actions per day over the last %(days)d days")
        % {"days": ACTIVITY_DAYS},
    )
    context = {
        "activity_chart": chart,
        "activity_total": sum(item.count for item in activity),
        "activity_days": ACTIVITY_DAYS,
        "outbox": outbox_status(now=now),
        "integrity_run": latest_integrity_run(),
        "eod": end_of_day_status(),
    }
    return render(request, "backoffice/dashboard.html", context)
