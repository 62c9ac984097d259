"""Integrity checks run as a job: recorded, audited, and executed by a real Celery worker."""

from __future__ import annotations

import signal
import socket
import time
import uuid
from pathlib import Path

import pytest
from billiard.context import Process
from celery import Celery
from celery.contrib.testing.worker import start_worker
from django.db import connection, transaction
from kombu import Queue

from bankmall.core.actions import run_integrity_checks
from bankmall.core.audit import record_audit
from bankmall.core.models import AuditRecord, IntegrityRun, OutboxEvent
from bankmall.core.tasks import run_scheduled_integrity_checks
from bankmall.jobs import app as project_app
from bankmall.jobs import stop_children

WAIT_SECONDS = 30


def _reachable(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1):
            return True
    except OSError:
        return False


@pytest.mark.django_db
def test_a_check_run_is_recorded_audited_and_announced() -> None:
    results, run = run_integrity_checks(actor="tester")

    assert run is not None
    assert run.passed is True
    assert [item["name"] for item in run.results] == [result.name for result in results]
    assert AuditRecord.objects.filter(action="core.integrity_checked").count() == 1
    assert OutboxEvent.objects.filter(event_type="integrity.checked").count() == 1


@pytest.mark.django_db
def test_a_failing_check_is_recorded_as_failed() -> None:
    with transaction.atomic():
        record_audit("test.thing_changed", actor="tester")
    with connection.cursor() as cursor:
        cursor.execute("UPDATE core_auditrecord SET actor = 'mallory'")

    _results, run = run_integrity_checks(actor="tester")

    assert run is not None
    assert run.passed is False
    failed = [item for item in run.results if item["problems"]]
    assert [item["name"] for item in failed] == ["audit_chain"]


def test_the_schedule_runs_the_checks_nightly() -> None:
    entry = project_app.conf.beat_schedule["integrity-checks"]

    assert entry["task"] == run_scheduled_integrity_checks.name
    assert entry["schedule"].hour == {2}
    assert entry["schedule"].minute == {30}


def _job_app(broker_url: str, **options: object) -> Celery:
    app = Celery("bankmall-test", broker=broker_url, set_as_current=False)
    queue = f"bankmall-test-{uuid.uuid4().hex}"
    app.conf.update(
        # A queue of this run's own: other test runs on the same broker must not take its jobs.
        task_default_queue=queue,
        task_queues=[Queue(queue, auto_delete=True)],
        task_acks_late=True,
        result_backend=None,
        broker_transport_options=options,
        broker_connection_retry_on_startup=True,
    )
    return app


def _wait_for_run() -> IntegrityRun:
    deadline = time.monotonic() + WAIT_SECONDS
    while time.monotonic() < deadline:
        run = IntegrityRun.objects.filter(triggered_by="job:integrity-checks").first()
        if run is not None:
            return run
        time.sleep(0.2)
    raise AssertionError(f"no integrity run recorded within {WAIT_SECONDS} s")


@pytest.fixture
def embedded_app(tmp_path: Path) -> Celery:
    queue = tmp_path / "queue"
    queue.mkdir()
    return _job_app(
        "filesystem://",
        data_folder_in=str(queue),
        data_folder_out=str(queue),
        control_folder=str(tmp_path / "control"),
    )


def _run_job_through(app: Celery) -> IntegrityRun:
    with start_worker(app, pool="solo", perform_ping_check=False, shutdown_timeout=10):
        app.send_task(run_scheduled_integrity_checks.name)
        return _wait_for_run()


@pytest.mark.django_db(transaction=True)
def test_a_worker_runs_the_job_from_the_embedded_file_queue(embedded_app: Celery) -> None:
    run = _run_job_through(embedded_app)

    assert run.passed is True


@pytest.mark.skipif(not _reachable(5672), reason="needs RabbitMQ at 127.0.0.1:5672")
@pytest.mark.django_db(transaction=True)
def test_a_worker_runs_the_job_through_rabbitmq() -> None:
    run = _run_job_through(_job_app("amqp://guest:guest@127.0.0.1:5672//"))

    assert run.passed is True


@pytest.mark.skipif(not _reachable(6379), reason="needs Redis at 127.0.0.1:6379")
@pytest.mark.django_db(transaction=True)
def test_a_worker_runs_the_job_through_redis() -> None:
    run = _run_job_through(_job_app("redis://127.0.0.1:6379/13"))

    assert run.passed is True


def _ignore_sigterm_then_sleep(seconds: float) -> None:
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    time.sleep(seconds)


def test_stop_children_waits_for_a_child_that_exits_and_kills_one_that_does_not() -> None:
    prompt = Process(target=time.sleep, args=(0.3,))
    stubborn = Process(target=_ignore_sigterm_then_sleep, args=(60,))
    prompt.start()
    stubborn.start()

    killed = stop_children(timeout=2)

    assert killed == 1
    assert not prompt.is_alive()
    assert prompt.exitcode == 0
    assert not stubborn.is_alive()
    assert stubborn.exitcode == -signal.SIGKILL
