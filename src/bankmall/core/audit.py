"""The hash-chained audit log: ``record_audit`` inside an action, ``verify_chain`` anywhere.

Each record's hash is ``HMAC-SHA256(key, previous_hash || canonical_json(fields))``. The key
(``AUDIT_CHAIN_KEY``) means that someone who can write to the database but does not hold the
key cannot rebuild a consistent chain after an edit.

The log is ``AUDIT_LANES`` independent chains ("lanes"). On PostgreSQL each database
connection leases one lane for its lifetime with a session advisory lock, so concurrent
transactions append to different lanes and never queue behind one another's commit; an append
still locks its lane's head row, so a lane's sequence has no gaps, follows commit order and
cannot fork even when two connections share a lane (more connections than lanes). SQLite has
one writer at a time and uses lane 1.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import hmac
import json
import os
import weakref
from collections.abc import Callable, Iterator, Mapping
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any, Final

from django.conf import settings
from django.db import DEFAULT_DB_ALIAS, connection, connections, transaction
from django.db.backends.base.base import BaseDatabaseWrapper
from django.utils import timezone

from bankmall.core.canonical import (
    canonical_json,
    canonical_text,
    datetime_text,
    digest,
    quoted,
    stored_json,
    to_jsonable,
)
from bankmall.core.datetimes import sqlite_text
from bankmall.core.models import AuditChainHead, AuditRecord

GENESIS_HASH: Final = "0" * 64
VERIFY_BATCH_SIZE: Final = 2_000
#: The first key of the advisory locks that lease lanes (the second is the lane number).
LANE_LOCK_NAMESPACE: Final = 1_650_552_427


@dataclass(frozen=True, slots=True)
class AuditContext:
    """Who is acting and through which request; set by the middleware or the command line."""

    actor: str | Callable[[], str] = "system"
    request_id: str = ""
    ip_address: str | None = None

    def resolve_actor(self) -> str:
        return self.actor() if callable(self.actor) else self.actor


_SYSTEM_CONTEXT: Final = AuditContext()
_context: ContextVar[AuditContext | None] = ContextVar("bankmall_audit_context", default=None)


@contextlib.contextmanager
def audit_context(
    *,
    actor: str | Callable[[], str],
    request_id: str = "",
    ip_address: str | None = None,
) -> Iterator[AuditContext]:
    """Attribute every audit record written inside the block to ``actor``."""
    context = AuditContext(actor=actor, request_id=request_id, ip_address=ip_address)
    token = _context.set(context)
    try:
        yield context
    finally:
        _context.reset(token)


def current_context() -> AuditContext:
    return _context.get() or _SYSTEM_CONTEXT


class OutsideTransactionError(RuntimeError):
    """A programming error: audit records and events must share the action's transaction."""


@dataclass(slots=True)
class PendingRecord:
    """An audit record's fields before it is written (the ORM model costs more to build)."""

    lane: int
    sequence: int
    occurred_at: Any
    actor: str
    action: str
    target: str
    before_digest: str
    after_digest: str
    details: dict[str, Any]
    request_id: str
    ip_address: str | None
    previous_hash: str
    record_hash: str = ""


def _chain_fields(record: AuditRecord | PendingRecord) -> dict[str, Any]:
    fields: dict[str, Any] = {
        "sequence": record.sequence,
        "occurred_at": record.occurred_at,
        "actor": record.actor,
        "action": record.action,
        "target": record.target,
        "before_digest": record.before_digest,
        "after_digest": record.after_digest,
        "details": record.details,
        "request_id": record.request_id,
        "ip_address": record.ip_address,
    }
    if record.lane != 1:
        # Lane 1 is the chain written before there were lanes: its hashes stay valid.
        fields["lane"] = record.lane
    return fields


def compute_hash(previous_hash: str, record: AuditRecord | PendingRecord) -> str:
    return _hmac_sha256_hex(previous_hash.encode("ascii") + b"|" + _chain_json(record))


