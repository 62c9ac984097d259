"""Every way of writing an audit record or an event stores the same bytes as before: the
hashes that link the chain, the digests, the details and the payload. The expected values were
produced by the code as it was before its fast paths, with ``AUDIT_CHAIN_KEY`` set to
``KEY``; records already in a chain are verified against them."""

from __future__ import annotations

import datetime as dt
import hmac
from decimal import Decimal
from typing import Any

import pytest
from django.db import DEFAULT_DB_ALIAS, connection, connections, transaction
from django.utils import timezone

from bankmall.core import audit, outbox
from bankmall.core.audit import (
    GENESIS_HASH,
    Lane,
    PendingRecord,
    compute_hash,
    prepare_lane_append,
    prepare_sqlite_append,
    record_audit,
    verify_chain,
)
from bankmall.core.canonical import canonical_json, digest, to_jsonable
from bankmall.core.models import AuditRecord
from bankmall.core.money import Money
from tests.core.test_canonical import GENERAL

KEY = "test-chain-key-ü"
AT = dt.datetime(2026, 11, 27, 15, 4, 5, 678901, tzinfo=dt.UTC)
PREVIOUS = "ab" * 32
TARGET = "trf_01jd0000000000000000000000"
ACTION = "ledger.transfers_created"
BEIJING = dt.timezone(dt.timedelta(hours=8))
#: The details of a ledger transfer's record: the fast path's shape.
PLAIN = {"client": "bench", "count": 1, "first_key": "k:1"}
#: A smaller general shape for the prepared rows, and its stored JSON.
SMALL: dict[Any, Any] = {
    "amount": Money(12345, "CNY"),
    "rate": Decimal("1.2500"),
    "at": dt.datetime(2026, 11, 27, 23, 59, 58, 123456, tzinfo=BEIJING),
    "on": dt.date(2026, 2, 28),
    "nested": {"b": [1, (3, "四")], 7: True, "a": None},
    "text": 'Zürich — 北京 "quoted"',
}
SMALL_STORED = (
    '{"amount": {"amount": 12345, "currency": "CNY"}, "rate": "1.2500", "at":'
    ' "2026-11-27T15:59:58.123456Z", "on": "2026-02-28", "nested": {"b": [1, [3, "\\u56db"]],'
    ' "7": true, "a": null}, "text": "Z\\u00fcrich \\u2014 \\u5317\\u4eac \\"quoted\\""}'
)
PLAIN_STORED = '{"client": "bench", "count": 1, "first_key": "k:1"}'
#: ``GENERAL``: every kind of value the canonical form converts.
GENERAL_DIGEST = "c881d9a0f99d3dc56c93db260d479078f179c61f3e2dc852ae6c899321e38a22"
AFTER_DIGEST = "b104a7ab09074737d0b7665d61928af3aa07f14dbcc833ab1dae5210aa092b05"
EVENT = {"client": "bench", "transfer_ids": [TARGET], "account_ids": ["acc_a", "acc_b"]}
EVENT_STORED = (
    '{"client": "bench", "transfer_ids": ["trf_01jd0000000000000000000000"],'
    ' "account_ids": ["acc_a", "acc_b"]}'
)
EVENT_ID = "evt_01jd0000000000000000000000"


@pytest.fixture(autouse=True)
def _key(settings: Any) -> None:
    settings.AUDIT_CHAIN_KEY = KEY


@pytest.fixture
def frozen(monkeypatch: pytest.MonkeyPatch) -> None:
    """The clock stops at ``AT`` and events get ``EVENT_ID``."""
    monkeypatch.setattr(timezone, "now", lambda: AT)
    monkeypatch.setattr(outbox, "new_id", lambda prefix: f"{prefix}_01jd0000000000000000000000")


@pytest.fixture
def sqlite() -> None:
    if connection.vendor != "sqlite":
        pytest.skip("SQLite's prepared rows")


