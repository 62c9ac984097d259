"""The hash-chained audit log: ``record_audit`` inside an action, ``verify_chain`` anywhere.

Each record's hash is ``HMAC-SHA256(key, previous_hash || canonical_json(fields))``. The key
(``AUDIT_CHAIN_KEY``) means that someone who can write to the database but does not hold the
key cannot rebuild a consistent chain after an edit. Appends lock the single chain-head row, so
the sequence has no gaps and two transactions cannot fork the chain.
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import json
from collections.abc import Callable, Iterator
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any, Final

from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone

from bankmall.core.canonical import canonical_json, digest, to_jsonable
from bankmall.core.models import AuditChainHead, AuditRecord

GENESIS_HASH: Final = "0" * 64
VERIFY_BATCH_SIZE: Final = 2_000


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


def _chain_fields(record: AuditRecord) -> dict[str, Any]:
    return {
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


def compute_hash(previous_hash: str, record: AuditRecord) -> str:
    key = settings.AUDIT_CHAIN_KEY.encode("utf-8")
    message = previous_hash.encode("ascii") + b"|" + canonical_json(_chain_fields(record))
    return hmac.new(key, message, hashlib.sha256).hexdigest()


class AuditChainBrokenError(RuntimeError):
    """The chain head is gone while records exist: refuse to write until an operator checks."""


def _locked_head() -> tuple[int, str]:
    """Lock the chain head and return its (sequence, record_hash) in one round trip."""
    lock = " FOR UPDATE" if connection.vendor == "postgresql" else ""
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT sequence, record_hash FROM core_auditchainhead WHERE id = 1{lock}"  # noqa: S608
        )
        row = cursor.fetchone()
    if row is not None:
        return int(row[0]), str(row[1])
    # The migration creates the head; only a database flushed without it (a test run, or a
    # restore from a partial dump) lacks one. An empty chain may start again from genesis;
    # a chain with records and no head has been tampered with.
    if AuditRecord.objects.exists():
        raise AuditChainBrokenError("the audit chain head is missing; run 'bankmall audit verify'")
    AuditChainHead.objects.create(pk=1, sequence=0, record_hash="")
    head = AuditChainHead.objects.select_for_update().get(pk=1)
    return head.sequence, head.record_hash


_APPEND_SQL: Final = (
    "WITH appended AS (INSERT INTO core_auditrecord (sequence, occurred_at, actor, action,"
    " target, before_digest, after_digest, details, request_id, ip_address, previous_hash,"
    " record_hash) VALUES (%s, %s, %s, %s, %s, %s, %s, %s::jsonb, %s, %s::inet, %s, %s)"
    " RETURNING id)"
    " UPDATE core_auditchainhead SET sequence = %s, record_hash = %s WHERE id = 1"
    " RETURNING (SELECT id FROM appended)"
)


def _append(record: AuditRecord) -> None:
    """Insert ``record`` and move the head to it: one statement on PostgreSQL."""
    if connection.vendor != "postgresql":
        record.save(force_insert=True)
        AuditChainHead.objects.filter(pk=1).update(
            sequence=record.sequence, record_hash=record.record_hash
        )
        return
    with connection.cursor() as cursor:
        cursor.execute(
            _APPEND_SQL,
            [
                record.sequence,
                record.occurred_at,
                record.actor,
                record.action,
                record.target,
                record.before_digest,
                record.after_digest,
                json.dumps(record.details),
                record.request_id,
                record.ip_address,
                record.previous_hash,
                record.record_hash,
                record.sequence,
                record.record_hash,
            ],
        )
        (record.id,) = cursor.fetchone()
    record._state.adding = False
    record._state.db = connection.alias


def record_audit(
    action: str,
    *,
    target: str = "",
    before: Any = None,
    after: Any = None,
    details: dict[str, Any] | None = None,
    actor: str | None = None,
) -> AuditRecord:
    """Append one record to the audit chain inside the caller's transaction.

    ``before`` and ``after`` are stored only as SHA-256 digests of their canonical JSON, so the
    log proves what changed without copying personal data into it. ``details`` is stored as
    given: it must not hold personal data in clear.

    Raises ``OutsideTransactionError`` when called outside ``transaction.atomic``.
    """
    if not transaction.get_connection().in_atomic_block:
        raise OutsideTransactionError("record_audit must run inside the action's transaction")
    context = current_context()
    head_sequence, head_hash = _locked_head()
    # After this point the operation must succeed.
    record = AuditRecord(
        sequence=head_sequence + 1,
        occurred_at=timezone.now(),
        actor=actor or context.resolve_actor(),
        action=action,
        target=target,
        before_digest=digest(before),
        after_digest=digest(after),
        details=to_jsonable(details or {}),
        request_id=context.request_id,
        ip_address=context.ip_address,
        previous_hash=head_hash or GENESIS_HASH,
    )
    record.record_hash = compute_hash(record.previous_hash, record)
    _append(record)
    return record


@dataclass(slots=True)
class ChainReport:
    """The verifier's findings; ``is_intact`` when there are none."""

    records_checked: int = 0
    problems: list[str] = field(default_factory=list)

    @property
    def is_intact(self) -> bool:
        return not self.problems