def _chain_json(record: AuditRecord | PendingRecord) -> bytes:
    """``canonical_json(_chain_fields(record))``, written field by field when the fields
    have their usual types (exact ``str``, ``int``, ``datetime``; the ``details`` any value):
    the keys in sorted order, each value as the canonical encoder writes it. Converting and
    encoding the whole dict cost ~100k instructions a record; this ~20k. Any other type
    takes the general path."""
    texts = (
        record.action,
        record.actor,
        record.after_digest,
        record.before_digest,
        record.request_id,
        record.target,
    )
    sequence, lane, ip_address, occurred_at = (
        record.sequence,
        record.lane,
        record.ip_address,
        record.occurred_at,
    )
    if (
        type(sequence) is not int
        or type(lane) is not int
        or type(occurred_at) is not dt.datetime
        or (ip_address is not None and type(ip_address) is not str)
        or not all(type(text) is str for text in texts)
    ):
        return canonical_json(_chain_fields(record))
    action, actor, after_digest, before_digest, request_id, target = map(quoted, texts)
    try:
        # The details are plain JSON values: ``to_jsonable`` made them (a pending record) or
        # the database returned them (a stored one).
        details = canonical_text(record.details, jsonable=True)
    except TypeError:  # Set by hand to something else: the general conversion.
        details = canonical_text(record.details)
    return (
        f'{{"action":{action},"actor":{actor},"after_digest":{after_digest},'
        f'"before_digest":{before_digest},"details":{details},'
        f'"ip_address":{"null" if ip_address is None else quoted(ip_address)},'
        f"{'' if lane == 1 else f'{_LANE_KEY}{lane},'}"
        f'"occurred_at":{quoted(datetime_text(occurred_at))},"request_id":{request_id},'
        f'"sequence":{sequence},"target":{target}}}'
    ).encode()


_LANE_KEY: Final = '"lane":'


#: For each value ``AUDIT_CHAIN_KEY`` had, SHA-256 after the key's inner and after its outer
#: pad (RFC 2104), before any message: copying them is far cheaper than keying a new HMAC.
_keyed_pads: dict[str, tuple[Any, Any]] = {}
_KEYED_PADS_MAX: Final = 8
_SHA256_BLOCK: Final = 64


def _hmac_sha256_hex(message: bytes) -> str:
    """``hmac.new(AUDIT_CHAIN_KEY, message, sha256).hexdigest()``, from the key's padded
    states: the same two hashes as ``hmac.HMAC`` without its Python ``copy``, ``update`` and
    ``hexdigest`` methods around them (~5k instructions a record)."""
    # The setting is read on every hash, so a changed key (tests override it) applies at once.
    key = settings.AUDIT_CHAIN_KEY
    pads = _keyed_pads.get(key)
    if pads is None:
        if len(_keyed_pads) >= _KEYED_PADS_MAX:
            _keyed_pads.clear()
        pads = _keyed_pads[key] = _pads(key.encode("utf-8"))
    inner = pads[0].copy()
    inner.update(message)
    outer = pads[1].copy()
    outer.update(inner.digest())
    return outer.hexdigest()  # type: ignore[no-any-return]


def _pads(key: bytes) -> tuple[Any, Any]:
    """SHA-256 after ``key``'s inner and after its outer pad, as HMAC defines them."""
    if len(key) > _SHA256_BLOCK:
        key = hashlib.sha256(key).digest()
    key = key.ljust(_SHA256_BLOCK, b"\0")
    return (
        hashlib.sha256(bytes(byte ^ 0x36 for byte in key)),
        hashlib.sha256(bytes(byte ^ 0x5C for byte in key)),
    )


class AuditChainBrokenError(RuntimeError):
    """A lane's head is gone while its records exist: refuse to write until an operator checks."""


# ------------------------------------------------------------------ lanes


@dataclass(slots=True)
class Lane:
    """The lane a database connection appends to, and its head as last confirmed.

    ``sequence`` is ``None`` until the head was read; only the one-statement append
    (``prepare_lane_append``) uses the remembered head, and its statement re-checks it.
    """

    number: int
    leased: bool
    sequence: int | None = None
    record_hash: str = ""


_lanes: weakref.WeakKeyDictionary[Any, Lane] = weakref.WeakKeyDictionary()


def current_lane() -> Lane:
    """This connection's lane, leased on first use (PostgreSQL) or lane 1 (SQLite)."""
    return _lane_of(connections[DEFAULT_DB_ALIAS])  # One lookup through the thread-local proxy.