def _pending(
    lane: int, details: dict[Any, Any], *, ip_address: str | None, request_id: str, actor: str
) -> PendingRecord:
    return PendingRecord(
        lane=lane,
        sequence=42,
        occurred_at=AT,
        actor=actor,
        action=ACTION,
        target=TARGET,
        before_digest="",
        after_digest=digest([TARGET]),
        details=to_jsonable(details),
        request_id=request_id,
        ip_address=ip_address,
        previous_hash="",
    )


HASHES = [
    (
        (1, PLAIN, None, "", "bench"),
        PREVIOUS,
        "1720c7aa5fe4dd765b7eb1abcea5025880267abf72c24ec647110fb944e8051a",
    ),
    (
        (3, PLAIN, None, "", "bench"),
        GENESIS_HASH,
        "ded17321ce64d6cc1c59dcfdbbf5c330bc4b75c6d888ad805bd9b3719a87447d",
    ),
    (
        (1, GENERAL, "203.0.113.9", "req-ü-1", "usr_ü"),
        PREVIOUS,
        "65fb5da2cca2e3e9741a7dfb194383899540e5d3c2f48e95c996d6e479a83d24",
    ),
    (
        (2, GENERAL, "2001:db8::1", "req-1", "bench"),
        PREVIOUS,
        "8c19222fa9281a4dc538fb20e62838cae0b1a0c102d600add1ba7b45b9cf58a7",
    ),
]


@pytest.mark.parametrize(
    ("fields", "previous_hash", "expected"),
    HASHES,
    ids=["plain-lane-1", "plain-lane-3-genesis", "general-lane-1", "general-lane-2"],
)
def test_a_pending_record_and_its_stored_row_hash_to_the_chain_values(
    fields: tuple[Any, ...], previous_hash: str, expected: str
) -> None:
    lane, details, ip_address, request_id, actor = fields
    pending = _pending(lane, details, ip_address=ip_address, request_id=request_id, actor=actor)
    # The verifier hashes the model read back from the database.
    stored = AuditRecord(
        **{name: getattr(pending, name) for name in PendingRecord.__dataclass_fields__}
    )

    assert compute_hash(previous_hash, pending) == expected
    assert compute_hash(previous_hash, stored) == expected


def test_the_hash_follows_a_changed_key(settings: Any) -> None:
    pending = _pending(1, PLAIN, ip_address=None, request_id="", actor="bench")

    settings.AUDIT_CHAIN_KEY = "another key"
    with_another_key = compute_hash(PREVIOUS, pending)
    settings.AUDIT_CHAIN_KEY = KEY

    assert with_another_key != HASHES[0][2]
    assert compute_hash(PREVIOUS, pending) == HASHES[0][2]


@pytest.mark.parametrize(
    "key", ["", "k", "ü-key", "k" * 64, "k" * 65, "长" * 40], ids=lambda key: f"{len(key)}"
)
def test_the_chain_hmac_is_hmac_sha256_with_any_key(settings: Any, key: str) -> None:
    """Keys shorter than, as long as and longer than SHA-256's block (hashed first)."""
    settings.AUDIT_CHAIN_KEY = key
    message = PREVIOUS.encode() + b"|" + "ü".encode() * 300

    assert audit._hmac_sha256_hex(message) == hmac.new(key.encode(), message, "sha256").hexdigest()


class _Cursor:
    """A raw ``sqlite3`` cursor that finds the lane's head at 41 and keeps what it is given."""

    def __init__(self) -> None:
        self.calls: list[list[Any]] = []

    def execute(self, sql: str, params: Any) -> _Cursor:
        self.calls.append(list(params))
        return self

    def fetchone(self) -> tuple[int, str]:
        return (41, PREVIOUS)


def _sqlite_row(details: str, record_hash: str) -> list[Any]:
    return [
        1,
        42,
        "2026-11-27 15:04:05.678901",
        "bench",
        ACTION,
        TARGET,
        "",
        AFTER_DIGEST,
        details,
        "",
        None,
        PREVIOUS,
        record_hash,
    ]


