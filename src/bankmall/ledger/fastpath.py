"""A linked batch of new transfers as one SQL statement in autocommit mode (PostgreSQL).

The common write — new posted or pending transfers between accounts named by id, called
outside any transaction — needs no conversation with the database: one statement locks and
updates the accounts (aggregated per account, in primary-key order), inserts the transfers,
the outbox event and the audit record (on the connection's own audit lane, whose head the
process remembers), and checks every precondition itself. Any broken precondition makes the
statement call ``bankmall_abort``, so PostgreSQL's statement atomicity undoes all of it: the
caller then takes the transactional path (``posting.post_batch``), which re-checks everything
and names the precise error, or replays an existing idempotency key. One round trip and no
BEGIN/COMMIT instead of six, and no lock held while Python runs.

What the statement checks is exactly what the transactional path checks for these kinds:
every account exists, is active and holds the transfer's currency; no touched account breaks
its limit flag after the batch; every transfer was inserted (its key is new).
"""

from __future__ import annotations

import datetime as dt
import functools
import itertools
import re
from typing import Any, Final

import psycopg
from django.db import DEFAULT_DB_ALIAS, connections
from psycopg.types.numeric import Int8

from bankmall.core.audit import prepare_lane_append
from bankmall.core.outbox import prepare_event
from bankmall.ledger import posting

ABORT_PREFIX: Final = "bankmall_abort:"
PREPARE_ONLY_WHEN_ASKED: Final = 2**31 - 1
#: Transfers per statement; larger batches take the transactional path (its COPY-sized
#: inserts are chunked), and so does anything that is not a new movement between ids.
FAST_BATCH_MAX: Final = 8_190

_CHECKS: Final = (
    " SELECT CASE"
    " WHEN (SELECT count(*) FROM u) <> %s THEN bankmall_abort('accounts')"
    " WHEN EXISTS (SELECT 1 FROM u WHERE u.status <> 'active'"
    " OR (u.debits_must_not_exceed_credits AND u.debits_posted_minor + u.debits_pending_minor"
    " > u.credits_posted_minor + u.overdraft_limit_minor)"
    " OR (u.credits_must_not_exceed_debits AND u.credits_posted_minor + u.credits_pending_minor"
    " > u.debits_posted_minor + u.overdraft_limit_minor)) THEN bankmall_abort('limits')"
    " WHEN (SELECT count(*) FROM i) <> %s THEN bankmall_abort('transfers')"
    " ELSE 0 END"
)
_SQL: Final = (
    posting.TRANSFER_CTES.format(
        returning=posting.qualified_returning(),
        where=" WHERE da.currency = t.y AND ca.currency = t.y",
        # A plain insert: a key that exists fails the statement (unique violation) and the
        # transactional path replays it. ON CONFLICT's speculative insertion costs every
        # insert an extra index probe and WAL record for the rare retry.
        conflict="",
    )
    + ", {event}, {audit}"
    + _CHECKS
)


@functools.cache
def _statement(event_sql: str, audit_sql: str) -> str:
    """The statement with PostgreSQL's own ``$n`` placeholders, for a raw cursor: psycopg
    converts ``%s`` on every call for a statement this long, which costs more than the rest
    of the Python work of a transfer (it still prepares it on the server after five calls)."""
    text = _SQL.format(event=event_sql, audit=audit_sql)
    if "%%" in text or "$" in text:
        raise AssertionError("the fast statement must use only %s placeholders")
    numbers = itertools.count(1)
    return re.sub(r"%s", lambda _match: f"${next(numbers)}", text)


def _execute(statement: str, params: list[Any]) -> None:
    """Run the statement as a prepared statement of this connection.

    Django turns psycopg's automatic preparation off (``prepare_threshold=None``); planning
    this statement costs several times its execution, so it is prepared on request only:
    a threshold nothing reaches, and ``prepare=True`` here. Integers go as ``int8`` so the
    prepared statement's parameter types do not change with the values' sizes.

    Prepared is not enough: PostgreSQL's default ``plan_cache_mode`` (auto) compares the
    generic plan's estimate with custom plans', and for this statement custom plans win once
    the tables have statistics, so it re-planned on every call anyway (half the server's CPU
    per transfer). The connection forces the generic plan; Django's own queries are unnamed
    statements, which are always planned once for their parameters, so only prepared
    statements (this one) are affected.
    """
    raw = connections[DEFAULT_DB_ALIAS].connection
    if raw.prepare_threshold is None:
        raw.prepare_threshold = PREPARE_ONLY_WHEN_ASKED
        raw.execute("SET plan_cache_mode = force_generic_plan")
    typed = [Int8(value) if type(value) is int else value for value in params]
    with psycopg.RawCursor(raw) as cursor:
        cursor.execute(statement, typed, prepare=True)


def applies(rows: list[posting.Row]) -> bool:
    """Whether ``rows`` can be written by one autocommit statement."""
    database = connections[DEFAULT_DB_ALIAS]
    return (
        database.vendor == "postgresql"
        and not database.in_atomic_block
        and len(rows) <= FAST_BATCH_MAX
        and all(
            row.kind in {"single", "pending"}
            and not row.reference_id
            and row.debit_ref.startswith("lac_")
            and row.credit_ref.startswith("lac_")
            for row in rows
        )
    )


def try_post(rows: list[posting.Row], *, client: str, actor: str | None, now: dt.datetime) -> bool:
    """Write ``rows`` in one statement; ``True`` when committed, ``False`` when nothing was
    written and the transactional path must decide (an error to name, a key that exists, a
    lost connection whose outcome that path's idempotent replay settles)."""
    deltas = posting.aggregate(rows)
    for _attempt in range(2):
        event_sql, event_params, _event_id = prepare_event(
            "ledger.transfers_created",
            aggregate_id=rows[0].public_id,
            payload=posting.event_content(rows, client=client),
        )
        target, after, details = posting.audit_content(rows, client=client)
        audit = prepare_lane_append(
            "ledger.transfers_created", target=target, after=after, details=details, actor=actor
        )
        params = [
            *posting.transfer_params(rows, deltas, client=client, now=now),
            *event_params,
            *audit.params,
            len(deltas),
            len(rows),
        ]
        try:
            _execute(_statement(event_sql, audit.sql), params)
        except psycopg.errors.RaiseException as error:
            audit.forget()
            if str(error.diag.message_primary or "") == ABORT_PREFIX + "audit_lane":
                continue  # Another connection shares this lane: read its head, try again.
            return False
        except psycopg.Error:
            audit.forget()
            return False
        audit.confirm()
        return True
    return False