def _lane_of(database: BaseDatabaseWrapper) -> Lane:
    database.ensure_connection()
    if database.vendor != "postgresql":
        return Lane(number=1, leased=True)
    raw = database.connection
    lane = _lanes.get(raw)
    if lane is None:
        lanes = max(1, int(settings.AUDIT_LANES))
        with raw.cursor() as cursor:
            # Session-level: the lease lasts as long as the connection, whatever its
            # transactions do, and ends with it.
            cursor.execute(
                "SELECT n FROM generate_series(1, %s) AS n"
                " WHERE pg_try_advisory_lock(%s::integer, n) LIMIT 1",
                [lanes, LANE_LOCK_NAMESPACE],
            )
            row = cursor.fetchone()
        if row is not None:
            lane = Lane(number=int(row[0]), leased=True)
        else:
            # More writing connections than lanes: share one; the head lock keeps it correct.
            lane = Lane(number=os.getpid() % lanes + 1, leased=False)
        _lanes[raw] = lane
    return lane


def _locked_head(lane: int) -> tuple[int, str]:
    """Lock the lane's head and return its (sequence, record_hash) in one round trip."""
    lock = " FOR UPDATE" if connection.vendor == "postgresql" else ""
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT sequence, record_hash FROM core_auditchainhead WHERE id = %s{lock}",  # noqa: S608
            [lane],
        )
        row = cursor.fetchone()
    if row is not None:
        return int(row[0]), str(row[1])
    _create_head(lane)
    head = AuditChainHead.objects.select_for_update().get(pk=lane)
    return head.sequence, head.record_hash


def _create_head(lane: int) -> None:
    # A lane's head is created on its first use. A lane with records and no head has been
    # tampered with (or restored from a partial dump): its records could be anything.
    if AuditRecord.objects.filter(lane=lane).exists():
        raise AuditChainBrokenError(
            f"the head of audit lane {lane} is missing; run 'bankmall audit verify'"
        )
    with connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO core_auditchainhead (id, sequence, record_hash) VALUES (%s, 0, '')"
            " ON CONFLICT (id) DO NOTHING",
            [lane],
        )


_RECORD_COLUMNS: Final = (
    "lane, sequence, occurred_at, actor, action, target, before_digest, after_digest, details,"
    " request_id, ip_address, previous_hash, record_hash"
)
_APPEND_SQL: Final = (
    f"WITH appended AS (INSERT INTO core_auditrecord ({_RECORD_COLUMNS}) VALUES (%s, %s, %s, %s,"  # noqa: S608
    " %s, %s, %s, %s, %s::jsonb, %s, %s::inet, %s, %s) RETURNING id)"
    " UPDATE core_auditchainhead SET sequence = %s, record_hash = %s WHERE id = %s"
    " RETURNING (SELECT id FROM appended)"
)


def _record_values(record: AuditRecord | PendingRecord) -> list[Any]:
    return [
        record.lane,
        record.sequence,
        record.occurred_at,
        record.actor,
        record.action,
        record.target,
        record.before_digest,
        record.after_digest,
        stored_json(record.details),
        record.request_id,
        record.ip_address,
        record.previous_hash,
        record.record_hash,
    ]


def _append(record: AuditRecord) -> None:
    """Insert ``record`` and move its lane's head to it: one statement on PostgreSQL."""
    if connection.vendor != "postgresql":
        values = _record_values(record)
        values[2] = connection.ops.adapt_datetimefield_value(record.occurred_at)
        with connection.cursor() as cursor:
            cursor.execute(
                f"INSERT INTO core_auditrecord ({_RECORD_COLUMNS}) VALUES"  # noqa: S608
                " (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)",
                values,
            )
            record.id = cursor.lastrowid
            cursor.execute(
                "UPDATE core_auditchainhead SET sequence = %s, record_hash = %s WHERE id = %s",
                [record.sequence, record.record_hash, record.lane],
            )
        record._state.adding = False
        record._state.db = connection.alias
        return
    with connection.cursor() as cursor:
        cursor.execute(
            _APPEND_SQL,
            [*_record_values(record), record.sequence, record.record_hash, record.lane],
        )
        (record.id,) = cursor.fetchone()
    record._state.adding = False
    record._state.db = connection.alias


def _unchained_record(
    action: str,
    *,
    lane: int,
    target: str,
    before: Any,
    after: Any,
    details: dict[str, Any] | None,
    actor: str | None,
    now: dt.datetime | None = None,
) -> PendingRecord:
    """A record with every field but its place in the lane (sequence, hashes), dated ``now``
    (the current time when not given)."""
    context = current_context()
    # Positional, in field order: a dataclass's __init__ called with twelve keywords costs
    # twice as much.
    return PendingRecord(
        lane,
        0,  # sequence
        timezone.now() if now is None else now,
        actor or context.resolve_actor(),
        action,
        target,
        digest(before),
        digest(after),
        to_jsonable(details or {}),
        context.request_id,
        context.ip_address,
        "",  # previous_hash
    )