def verify_chain(*, max_problems: int = 20) -> ChainReport:
    """Walk the whole chain in sequence order and report every break found.

    Detects an edited row (its hash no longer matches), a deleted row (a gap in ``sequence`` or
    a broken ``previous_hash`` link), an inserted row (a duplicate position, a bad link or a
    hash made without the key) and a truncated tail (the head names a later record).
    """
    report = ChainReport()
    expected_sequence = 1
    previous_hash = GENESIS_HASH
    last_id = 0
    while len(report.problems) < max_problems:
        batch = list(AuditRecord.objects.filter(id__gt=last_id).order_by("id")[:VERIFY_BATCH_SIZE])
        if not batch:
            break
        for record in batch:
            report.records_checked += 1
            _verify_record(record, expected_sequence, previous_hash, report)
            expected_sequence = record.sequence + 1
            previous_hash = record.record_hash
        last_id = batch[-1].id
    _verify_head(expected_sequence - 1, previous_hash, report)
    return report


def _verify_record(
    record: AuditRecord, expected_sequence: int, previous_hash: str, report: ChainReport
) -> None:
    if record.sequence != expected_sequence:
        report.problems.append(
            f"audit record #{record.sequence} found where #{expected_sequence} was expected"
            " (a record was deleted or inserted)"
        )
    if record.previous_hash != previous_hash:
        report.problems.append(
            f"audit record #{record.sequence} does not link to the record before it"
        )
    if not hmac.compare_digest(compute_hash(record.previous_hash, record), record.record_hash):
        report.problems.append(f"audit record #{record.sequence} was altered (hash mismatch)")


def _verify_head(last_sequence: int, last_hash: str, report: ChainReport) -> None:
    head = AuditChainHead.objects.filter(pk=1).first()
    if head is None:
        if last_sequence > 0:
            report.problems.append("the audit chain head is missing")
        return
    if head.sequence != last_sequence or (head.record_hash or GENESIS_HASH) != last_hash:
        report.problems.append(
            f"the audit chain ends at #{last_sequence} but its head names #{head.sequence}"
            " (records were removed from or added to the end)"
        )


def export_lines(*, after_sequence: int = 0, limit: int | None = None) -> Iterator[str]:
    """Yield audit records as JSON lines in sequence order (for ``bankmall audit export``)."""
    queryset = AuditRecord.objects.filter(sequence__gt=after_sequence).order_by("sequence")
    if limit is not None:
        queryset = queryset[:limit]
    for record in queryset.iterator(chunk_size=VERIFY_BATCH_SIZE):
        row = _chain_fields(record) | {
            "previous_hash": record.previous_hash,
            "record_hash": record.record_hash,
        }
        yield json.dumps(to_jsonable(row), ensure_ascii=False, sort_keys=True)
