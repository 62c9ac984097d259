"""Audit lanes: concurrent connections append to their own chains, each verified on its own;
the export cursor is per lane."""

from __future__ import annotations

import json
import threading
from typing import Any

import pytest
from django.db import connection, transaction

from bankmall.core.audit import (
    current_lane,
    export_lines,
    format_cursor,
    parse_cursor,
    record_audit,
    verify_chain,
)
from bankmall.core.models import AuditChainHead, AuditRecord

WRITERS = 4


def _append(n: int) -> None:
    with transaction.atomic():
        record_audit("test.lane_written", target=f"thg_{n}", actor="tester")


def _in_threads(count: int, per_thread: int) -> list[BaseException]:
    """``count`` threads, each on its own connection, appending ``per_thread`` records.

    No thread closes its connection (ending its lane's lease) until every thread has written:
    otherwise, on a loaded machine, a thread could finish before another one's first append
    and hand it the lane it just released, and two threads would share one lane."""
    errors: list[BaseException] = []
    started = threading.Barrier(count)
    finished = threading.Barrier(count)

    def work(n: int) -> None:
        try:
            started.wait(timeout=60)
            for k in range(per_thread):
                _append(n * 100 + k)
        except BaseException as error:  # noqa: BLE001  (reported to the test)
            errors.append(error)
        finally:
            try:
                finished.wait(timeout=60)
            except threading.BrokenBarrierError as error:
                errors.append(error)
            connection.close()

    threads = [threading.Thread(target=work, args=(n,)) for n in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    return errors


@pytest.mark.django_db(transaction=True)
def test_concurrent_connections_write_separate_gap_free_lanes(requires_postgres: None) -> None:
    assert _in_threads(WRITERS, 5) == []

    # Only the threads' records: a flush before this test may have left set-up records
    # (roles, permissions) in the main connection's lane.
    written = AuditRecord.objects.filter(action="test.lane_written")
    lanes = sorted(set(written.values_list("lane", flat=True)))
    assert len(lanes) == WRITERS
    for lane in lanes:
        sequences = list(
            written.filter(lane=lane).order_by("sequence").values_list("sequence", flat=True)
        )
        assert sequences == list(range(sequences[0], sequences[0] + 5))
    report = verify_chain()
    assert report.is_intact, report.problems
    assert report.lanes_checked >= WRITERS


@pytest.mark.django_db(transaction=True)
def test_a_record_deleted_from_a_later_lane_is_detected(requires_postgres: None) -> None:
    assert _in_threads(2, 3) == []
    written = AuditRecord.objects.filter(action="test.lane_written")
    lane = max(written.values_list("lane", flat=True))
    assert lane > 1
    middle = written.filter(lane=lane).order_by("sequence")[1]
    middle.delete()

    report = verify_chain()

    assert not report.is_intact
    expected = f"#{lane}.{middle.sequence + 1} found where #{lane}.{middle.sequence} was expected"
    assert expected in report.problems[0]


@pytest.mark.django_db(transaction=True)
def test_a_lane_whose_head_was_removed_is_detected_and_refuses_appends(
    requires_postgres: None,
) -> None:
    _append(1)
    lane = current_lane().number
    AuditChainHead.objects.filter(pk=lane).delete()

    assert f"the head of audit lane {lane} is missing" in verify_chain().problems
    with pytest.raises(RuntimeError, match="is missing"):
        _append(2)


@pytest.mark.django_db(transaction=True)
def test_the_export_cursor_is_exact_per_lane(requires_postgres: None) -> None:
    assert _in_threads(3, 2) == []
    first = [
        line for line in map(json.loads, export_lines()) if line["action"] == "test.lane_written"
    ]
    assert len(first) == 6
    cursor = {}
    for line in first:
        cursor[line["lane"]] = max(cursor.get(line["lane"], 0), line["sequence"])
    assert [line["lane"] for line in first].count(first[0]["lane"]) == 2

    assert _in_threads(2, 1) == []
    later = [json.loads(line) for line in export_lines(after=cursor)]

    assert len([line for line in later if line["action"] == "test.lane_written"]) == 2
    assert parse_cursor(format_cursor(cursor)) == cursor


@pytest.mark.parametrize(
    ("text", "expected"),
    [("", {}), ("12", {1: 12}), ("1:3,4:7", {1: 3, 4: 7}), (" 2:0 ", {2: 0})],
)
def test_cursor_text_round_trips(text: str, expected: dict[int, int]) -> None:
    assert parse_cursor(text) == expected


@pytest.mark.parametrize("text", ["x", "1:y", "0:3", "1:-2", "a:b:c"])
def test_a_malformed_cursor_is_refused(text: str) -> None:
    with pytest.raises(ValueError, match="LANE:SEQUENCE"):
        parse_cursor(text)


@pytest.mark.django_db
def test_sqlite_and_a_single_connection_use_lane_one(settings: Any) -> None:
    _append(1)
    record = AuditRecord.objects.get()
    if connection.vendor != "postgresql":
        assert record.lane == 1
    assert record.sequence == 1
    assert verify_chain().is_intact