def _chain(record: PendingRecord, head: tuple[int, str]) -> None:
    """Place ``record`` after the lane's ``head`` (sequence, record hash) and hash it."""
    record.sequence = head[0] + 1
    record.previous_hash = head[1] or GENESIS_HASH
    record.record_hash = compute_hash(record.previous_hash, record)


def record_audit(
    action: str,
    *,
    target: str = "",
    before: Any = None,
    after: Any = None,
    details: dict[str, Any] | None = None,
    actor: str | None = None,
) -> AuditRecord:
    """Append one record to this connection's audit lane inside the caller's transaction.

    ``before`` and ``after`` are stored only as SHA-256 digests of their canonical JSON, so the
    log proves what changed without copying personal data into it. ``details`` is stored as
    given: it must not hold personal data in clear.

    Raises ``OutsideTransactionError`` when called outside ``transaction.atomic``.
    """
    if not transaction.get_connection().in_atomic_block:
        raise OutsideTransactionError("record_audit must run inside the action's transaction")
    lane = current_lane()
    head = _locked_head(lane.number)
    # After this point the operation must succeed.
    record = _unchained_record(
        action,
        lane=lane.number,
        target=target,
        before=before,
        after=after,
        details=details,
        actor=actor,
    )
    _chain(record, head)
    stored = AuditRecord(**{name: getattr(record, name) for name in _MODEL_FIELDS})
    _append(stored)
    # The transaction may still roll back: the one-statement path must read the head again.
    lane.sequence = None
    return stored


_MODEL_FIELDS: Final = tuple(PendingRecord.__dataclass_fields__)

# ------------------------------------------------------------------ one-statement appends


@dataclass(slots=True)
class LaneAppend:
    """An audit record ready to be appended by a larger statement (PostgreSQL, autocommit).

    ``sql`` is two common table expressions, ``audit_head`` and ``audit_row``, taking
    ``params`` in order. The statement aborts (``bankmall_abort:audit_lane``) when the lane
    moved since its head was read; the caller then calls ``forget`` and tries again.
    """

    sql: str
    params: list[Any]
    record: PendingRecord
    lane: Lane

    def confirm(self) -> None:
        """The statement committed: the lane's head is now this record."""
        self.lane.sequence = self.record.sequence
        self.lane.record_hash = self.record.record_hash

    def forget(self) -> None:
        """The statement failed: read the lane's head again next time."""
        self.lane.sequence = None


_LANE_APPEND_SQL: Final = (
    "audit_head AS (UPDATE core_auditchainhead SET sequence = %s, record_hash = %s"  # noqa: S608
    " WHERE id = %s AND sequence = %s AND record_hash = %s RETURNING sequence),"
    f" audit_row AS (INSERT INTO core_auditrecord ({_RECORD_COLUMNS}) VALUES (%s,"
    " COALESCE((SELECT sequence FROM audit_head), bankmall_abort('audit_lane')), %s, %s, %s,"
    " %s, %s, %s, %s::jsonb, %s, %s::inet, %s, %s) RETURNING sequence)"
)


def prepare_lane_append(
    action: str,
    *,
    target: str = "",
    before: Any = None,
    after: Any = None,
    details: dict[str, Any] | None = None,
    actor: str | None = None,
    now: dt.datetime | None = None,
    database: BaseDatabaseWrapper | None = None,
) -> LaneAppend:
    """An audit record for a write that is one statement in autocommit mode (PostgreSQL).

    Builds the record from the lane's remembered head (reading it when unknown), so the
    statement that carries it needs no lock round trip before it. Only for callers outside any
    transaction; inside one, use ``record_audit``. ``now``: the record's time (the write's
    own; the current time when not given); ``database``: the default connection's wrapper,
    when the caller has it (looked up otherwise).
    """
    if database is None:
        database = connections[DEFAULT_DB_ALIAS]
    if database.vendor != "postgresql" or database.in_atomic_block:
        raise OutsideTransactionError("prepare_lane_append is for autocommit PostgreSQL writes")
    lane = _lane_of(database)
    if lane.sequence is None:
        with database.cursor() as cursor:
            cursor.execute(
                "SELECT sequence, record_hash FROM core_auditchainhead WHERE id = %s",
                [lane.number],
            )
            row = cursor.fetchone()
        if row is None:
            _create_head(lane.number)
            row = (0, "")
        lane.sequence, lane.record_hash = int(row[0]), str(row[1])
    record = _unchained_record(
        action,
        lane=lane.number,
        target=target,
        before=before,
        after=after,
        details=details,
        actor=actor,
        now=now,
    )
    _chain(record, (lane.sequence, lane.record_hash))
    values = _record_values(record)
    params = [
        record.sequence,
        record.record_hash,
        lane.number,
        lane.sequence,
        lane.record_hash,
        values[0],
        *values[2:],
    ]
    return LaneAppend(sql=_LANE_APPEND_SQL, params=params, record=record, lane=lane)


