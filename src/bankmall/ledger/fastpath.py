"""A linked batch of new transfers as one SQL statement in autocommit mode (PostgreSQL).

The common write — new posted or pending transfers between accounts named by id, called
outside any transaction — needs no conversation with the database: one statement inserts the
transfers and the outbox event, locks and updates the accounts (aggregated per account, in
primary-key order), appends the audit record (on the connection's own audit lane, whose head
the process remembers), and checks every precondition itself. Any broken precondition makes the
statement call ``bankmall_abort``, so PostgreSQL's statement atomicity undoes all of it: the
caller then takes the transactional path (``posting.post_batch``), which re-checks everything
and names the precise error, or replays an existing idempotency key. One round trip and no
BEGIN/COMMIT instead of six, and no lock held while Python runs.

What the statement checks is exactly what the transactional path checks for these kinds:
every account exists, is active and holds the transfer's currency; no touched account breaks
its limit flag after the batch; every transfer was inserted (its key is new).

A sharded account (``credit_shards``) that the batch only credits with posted transfers is not
locked: its credits go to one shard row (``sharded``, ``s``), whose copy of the account's
status is read under that row's lock, after the account rows and before the audit lane.
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

#: An updated account (``u``) that is not active or breaks its limit flag.
_BROKEN: Final = (
    "SELECT 1 FROM u WHERE u.status <> 'active'"
    " OR (u.debits_must_not_exceed_credits AND u.debits_posted_minor + u.debits_pending_minor"
    " > u.credits_posted_minor + u.overdraft_limit_minor)"
    " OR (u.credits_must_not_exceed_debits AND u.credits_posted_minor + u.credits_pending_minor"
    " > u.debits_posted_minor + u.overdraft_limit_minor)"
)


def _checks(*, transfers_missing: str, accounts_missing: str) -> str:
    """The main query of both statements: its CASE pulls the CTEs in this order (transfers,
    event, accounts, shard rows, audit record) and calls ``bankmall_abort`` at the first broken
    check. ``sharded`` lists the accounts credited through a shard (not in ``u``); each must
    have had its shard row updated (``s``), with the account active."""
    return (
        " SELECT CASE"  # noqa: S608 (constants only)
        f" WHEN {transfers_missing} THEN bankmall_abort('transfers')"
        " WHEN NOT EXISTS (SELECT FROM outbox_row) THEN bankmall_abort('event')"
        f" WHEN {accounts_missing} THEN bankmall_abort('accounts')"
        " WHEN (SELECT count(*) FROM s WHERE s.status = 'active')"
        " <> (SELECT count(*) FROM sharded) THEN bankmall_abort('shards')"
        f" WHEN EXISTS ({_BROKEN}) THEN bankmall_abort('limits')"
        " WHEN NOT EXISTS (SELECT FROM audit_row) THEN bankmall_abort('audit')"
        " ELSE 0 END"
    )


#: The accounts credited through a shard (``sharded``, from ``acc`` and ``d``), their shard
#: rows locked in id order (``sv``) and credited (``s``, returning the status copy).
_SHARD_CTES: Final = (
    "sharded AS (SELECT acc.id, acc.credit_shards, d.dcs FROM acc JOIN d ON acc.public_id = d.ref"
    " WHERE acc.credit_shards > 0 AND d.dcs > 0),"
    " sv AS MATERIALIZED (SELECT sh.id, sharded.dcs FROM sharded JOIN ledger_accountshard sh"
    " ON sh.account_id = sharded.id AND sh.shard = mod((SELECT n FROM chooser),"
    " sharded.credit_shards) ORDER BY sh.id FOR UPDATE OF sh),"
    " s AS (UPDATE ledger_accountshard SET credits_posted_minor"
    " = ledger_accountshard.credits_posted_minor + sv.dcs FROM sv"
    " WHERE ledger_accountshard.id = sv.id RETURNING ledger_accountshard.status)"
)

#: A batch, in the order that keeps account locks short (as for one transfer below): the
#: transfers are inserted with account ids and currencies read without a lock (``acc``; both
#: never change), then the event, then the accounts are locked in primary-key order and
#: updated, then the shard rows of accounts credited through a shard, then the audit record is
#: appended. Parameters: ``posting.transfer_params``, the event's, the audit record's, the
#: number of transfers, the number of accounts.
_SQL: Final = (
    f"WITH {posting.DELTAS_CTE}, {posting.ACCOUNTS_CTE}, "  # noqa: S608 (constants only)
    + posting.INSERT_CTE.format(
        source="acc",
        where=" WHERE da.currency = t.y AND ca.currency = t.y",
        # A plain insert: a key that exists fails the statement (unique violation) and the
        # transactional path replays it. ON CONFLICT's speculative insertion costs every
        # insert an extra index probe and WAL record for the rare retry.
        conflict="",
    )
    + ", {event}, "
    + posting.LOCK_AND_UPDATE_CTES.format(returning=posting.qualified_returning())
    + f", {_SHARD_CTES}, {{audit}}"
    + _checks(
        transfers_missing="(SELECT count(*) FROM i) <> %s",
        accounts_missing="(SELECT count(*) FROM u) <> %s - (SELECT count(*) FROM sharded)",
    )
)


#: One transfer, the commonest write: scalar parameters instead of arrays to split and join,
#: and an order that keeps account locks short. The main query's CASE pulls the CTEs in turn:
#: the transfer and the event are inserted first (account ids and currencies read without a
#: lock: both never change), then the two accounts are locked in primary-key order and
#: updated, then the audit record is appended (accounts before the audit lane, the order of
#: every other path). A hot account is held for its update, the checks, the audit row and the
#: commit, not for the whole statement. A posted credit to a sharded account locks and updates
#: one of its shard rows instead (``sharded``, ``s``; after the account row, before the audit
#: lane). $1/$2 debit/credit account, $3 currency, $4 amount, $5/$6 the amount when
#: posted/pending (else 0), $7-$17 the transfer's other columns, $18 the shard chooser.
_SINGLE_SQL: Final = (
    "WITH acc AS (SELECT id, public_id, currency, credit_shards"  # noqa: S608 (constants)
    " FROM ledger_account WHERE public_id IN ($1::text, $2::text)),"
    f" i AS (INSERT INTO ledger_transfer ({posting.TRANSFER_COLUMNS})"
    " SELECT $7, $8, $9, $10, $11, da.id, ca.id, $4, $3::text, $12, $13, $14::jsonb,"
    " $15::date, NULL, NULL, NULLIF($16, '')::timestamptz, $17 FROM acc da, acc ca"
    " WHERE da.public_id = $1::text AND ca.public_id = $2::text"
    " AND da.currency = $3::text AND ca.currency = $3::text"
    " RETURNING 1),"
    " sharded AS (SELECT id, credit_shards FROM acc"
    " WHERE public_id = $2::text AND credit_shards > 0 AND $5 > 0),"
    " v AS MATERIALIZED (SELECT id FROM ledger_account WHERE public_id IN ($1::text, $2::text)"
    " AND NOT (public_id = $2::text AND credit_shards > 0 AND $5 > 0) ORDER BY id FOR UPDATE),"
    " u AS (UPDATE ledger_account SET"
    " debits_posted_minor = ledger_account.debits_posted_minor"
    " + CASE WHEN ledger_account.public_id = $1::text THEN $5 ELSE 0 END,"
    " credits_posted_minor = ledger_account.credits_posted_minor"
    " + CASE WHEN ledger_account.public_id = $2::text THEN $5 ELSE 0 END,"
    " debits_pending_minor = ledger_account.debits_pending_minor"
    " + CASE WHEN ledger_account.public_id = $1::text THEN $6 ELSE 0 END,"
    " credits_pending_minor = ledger_account.credits_pending_minor"
    " + CASE WHEN ledger_account.public_id = $2::text THEN $6 ELSE 0 END"
    " FROM v WHERE ledger_account.id = v.id RETURNING {returning}),"
    " s AS (UPDATE ledger_accountshard SET credits_posted_minor"
    " = ledger_accountshard.credits_posted_minor + $5 FROM sharded"
    " WHERE ledger_accountshard.account_id = sharded.id"
    " AND ledger_accountshard.shard = mod($18, sharded.credit_shards)"
    " RETURNING ledger_accountshard.status),"
    " {{event}}, {{audit}}"
).format(returning=posting.qualified_returning()) + _checks(
    transfers_missing="NOT EXISTS (SELECT FROM i)",
    accounts_missing="(SELECT count(*) FROM u) <> 2 - (SELECT count(*) FROM sharded)",
)
_SINGLE_PARAMS: Final = 18


def _numbered(text: str, *, first: int = 1) -> str:
    """``text`` with its ``%s`` placeholders as PostgreSQL's own ``$first``, ``$first+1`` …, for
    a raw cursor: psycopg converts ``%s`` on every call for a statement this long, which costs
    more than the rest of the Python work of a transfer."""
    if "%%" in text:
        raise AssertionError("the fast statements use only %s placeholders")
    numbers = itertools.count(first)
    return re.sub(r"%s", lambda _match: f"${next(numbers)}", text)


@functools.cache
def _single_statement(event_sql: str, audit_sql: str) -> str:
    """``_SINGLE_SQL`` with the event's and the audit record's ``%s`` numbered after its own."""
    tail = _numbered(f"{event_sql}, {audit_sql}", first=_SINGLE_PARAMS + 1)
    return _SINGLE_SQL.replace("{event}, {audit}", tail)


def _single_params(row: posting.Row, *, client: str, now: dt.datetime) -> list[Any]:
    """The statement's $1 to $18 (``_SINGLE_SQL``)."""
    code, reference, metadata = posting.row_texts(row)
    pending = row.kind == "pending"
    return [
        row.debit_ref,
        row.credit_ref,
        row.currency,
        row.amount_minor,
        0 if pending else row.amount_minor,
        row.amount_minor if pending else 0,
        row.public_id,
        client,
        row.key,
        row.digest,
        row.kind,
        code,
        reference,
        metadata,
        posting.value_date_text(row.request, now.date().isoformat()),
        row.expires_at.isoformat() if row.expires_at else "",
        now,
        posting.shard_chooser(),
    ]


@functools.cache
def _statement(event_sql: str, audit_sql: str) -> str:
    """The batch statement with ``$n`` placeholders."""
    text = _SQL.format(event=event_sql, audit=audit_sql)
    if "$" in text:
        raise AssertionError("the batch statement must use only %s placeholders")
    return _numbered(text)


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
        and posting.are_new_movements(rows)
    )


def try_post(rows: list[posting.Row], *, client: str, actor: str | None, now: dt.datetime) -> bool:
    """Write ``rows`` in one statement; ``True`` when committed, ``False`` when nothing was
    written and the transactional path must decide (an error to name, a key that exists, a
    lost connection whose outcome that path's idempotent replay settles)."""
    single = len(rows) == 1
    deltas = {} if single else posting.aggregate(rows)
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
        if single:
            statement = _single_statement(event_sql, audit.sql)
            params = [*_single_params(rows[0], client=client, now=now), *event_params]
            params += audit.params
        else:
            statement = _statement(event_sql, audit.sql)
            params = [
                *posting.transfer_params(rows, deltas, client=client, now=now),
                *event_params,
                *audit.params,
                len(rows),
                len(deltas),
            ]
        try:
            _execute(statement, params)
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
