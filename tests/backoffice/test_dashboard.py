"""The back-office dashboard is for staff only and shows activity as a chart."""

from __future__ import annotations

import datetime as dt

import pytest
from django.db import transaction
from django.test import Client
from django.utils import timezone

from bankmall.core.actions import run_integrity_checks
from bankmall.core.audit import record_audit
from bankmall.core.models import AuditRecord
from bankmall.core.outbox import announce, record_event
from bankmall.core.queries import audit_activity_by_day, outbox_status
from bankmall.core.relay import Event, relay_once
from bankmall.security.models import UserKind
from tests.signed_in import make_user, sign_in

pytestmark = pytest.mark.django_db


@pytest.fixture
def staff_client(client: Client) -> Client:
    user = make_user("ops.li", kind=UserKind.STAFF, roles=("teller",))
    return sign_in(client, user)


def test_anonymous_visitors_are_sent_to_sign_in(client: Client) -> None:
    response = client.get("/backoffice/")

    assert response.status_code == 302
    assert response["Location"] == "/login/?next=/backoffice/"


def test_customers_are_refused(client: Client) -> None:
    sign_in(client, make_user("zhang.san"))

    response = client.get("/backoffice/")

    assert response.status_code == 403


def test_staff_without_a_verified_second_factor_are_sent_to_sign_in(client: Client) -> None:
    client.force_login(make_user("ops.wu", kind=UserKind.STAFF, roles=("teller",)))

    response = client.get("/backoffice/")

    assert response.status_code == 302


def test_staff_without_a_role_are_refused(client: Client) -> None:
    sign_in(client, make_user("ops.zhao", kind=UserKind.STAFF))

    response = client.get("/backoffice/")

    assert response.status_code == 403


def test_staff_see_activity_chart_and_relay_backlog(staff_client: Client) -> None:
    with transaction.atomic():
        record_audit("test.thing_changed", actor="tester")
        record_event("thing.created", payload={})

    response = staff_client.get("/backoffice/", HTTP_ACCEPT_LANGUAGE="zh-CN")

    html = response.content.decode()
    assert response.status_code == 200
    assert html.count("<rect") == 14
    assert "每日审计记录数" in html
    assert response.context["activity_total"] == 1
    assert response.context["outbox"].waiting == 1
    assert "尚未运行" in html


def test_staff_see_the_latest_integrity_run(staff_client: Client) -> None:
    run_integrity_checks(actor="tester")

    response = staff_client.get("/backoffice/")

    assert response.context["integrity_run"].passed is True
    assert 'class="stat stat-ok"' in response.content.decode()


def test_activity_by_day_fills_days_without_records_with_zero() -> None:
    with transaction.atomic():
        record_audit("test.thing_changed", actor="tester")
    today = timezone.localdate()

    activity = audit_activity_by_day(days=3, today=today)

    assert [item.day for item in activity] == [today - dt.timedelta(days=n) for n in (2, 1, 0)]
    assert [item.count for item in activity] == [0, 0, 1]


def test_outbox_status_counts_waiting_and_published_events() -> None:
    with transaction.atomic():
        record_event("thing.created", payload={})

    status = outbox_status(now=timezone.now())

    assert (status.waiting, status.published_last_day) == (1, 0)
    assert status.oldest_waiting_at is not None


class _Accepting:
    def publish(self, event: Event) -> None:
        return None

    def close(self) -> None:
        return None


def test_outbox_status_counts_events_announced_by_audit_records() -> None:
    with transaction.atomic():
        record_audit("test.thing_changed", actor="tester")  # announces nothing
        record_audit(
            "test.thing_made",
            details=announce({}, "thing.made", payload={}),
            actor="tester",
        )
        record_event("thing.created", payload={})
    published = outbox_status(now=timezone.now())
    relay_once(_Accepting())
    with transaction.atomic():
        record_audit(
            "test.thing_made",
            details=announce({}, "thing.made", payload={}),
            actor="tester",
        )

    status = outbox_status(now=timezone.now())
    days_later = outbox_status(now=timezone.now() + dt.timedelta(days=2))

    assert (published.waiting, published.published_last_day) == (2, 0)
    assert (status.waiting, status.published_last_day) == (1, 2)
    assert status.oldest_waiting_at == AuditRecord.objects.latest("id").occurred_at
    assert (days_later.waiting, days_later.published_last_day) == (1, 0)