@dataclass(slots=True)
class SQLiteAppend:
    """An audit record prepared before SQLite's write lock; ``write`` chains and stores it.

    Everything but the record's place in lane 1 (its sequence and the hashes that link it) is
    computed when it is prepared, so the transaction that holds the write lock only reads the
    head, hashes the record and runs two cached statements.
    """

    record: PendingRecord
    values: list[Any]

    def write(self, cursor: Any) -> bool:
        """Append the record inside the caller's write transaction (``BEGIN IMMEDIATE``) on
        the raw ``sqlite3`` ``cursor``; ``False`` (nothing written) when the lane has no head
        yet: ``record_audit`` creates it."""
        row = cursor.execute(_SQLITE_HEAD_SQL, (self.record.lane,)).fetchone()
        if row is None:
            return False
        _chain(self.record, (int(row[0]), str(row[1])))
        record = self.record
        values = self.values
        values[1], values[11], values[12] = (
            record.sequence,
            record.previous_hash,
            record.record_hash,
        )
        cursor.execute(_SQLITE_INSERT_SQL, values)
        cursor.execute(_SQLITE_MOVE_HEAD_SQL, (record.sequence, record.record_hash, record.lane))
        return True


_SQLITE_HEAD_SQL: Final = "SELECT sequence, record_hash FROM core_auditchainhead WHERE id = ?"
_SQLITE_INSERT_SQL: Final = (
    f"INSERT INTO core_auditrecord ({_RECORD_COLUMNS}) VALUES"  # noqa: S608 (constants only)
    " (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
)
_SQLITE_MOVE_HEAD_SQL: Final = (
    "UPDATE core_auditchainhead SET sequence = ?, record_hash = ? WHERE id = ?"
)


def prepare_sqlite_append(
    action: str,
    *,
    target: str,
    after: Any,
    details: dict[str, Any],
    actor: str | None,
    now: dt.datetime | None = None,
    database: BaseDatabaseWrapper | None = None,
) -> SQLiteAppend:
    """An audit record (no ``before``) for a SQLite write that takes the write lock itself
    (lane 1, SQLite's only lane). Call before ``BEGIN IMMEDIATE``; ``SQLiteAppend.write``
    inside it. ``now``: the record's time (the write's own; the current time when not given);
    ``database``: the default connection's wrapper, when the caller has it (looked up
    otherwise: ~10k instructions)."""
    if database is None:
        database = connections[DEFAULT_DB_ALIAS]
    if database.vendor != "sqlite":
        raise OutsideTransactionError("prepare_sqlite_append is for SQLite's own write path")
    record = _unchained_record(
        action,
        lane=1,
        target=target,
        before=None,
        after=after,
        details=details,
        actor=actor,
        now=now,
    )
    values = _record_values(record)
    values[2] = sqlite_text(database, record.occurred_at)
    return SQLiteAppend(record=record, values=values)


# ------------------------------------------------------------------ verification and export


@dataclass(slots=True)
class ChainReport:
    """The verifier's findings; ``is_intact`` when there are none."""

    records_checked: int = 0
    lanes_checked: int = 0
    problems: list[str] = field(default_factory=list)

    @property
    def is_intact(self) -> bool:
        return not self.problems


def verify_chain(*, max_problems: int = 20) -> ChainReport:
    """Walk every lane in sequence order and report every break found.

    Detects an edited row (its hash no longer matches), a deleted row (a gap in ``sequence`` or
    a broken ``previous_hash`` link), an inserted row (a duplicate position, a bad link or a
    hash made without the key), a truncated tail (the head names a later record) and a lane
    whose head is missing.
    """
    report = ChainReport()
    lanes = set(AuditChainHead.objects.values_list("id", flat=True))
    lanes |= set(AuditRecord.objects.values_list("lane", flat=True).distinct())
    for lane in sorted(lanes):
        if len(report.problems) >= max_problems:
            break
        report.lanes_checked += 1
        _verify_lane(lane, report, max_problems)
    return report