@pytest.mark.parametrize(
    ("details", "stored", "record_hash"),
    [
        (PLAIN, PLAIN_STORED, "1720c7aa5fe4dd765b7eb1abcea5025880267abf72c24ec647110fb944e8051a"),
        (SMALL, SMALL_STORED, "7956348023a778926751fc0f71b47a847923ebbfc5400e84cdea70bd288d2949"),
    ],
    ids=["plain", "general"],
)
@pytest.mark.django_db
def test_sqlites_prepared_append_writes_the_same_row_and_head(
    sqlite: None, frozen: None, details: dict[str, Any], stored: str, record_hash: str
) -> None:
    prepared = prepare_sqlite_append(
        ACTION, target=TARGET, after=[TARGET], details=details, actor="bench"
    )
    cursor = _Cursor()

    written = prepared.write(cursor)

    assert written
    assert cursor.calls == [[1], _sqlite_row(stored, record_hash), [42, record_hash, 1]]


@pytest.mark.django_db
def test_sqlites_prepared_rows_take_the_writes_time_and_connection(
    sqlite: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Given the write's time and connection, the rows are the ones prepared at that time."""
    monkeypatch.setattr(outbox, "new_id", lambda prefix: f"{prefix}_01jd0000000000000000000000")
    database = connections[DEFAULT_DB_ALIAS]
    record_hash = "1720c7aa5fe4dd765b7eb1abcea5025880267abf72c24ec647110fb944e8051a"
    prepared = prepare_sqlite_append(
        ACTION,
        target=TARGET,
        after=[TARGET],
        details=PLAIN,
        actor="bench",
        now=AT,
        database=database,
    )
    cursor = _Cursor()

    written = prepared.write(cursor)

    assert written
    assert cursor.calls == [[1], _sqlite_row(PLAIN_STORED, record_hash), [42, record_hash, 1]]


@pytest.mark.parametrize(
    "case",
    [
        (
            PLAIN,
            None,
            PLAIN_STORED,
            "",
            "0474f1070aa1a6560c79ac2764dcc1caec43c749f10b5f252b5dde6e71a2d29a",
        ),
        (
            SMALL,
            {"state": "old"},
            SMALL_STORED,
            "627d31e4d72a337abcfbefa58c5c03910dcd4e27fa90c2de844d8d051756891a",
            "d5da477c2f2a77b3c89face776646c1e4b8fb86da432e509692644ed35699e2d",
        ),
    ],
    ids=["plain", "general"],
)
@pytest.mark.django_db(transaction=True)
def test_the_one_statement_append_carries_the_same_row_and_head(
    requires_postgres: None, frozen: None, monkeypatch: pytest.MonkeyPatch, case: tuple[Any, ...]
) -> None:
    details, before, stored, before_digest, record_hash = case
    lane = Lane(number=3, leased=True, sequence=41, record_hash=PREVIOUS)
    monkeypatch.setattr(audit, "_lane_of", lambda database: lane)

    prepared = prepare_lane_append(
        ACTION, target=TARGET, before=before, after=[TARGET], details=details, actor="bench"
    )

    assert prepared.params == [
        *(42, record_hash, 3, 41, PREVIOUS),
        *(3, AT, "bench", ACTION, TARGET, before_digest, AFTER_DIGEST, stored),
        *("", None, PREVIOUS, record_hash),
    ]


def test_an_announced_event_is_part_of_the_records_details(frozen: None) -> None:
    details = outbox.announce(PLAIN, ACTION, aggregate_id=TARGET, payload=EVENT)

    assert details == {
        **PLAIN,
        "event": {"id": EVENT_ID, "type": ACTION, "aggregate_id": TARGET, "data": EVENT},
    }
    with pytest.raises(ValueError, match="already carry"):
        outbox.announce(details, ACTION, payload=EVENT)


def _stored_text(sql: str, params: list[Any]) -> list[Any]:
    """A row as SQLite keeps it (``CAST`` to text skips the datetime converter)."""
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        row = cursor.fetchone()
    return list(row)


@pytest.mark.django_db
def test_record_audit_and_record_event_store_the_same_text(sqlite: None, frozen: None) -> None:
    with transaction.atomic():
        record = record_audit(
            ACTION, target=TARGET, before={"state": "old"}, after=[TARGET], details=SMALL
        )
        outbox.record_event(ACTION, aggregate_id=TARGET, payload=EVENT)
        announcing = record_audit(
            ACTION,
            target=TARGET,
            details=outbox.announce(PLAIN, ACTION, aggregate_id=TARGET, payload=EVENT),
        )

    assert _stored_text(
        "SELECT CAST(occurred_at AS TEXT), before_digest, after_digest, details"
        " FROM core_auditrecord"
        " WHERE id = %s",
        [record.id],
    ) == [
        "2026-11-27 15:04:05.678901",
        "627d31e4d72a337abcfbefa58c5c03910dcd4e27fa90c2de844d8d051756891a",
        AFTER_DIGEST,
        SMALL_STORED,
    ]
    assert _stored_text(
        "SELECT public_id, payload, CAST(created_at AS TEXT) FROM core_outboxevent"
        " WHERE public_id = %s",
        [EVENT_ID],
    ) == [EVENT_ID, EVENT_STORED, "2026-11-27 15:04:05.678901"]
    assert _stored_text("SELECT details FROM core_auditrecord WHERE id = %s", [announcing.id]) == [
        PLAIN_STORED[:-1]
        + ', "event": {"id": "evt_01jd0000000000000000000000", "type": "'
        + ACTION
        + '", "aggregate_id": "trf_01jd0000000000000000000000", "data": '
        + EVENT_STORED
        + "}}"
    ]


@pytest.mark.django_db
def test_records_written_with_every_shape_verify_on_any_database() -> None:
    with transaction.atomic():
        plain = record_audit(ACTION, target=TARGET, after=[TARGET], details=PLAIN, actor="bench")
        general = record_audit(
            "test.thing_changed", target="thg_1", before=GENERAL, after=SMALL, details=GENERAL
        )

    stored = AuditRecord.objects.get(pk=general.pk)
    assert stored.details == to_jsonable(GENERAL)
    assert stored.before_digest == GENERAL_DIGEST
    assert plain.record_hash == compute_hash(
        plain.previous_hash, AuditRecord.objects.get(pk=plain.pk)
    )
    assert general.previous_hash == plain.record_hash
    assert verify_chain().is_intact


class _Actor(str):
    """A ``str`` subclass: the chain's text takes the general path for it."""


@pytest.mark.parametrize("lane", [1, 7])
@pytest.mark.parametrize(
    "changes",
    [
        {},
        {"ip_address": "2001:db8::1", "request_id": 'q"\\\u2028ü', "details": GENERAL},
        {"occurred_at": dt.datetime(2026, 11, 28, 1, 2, 3, tzinfo=BEIJING), "details": None},
        {"occurred_at": dt.datetime(2026, 11, 28, 1, 2, 3, tzinfo=dt.UTC), "details": [1, "a"]},
        {"actor": _Actor("usr_ü"), "sequence": True},
    ],
    ids=["plain", "escapes-and-general", "other-zone", "whole-second", "subclasses"],
)
def test_the_chain_text_written_field_by_field_is_the_canonical_json_of_the_fields(
    lane: int, changes: dict[str, Any]
) -> None:
    pending = _pending(lane, PLAIN, ip_address=None, request_id="", actor="bench")
    for name, value in changes.items():
        setattr(pending, name, value)

    assert audit._chain_json(pending) == canonical_json(audit._chain_fields(pending))