def _verify_lane(lane: int, report: ChainReport, max_problems: int) -> None:
    expected_sequence = 1
    previous_hash = GENESIS_HASH
    last_sequence = 0
    records = AuditRecord.objects.filter(lane=lane).order_by("sequence")
    while len(report.problems) < max_problems:
        batch = list(records.filter(sequence__gt=last_sequence)[:VERIFY_BATCH_SIZE])
        if not batch:
            break
        for record in batch:
            report.records_checked += 1
            _verify_record(record, expected_sequence, previous_hash, report)
            expected_sequence = record.sequence + 1
            previous_hash = record.record_hash
        last_sequence = batch[-1].sequence
    _verify_head(lane, expected_sequence - 1, previous_hash, report)


def _verify_record(
    record: AuditRecord, expected_sequence: int, previous_hash: str, report: ChainReport
) -> None:
    name = _name(record.lane, record.sequence)
    if record.sequence != expected_sequence:
        report.problems.append(
            f"audit record {name} found where {_name(record.lane, expected_sequence)} was"
            " expected (a record was deleted or inserted)"
        )
    if record.previous_hash != previous_hash:
        report.problems.append(f"audit record {name} does not link to the record before it")
    if not hmac.compare_digest(compute_hash(record.previous_hash, record), record.record_hash):
        report.problems.append(f"audit record {name} was altered (hash mismatch)")


def _name(lane: int, sequence: int) -> str:
    # Lane 1 keeps the plain numbering people knew before there were lanes.
    return f"#{sequence}" if lane == 1 else f"#{lane}.{sequence}"


def _verify_head(lane: int, last_sequence: int, last_hash: str, report: ChainReport) -> None:
    head = AuditChainHead.objects.filter(pk=lane).first()
    if head is None:
        if last_sequence > 0:
            report.problems.append(f"the head of audit lane {lane} is missing")
        return
    if head.sequence != last_sequence or (head.record_hash or GENESIS_HASH) != last_hash:
        report.problems.append(
            f"audit lane {lane} ends at {_name(lane, last_sequence)} but its head names"
            f" {_name(lane, head.sequence)} (records were removed from or added to the end)"
        )


def parse_cursor(text: str) -> dict[int, int]:
    """``"1:120,2:98"`` (or a plain ``"120"`` for lane 1) → {lane: last sequence exported}.

    Raises ``ValueError`` with a readable message on anything else.
    """
    cursor: dict[int, int] = {}
    for part in (text or "").replace(" ", "").split(","):
        if not part:
            continue
        lane_text, _, sequence_text = part.rpartition(":")
        try:
            lane = int(lane_text) if lane_text else 1
            sequence = int(sequence_text)
        except ValueError:
            raise ValueError(f"{part!r} is not LANE:SEQUENCE") from None
        if lane < 1 or sequence < 0:
            raise ValueError(f"{part!r} is not LANE:SEQUENCE")
        cursor[lane] = sequence
    return cursor


def format_cursor(cursor: Mapping[int, int]) -> str:
    return ",".join(f"{lane}:{sequence}" for lane, sequence in sorted(cursor.items()))


def export_lines(
    *, after: Mapping[int, int] | None = None, limit: int | None = None
) -> Iterator[str]:
    """Yield audit records as JSON lines in the order they were written (``id``).

    ``after`` maps lanes to the last sequence already exported: within a lane, sequence
    order is commit order, so exporting again from the highest ``(lane, sequence)`` seen is
    exact even while other lanes commit out of ``id`` order.
    """
    queryset = AuditRecord.objects.order_by("id")
    for lane, sequence in (after or {}).items():
        queryset = queryset.exclude(lane=lane, sequence__lte=sequence)
    if limit is not None:
        queryset = queryset[:limit]
    for record in queryset.iterator(chunk_size=VERIFY_BATCH_SIZE):
        row = _chain_fields(record) | {
            "lane": record.lane,
            "previous_hash": record.previous_hash,
            "record_hash": record.record_hash,
        }
        yield json.dumps(to_jsonable(row), ensure_ascii=False, sort_keys=True)
