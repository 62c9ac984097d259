"""A linked batch of new transfers as one SQL statement in autocommit mode (PostgreSQL).

The common write — new posted or pending transfers between accounts named by id, called outside any
transaction — needs no conversation with the database: one statement inserts the transfers, locks
and updates the accounts (aggregated per account, in primary-key order), appends the audit record
that also announces the batch's event (on the connection's own audit lane, whose head the process
remembers; ``outbox.announce``), and checks every precondition itself. Any broken precondition makes
the statement call ``bankmall_abort``, so PostgreSQL's statement atomicity undoes all of it: the
caller then takes the transactional path (``posting.post_batch``), which re-checks everything and
names the precise error, or replays an existing idempotency key. One round trip and no BEGIN/COMMIT
instead of six, and no lock held while Python runs.

What the statement checks is exactly what the transactional path checks for these kinds:
every account exists, is active and holds the transfer's currency; no touched account breaks
its limit flag after the batch; every transfer was inserted (its key is new). The accounts'
ids come from what the process remembers about them (``_KNOWN``), checked by the statement.

A sharded account (``credit_shards``) that the batch only credits with posted transfers is not
locked: its credits go to one shard row (``sd``, ``s``), whose copy of the account's
status is read under that row's lock, after the account rows and before the audit lane.
"""

from __future__ import annotations

import array
import datetime as dt
import functools
import hashlib
import itertools
import json
import operator
import re
import struct
import sys
import weakref
from collections.abc import Callable, Iterable, Sequence
from typing import Any, Final, NamedTuple

import psycopg
from django.db import DEFAULT_DB_ALIAS, connections
from django.db.backends.base.base import BaseDatabaseWrapper
from psycopg.pq import DiagnosticField, ExecStatus

from bankmall.core.audit import prepare_lane_append
from bankmall.ledger import contents, posting

ABORT_PREFIX: Final = "bankmall_abort:"
#: Transfers per statement; larger batches take the transactional path (its COPY-sized
#: inserts are chunked), and so does anything that is not a new movement between ids.
FAST_BATCH_MAX: Final = 8_190


def _broken_test(table: str) -> str:
    """Whether an account row of ``table`` (new totals) is not active or breaks its limit flag."""
    return (
        f"{table}.status <> 'active'"
        f" OR ({table}.debits_must_not_exceed_credits"
        f" AND {table}.debits_posted_minor + {table}.debits_pending_minor"
        f" > {table}.credits_posted_minor + {table}.overdraft_limit_minor)"
        f" OR ({table}.credits_must_not_exceed_debits"
        f" AND {table}.credits_posted_minor + {table}.credits_pending_minor"
        f" > {table}.debits_posted_minor + {table}.overdraft_limit_minor)"
    )


#: An updated account (``u``) that is not active or breaks its limit flag.
_BROKEN: Final = f"SELECT 1 FROM u WHERE {_broken_test('u')}"  # noqa: S608 (constants only)
#: What the one-transfer statement's update returns when neither account row is sharded: only
#: whether the row is broken (the same test on the new totals), one column to project instead
#: of the eleven ``_BROKEN`` would read.
_BROKEN_RETURNED: Final = f"({_broken_test('ledger_account')}) AS broken"


def _checks(
    *,
    transfers_missing: str,
    accounts_missing: str,
    shards_missing: str | None,
    broken: str = f"EXISTS ({_BROKEN})",
) -> str:
    """The main query of the statements: its CASE pulls the CTEs in this order (transfers,
    accounts, shard rows, audit record) and calls ``bankmall_abort`` at the first broken
    check. An account credited through a shard is not in ``u``; its shard row must have been
    updated (``s``), with the account active. ``shards_missing`` ``None``: no shard rows."""
    shards = (
        f" WHEN (SELECT count(*) FROM s WHERE s.status = 'active') <> {shards_missing}"  # noqa: S608
        " THEN bankmall_abort('shards')"
        if shards_missing is not None
        else ""
    )
    return (
        " SELECT CASE"  # noqa: S608 (constants only)
        f" WHEN {transfers_missing} THEN bankmall_abort('transfers')"
        f" WHEN {accounts_missing} THEN bankmall_abort('accounts')"
        f"{shards}"
        f" WHEN {broken} THEN bankmall_abort('limits')"
        " WHEN NOT EXISTS (SELECT FROM audit_row) THEN bankmall_abort('audit')"
        " ELSE 0 END"
    )


#: A batch's accounts, with the primary key, public id and currency the process remembers for
#: each (``_accounts``; the statement checks them): the per-account deltas of the accounts
#: whose rows are updated (``d``), and the posted credits of sharded accounts that the batch
#: only credits, with the shard each goes to (``sd``). Each column is one array parameter
#: sent in binary (``_batch_params``), unnested in the select list: no text for the server to split
#: or parse, and no tuplestore per column, which a function scan in FROM fills.
_DELTAS_CTES: Final = (
    "d(id, ref, cur, ddp, dcp, ddn, dcn) AS (SELECT "
    + ", ".join(f"unnest(%s::{kind}[])" for kind in ("bigint", "text", "text", *["bigint"] * 4))
    + "), sd(id, ref, cur, shard, dcs) AS (SELECT "
    + ", ".join(f"unnest(%s::{kind}[])" for kind in ("bigint", "text", "text", "int", "bigint"))
    + ")"
)
#: The transfers' columns as ``_batch_params`` sends them: (name, array type).
_TRANSFER_ARRAYS: Final = (
    ("p", "text"),
    ("k", "text"),
    ("g", "text"),
    ("n", "text"),
    ("da", "bigint"),
    ("ca", "bigint"),
    ("a", "bigint"),
    ("y", "text"),
    ("o", "text"),
    ("r", "text"),
    ("m", "text"),
    ("v", "date"),
    ("x", "timestamptz"),
)
#: The shard rows credited (``sd``) locked in id order (``sv``) — only where the account's row
#: carries the public id and currency remembered — and credited (``s``, returning the status
#: copy, read under the shard row's lock).
_SHARD_CTES: Final = (
    "sv AS MATERIALIZED (SELECT sh.id, sd.dcs FROM sd JOIN ledger_account a ON a.id = sd.id"
    " AND a.public_id = sd.ref AND a.currency = sd.cur JOIN ledger_accountshard sh"
    " ON sh.account_id = sd.id AND sh.shard = sd.shard ORDER BY sh.id FOR UPDATE OF sh),"
    " s AS (UPDATE ledger_accountshard SET credits_posted_minor"
    " = ledger_accountshard.credits_posted_minor + sv.dcs FROM sv"
    " WHERE ledger_accountshard.id = sv.id RETURNING ledger_accountshard.status)"
)

#: The accounts of ``d`` locked in primary-key order (``v``: an index scan of the ids, which
#: ``_batch_params`` sends once more for it, so no join with ``d`` whose every row the lock
#: would have to copy), and updated by their deltas (``u``) once all are locked: ``u``'s
#: condition on ``v`` has no column of either table, so it is a one-time filter that runs
#: ``v`` to the end before ``u`` reads a row. Only rows that carry the public id and currency
#: remembered are updated.
_LOCK_AND_UPDATE_CTES: Final = (
    "u AS (UPDATE ledger_account SET"  # noqa: S608 (constants only)
    " debits_posted_minor = ledger_account.debits_posted_minor + d.ddp,"
    " credits_posted_minor = ledger_account.credits_posted_minor + d.dcp,"
    " debits_pending_minor = ledger_account.debits_pending_minor + d.ddn,"
    " credits_pending_minor = ledger_account.credits_pending_minor + d.dcn"
    " FROM d WHERE ledger_account.id = d.id AND ledger_account.public_id = d.ref"
    " AND ledger_account.currency = d.cur AND (SELECT count(*) FROM v) > 0"
    f" RETURNING {posting.qualified_returning()})"
)
#: A batch, in the order that keeps account locks short (as for one transfer below): the
#: transfers are inserted with the account ids the process remembers, then the
#: accounts are locked in primary-key order and updated (only rows that carry the public id and
#: currency remembered), then the shard rows of accounts credited through a shard, then the
#: audit record is appended. Parameters: the accounts' and the transfers' (``_batch_params``),
#: the audit record's, the number of transfers, of account rows and of shard rows.
_SQL: Final = (
    f"WITH {_DELTAS_CTES},"  # noqa: S608 (constants only)
    " v AS MATERIALIZED (SELECT a.id FROM ledger_account a WHERE a.id = ANY (%s::bigint[])"
    " ORDER BY a.id FOR UPDATE),"
    f" i AS (INSERT INTO ledger_transfer ({posting.TRANSFER_COLUMNS})"
    # Metadata NULL stands for the empty object (the common case): a constant, not parsed.
    " SELECT t.p, %s, t.k, t.g, t.n, t.da, t.ca, t.a, t.y, t.o, t.r,"
    " COALESCE(t.m::jsonb, '{{}}'::jsonb), t.v, NULL, NULL, t.x, %s FROM (SELECT "
    + ", ".join(f"unnest(%s::{kind}[]) AS {name}" for name, kind in _TRANSFER_ARRAYS)
    + ") AS t"
    # A plain insert: a key that exists fails the statement (unique violation) and the
    # transactional path replays it. ON CONFLICT's speculative insertion costs every insert
    # an extra index probe and WAL record for the rare retry.
    " RETURNING 1), "
    + _LOCK_AND_UPDATE_CTES.replace("{", "{{").replace("}", "}}")
    + f", {_SHARD_CTES}, {{audit}}"
    + _checks(
        transfers_missing="(SELECT count(*) FROM i) <> %s",
        accounts_missing="(SELECT count(*) FROM u) <> %s",
        shards_missing="%s",
    )
)


#: One transfer, the commonest write: scalar parameters instead of arrays to split and join,
#: and an order that keeps account locks short. The main query's CASE pulls the CTEs in turn:
#: the transfer is inserted first (with the account ids the process remembers),
#: then the accounts are locked in primary-key order and updated — only rows that carry the
#: public ids and currency remembered — then the audit record is appended (accounts before the
#: audit lane, the order of every other path). A hot account is held for its update, the
#: checks, the audit row and the commit, not for the whole statement. A posted credit to a
#: sharded account locks and updates one of its shard rows instead (``s``, after the account
#: row, before the audit lane). $1/$2 debit/credit account ids, $3 currency, $4 amount, $5/$6
#: the amount when posted/pending (else 0), $7-$17 the transfer's other columns, $18/$19
#: debit/credit account public ids, $20 the credit account's id when its row is updated (else
#: 0), $21 its id when a shard row is (else 0), $22 the shard.
_SINGLE_SQL: Final = (
    f"WITH i AS (INSERT INTO ledger_transfer ({posting.TRANSFER_COLUMNS})"  # noqa: S608
    " VALUES ($7, $8, $9, $10, $11, $1, $2, $4, $3::text, $12, $13, $14::jsonb,"
    " $15::date, NULL, NULL, NULLIF($16, '')::timestamptz, $17) RETURNING 1),"
    " v AS MATERIALIZED (SELECT id FROM ledger_account WHERE id IN ($1, $20)"
    " ORDER BY id FOR UPDATE),"
    " u AS (UPDATE ledger_account SET"
    " debits_posted_minor = ledger_account.debits_posted_minor"
    " + CASE WHEN ledger_account.id = $1 THEN $5 ELSE 0 END,"
    " credits_posted_minor = ledger_account.credits_posted_minor"
    " + CASE WHEN ledger_account.id = $2 THEN $5 ELSE 0 END,"
    " debits_pending_minor = ledger_account.debits_pending_minor"
    " + CASE WHEN ledger_account.id = $1 THEN $6 ELSE 0 END,"
    " credits_pending_minor = ledger_account.credits_pending_minor"
    " + CASE WHEN ledger_account.id = $2 THEN $6 ELSE 0 END"
    " WHERE ledger_account.id = ANY (ARRAY(SELECT id FROM v))"
    " AND ledger_account.currency = $3::text"
    " AND ledger_account.public_id = CASE WHEN ledger_account.id = $1 THEN $18::text"
    " ELSE $19::text END RETURNING {returning}),"
    "{shard}"
    " {{audit}}"
)
#: The shard row's update, only in the statement for transfers that touch a sharded account.
_SINGLE_SHARD_CTE: Final = (
    " s AS (UPDATE ledger_accountshard SET credits_posted_minor"
    " = ledger_accountshard.credits_posted_minor + $5"
    " WHERE ledger_accountshard.account_id = $21 AND ledger_accountshard.shard = $22"
    " AND EXISTS (SELECT FROM ledger_account a WHERE a.id = $21 AND a.public_id = $19::text"
    " AND a.currency = $3::text) RETURNING ledger_accountshard.status),"
)
_SINGLE_PARAMS: Final = 22


def _numbered(text: str, *, first: int = 1) -> str:
    """``text`` with its ``%s`` placeholders as PostgreSQL's own ``$first``, ``$first+1`` …, for
    a raw cursor: psycopg converts ``%s`` on every call for a statement this long, which costs
    more than the rest of the Python work of a transfer."""
    if "%%" in text:
        raise AssertionError("the fast statements use only %s placeholders")
    numbers = itertools.count(first)
    return re.sub(r"%s", lambda _match: f"${next(numbers)}", text)


@functools.cache
def _single_statement(audit_sql: str, *, to_shard: bool, sums: bool) -> str:
    """``_SINGLE_SQL`` with the audit record's ``%s`` numbered after its own.

    Only the parts a transfer needs: the shard row's update when its credit goes to a shard
    (``to_shard``), the shards' credits in the updated accounts' totals when one of them is
    sharded (``sums``). PostgreSQL initialises every part of a plan at each execution, used
    or not: without both, the statement costs ~10 % less server CPU. Without sums the update
    returns only whether each row is broken (``_BROKEN_RETURNED``), not the totals.
    """
    text = _SINGLE_SQL.format(
        returning=posting.qualified_returning(shards=True) if sums else _BROKEN_RETURNED,
        shard=_SINGLE_SHARD_CTE if to_shard else "",
    ) + _checks(
        transfers_missing="NOT EXISTS (SELECT FROM i)",
        accounts_missing="(SELECT count(*) FROM u) <> CASE WHEN $20 > 0 THEN 2 ELSE 1 END",
        shards_missing="CASE WHEN $21 > 0 THEN 1 ELSE 0 END" if to_shard else None,
        broken=f"EXISTS ({_BROKEN})" if sums else "EXISTS (SELECT FROM u WHERE u.broken)",
    )
    return text.replace("{audit}", _numbered(audit_sql, first=_SINGLE_PARAMS + 1))


def _to_shard(row: posting.Row, credit: Known) -> bool:
    """Whether the transfer's credit goes to one of the credit account's shard rows."""
    return credit.credit_shards > 0 and row.kind == "single"


def _single_params(
    row: posting.Row, accounts: dict[str, Known], *, client: str, now: dt.datetime
) -> list[Any]:
    """The statement's $1 to $22 (``_SINGLE_SQL``)."""
    code, reference, metadata = posting.row_texts(row)
    pending = row.kind == "pending"
    debit, credit = accounts[row.debit_ref], accounts[row.credit_ref]
    to_shard = _to_shard(row, credit)
    return [
        debit.pk,
        credit.pk,
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
        row.debit_ref,
        row.credit_ref,
        0 if to_shard else credit.pk,
        credit.pk if to_shard else 0,
        posting.shard_chooser() % credit.credit_shards if to_shard else 0,
    ]


def _batch_params(
    rows: list[posting.Row], accounts: dict[str, Known], *, client: str, now: dt.datetime
) -> tuple[list[Any], int, int]:
    """The statement's parameters before the audit record's (``_SQL``), and the numbers of account
    rows and shard rows it must update. Columns are taken by ``map`` (no tuple per row)."""
    deltas = posting.aggregate(rows)
    to_shards = (
        {
            ref: amount
            for ref, amount in posting.shard_credits(rows).items()
            if accounts[ref].credit_shards > 0
        }
        if any(map(_SHARDS, accounts.values()))
        else {}
    )
    # In no particular order: ``v`` locks them in primary-key order.
    refs = [ref for ref in deltas if ref not in to_shards] if to_shards else list(deltas)
    known = list(map(accounts.__getitem__, refs))
    changes = list(map(deltas.__getitem__, refs))
    ids = _int8_array(map(_PK, known))
    params: list[Any] = [
        ids,
        _text_array(refs),
        _text_array(list(map(_CURRENCY, known))),
        *(_int8_array(map(operator.itemgetter(n), changes)) for n in range(4)),
    ]
    sharded = sorted(to_shards)
    chooser = posting.shard_chooser() if sharded else 0
    known = list(map(accounts.__getitem__, sharded))
    params += [
        _int8_array(map(_PK, known)),
        _text_array(sharded),
        _text_array(list(map(_CURRENCY, known))),
        _int4_array([chooser % account.credit_shards for account in known]),
        _int8_array(map(to_shards.__getitem__, sharded)),
        ids,
        client,
        now,
    ]
    params += _transfer_arrays(rows, accounts, now)
    return params, len(refs), len(sharded)


_PK: Final = operator.itemgetter(0)  # Known.pk
_CURRENCY: Final = operator.itemgetter(1)  # Known.currency
_SHARDS: Final = operator.itemgetter(2)  # Known.credit_shards


def _column(rows: Sequence[Any], name: str) -> list[Any]:
    return list(map(operator.attrgetter(name), rows))


def _transfer_arrays(
    rows: list[posting.Row], accounts: dict[str, Known], now: dt.datetime
) -> list[Any]:
    """The transfers' columns of ``_SQL`` (``_TRANSFER_ARRAYS``) as binary arrays: the values
    ``posting.transfer_values`` gives, metadata ``None`` for the empty object."""
    requests = _column(rows, "request")
    if not all(requests):  # A request is always true: no __eq__ call per row as with ``in``.
        requests = [_NO_REQUEST if request is None else request for request in requests]
    today = now.date()
    return [
        _text_array(_column(rows, "public_id")),
        _text_array(_column(rows, "key")),
        _text_array(_column(rows, "digest")),
        _text_array(_column(rows, "kind")),
        _int8_array(map(_PK, map(accounts.__getitem__, _column(rows, "debit_ref")))),
        _int8_array(map(_PK, map(accounts.__getitem__, _column(rows, "credit_ref")))),
        _int8_array(_column(rows, "amount_minor")),
        _text_array(_column(rows, "currency")),
        _text_array(_column(requests, "code")),
        _text_array(_column(requests, "reference")),
        _text_array(
            [
                json.dumps(dict(value), separators=(",", ":")) if value else None
                for value in _column(requests, "metadata")
            ]
        ),
        _date_array(
            [today if value is None else value for value in _column(requests, "value_date")]
        ),
        _timestamptz_array(_column(rows, "expires_at")),
    ]


class _NoRequest(NamedTuple):
    """What a row without a request stands for: no code, reference or metadata, today."""

    code: str = ""
    reference: str = ""
    metadata: tuple[()] = ()
    value_date: dt.date | None = None


_NO_REQUEST: Final = _NoRequest()


# ------------------------------------------------------------------ binary array parameters
# PostgreSQL's binary array format (array_recv): dimensions, a flag for NULLs, the element
# type, the length and lower bound of the one dimension, then each element as its length (-1
# for NULL) and its bytes.


class _Int8Array(bytes):
    """A ``bigint[]`` parameter in binary."""


class _Int4Array(bytes):
    """An ``int[]`` parameter in binary."""


class _TextArray(bytes):
    """A ``text[]`` parameter in binary."""


class _DateArray(bytes):
    """A ``date[]`` parameter in binary."""


class _TimestamptzArray(bytes):
    """A ``timestamptz[]`` parameter in binary."""


_ARRAY_HEADER: Final = struct.Struct("!iiiii")
_EMPTY_HEADER: Final = struct.Struct("!iii")
_NULL: Final = b"\xff\xff\xff\xff"


def _header(count: int, element_oid: int, *, nulls: bool = False) -> bytes:
    if not count:
        return _EMPTY_HEADER.pack(0, 0, element_oid)
    return _ARRAY_HEADER.pack(1, 1 if nulls else 0, element_oid, count, 1)


def _fixed(values: Iterable[int], typecode: str, size: int) -> bytes:
    """Each of ``values`` as its length ``size`` and its big-endian value (``array``'s
    ``typecode``): the values packed by ``array`` and copied between the length prefixes, one
    strided copy per byte, instead of a Python conversion per value."""
    packed = array.array(typecode, values)
    if _LITTLE_ENDIAN:
        packed.byteswap()
    raw = packed.tobytes()
    step = 4 + size
    out = bytearray(struct.pack("!i", size) + bytes(size)) * len(packed)
    for byte in range(size):
        out[4 + byte :: step] = raw[byte::size]
    return bytes(out)


_LITTLE_ENDIAN: Final = sys.byteorder == "little"


def _int8_array(values: Iterable[int]) -> _Int8Array:
    data = _fixed(values, "q", 8)
    return _Int8Array(_header(len(data) // 12, 20) + data)


def _int4_array(values: Iterable[int]) -> _Int4Array:
    data = _fixed(values, "i", 4)
    return _Int4Array(_header(len(data) // 8, 23) + data)


def _text_array(values: Sequence[str | None]) -> _TextArray:
    """``values`` as ``text[]``; ``None`` is NULL. Values of one length in ASCII (ids, digests,
    currencies, a column with one value) are joined by their length prefix in one call."""
    count = len(values)
    if not count:
        return _TextArray(_header(0, 25))
    if None not in values:
        size = len(values[0])  # type: ignore[arg-type]
        if size < _ONE_BYTE and min(map(len, values)) == max(map(len, values)):  # type: ignore[arg-type]
            prefix = _INT4.pack(size).decode("ascii")
            text = prefix + prefix.join(values)  # type: ignore[arg-type]
            if text.isascii():
                return _TextArray(_header(count, 25) + text.encode("ascii"))
        encoded = list(map(str.encode, values))  # type: ignore[arg-type]
        parts: list[bytes] = [b""] * (2 * count)
        parts[0::2] = map(_INT4.pack, map(len, encoded))
        parts[1::2] = encoded
        return _TextArray(_header(count, 25) + b"".join(parts))
    parts = [_header(count, 25, nulls=True)]
    for value in values:
        if value is None:
            parts.append(_NULL)
        else:
            data = value.encode()
            parts += (_INT4.pack(len(data)), data)
    return _TextArray(b"".join(parts))


#: Lengths below this are a 4-byte prefix of ASCII characters.
_ONE_BYTE: Final = 128


def _date_array(values: Iterable[dt.date]) -> _DateArray:
    data = _fixed(map(_POSTGRES_EPOCH_DAY.__rsub__, map(dt.date.toordinal, values)), "i", 4)
    return _DateArray(_header(len(data) // 8, 1082) + data)


def _timestamptz_array(values: Sequence[dt.datetime | None]) -> _TimestamptzArray:
    """``values`` as ``timestamptz[]`` (aware datetimes); ``None`` is NULL."""
    if values.count(None) == len(values):
        return _TimestamptzArray(_header(len(values), 1184, nulls=True) + _NULL * len(values))
    parts = [_header(len(values), 1184, nulls=True)]
    for value in values:
        parts.append(_NULL if value is None else _INT4.pack(8) + _timestamp(value))
    return _TimestamptzArray(b"".join(parts))


@functools.cache
def _statement(audit_sql: str) -> str:
    """The batch statement with ``$n`` placeholders."""
    text = _SQL.format(audit=audit_sql)
    if "$" in text:
        raise AssertionError("the batch statement must use only %s placeholders")
    return _numbered(text)


class StatementFailedError(Exception):
    """The fast statement failed and changed nothing: ``sqlstate`` and ``message`` as
    PostgreSQL reported them (``P0001`` with ``bankmall_abort:…`` for a broken check)."""

    def __init__(self, sqlstate: str, message: str) -> None:
        super().__init__(f"{sqlstate}: {message}")
        self.sqlstate = sqlstate
        self.message = message


#: The statements this process prepared on each connection, by name.
_PREPARED: Final[weakref.WeakKeyDictionary[Any, set[bytes]]] = weakref.WeakKeyDictionary()
#: The parameter types a statement is prepared with, by Python type: ``int8`` for integers (so
#: the types do not change with the values' sizes), ``timestamptz``, ``date``, and "unknown"
#: (resolved by PostgreSQL from the statement, as psycopg sends text) for the rest.
_OIDS: Final[dict[type, int]] = {
    int: 20,
    bool: 16,
    dt.datetime: 1184,
    dt.date: 1082,
    _Int8Array: 1016,
    _Int4Array: 1007,
    _TextArray: 1009,
    _DateArray: 1182,
    _TimestamptzArray: 1185,
}
_STATEMENT_NOT_PREPARED: Final = "26000"
_ALREADY_PREPARED: Final = "42P05"


def _execute(database: BaseDatabaseWrapper, statement: str, params: list[Any]) -> None:
    """Run the statement as a prepared statement of this connection, through libpq itself.

    psycopg's cursor machinery (a cursor, its adapters and preparation bookkeeping, and a
    wait loop that is woken several times while the server works) cost ~3 times the CPU of
    the call itself, more than all the rest of a one-transfer write's Python; the statement
    needs none of it. The connection is Django's, in autocommit mode, used by this thread
    only, and one ``PQexecPrepared`` leaves it as idle as it found it. The parameters go as
    ``_encoded`` makes them, each statement is prepared once per connection (under a name
    made of its text and parameter types), and PostgreSQL's error is raised as
    ``StatementFailedError``.

    Prepared is not enough: PostgreSQL's default ``plan_cache_mode`` (auto) compares the
    generic plan's estimate with custom plans', and for this statement custom plans win once
    the tables have statistics, so it re-planned on every call anyway (half the server's CPU
    per transfer). The connection forces the generic plan; Django's own queries are unnamed
    statements, which are always planned once for their parameters, so only prepared
    statements (these) are affected.
    """
    raw = database.connection
    values, types, formats = _encoded(params)
    name = _name(statement, types)
    prepared = _PREPARED.get(raw)
    if prepared is None:
        prepared = _PREPARED[raw] = set()
        _check(raw.pgconn.exec_(b"SET plan_cache_mode = force_generic_plan"))
    if name not in prepared:
        try:
            _check(raw.pgconn.prepare(name, statement.encode(), types))
        except StatementFailedError as error:
            if error.sqlstate != _ALREADY_PREPARED:
                raise
        prepared.add(name)
    try:
        _check(raw.pgconn.exec_prepared(name, values, formats))
    except StatementFailedError as error:
        if error.sqlstate != _STATEMENT_NOT_PREPARED:
            raise
        prepared.clear()  # Deallocated behind our back (DISCARD ALL): prepare again.
        _execute(database, statement, params)


def _encoded(params: list[Any]) -> tuple[list[bytes | None], tuple[int, ...], tuple[int, ...]]:
    """The parameters as PostgreSQL receives them, their types (``_OIDS``) and formats:
    integers, times and dates in binary (no text to parse on the server), the rest as text."""
    kinds = tuple(map(type, params))
    try:
        values = [_ENCODERS[kind](value) for kind, value in zip(kinds, params, strict=True)]
    except KeyError as error:
        raise TypeError(f"a fast statement takes no {error.args[0].__name__} parameter") from None
    types, formats = _shape(kinds)
    return values, types, formats


@functools.lru_cache(maxsize=64)
def _shape(kinds: tuple[type, ...]) -> tuple[tuple[int, ...], tuple[int, ...]]:
    """The types and formats of parameters of ``kinds``."""
    return (
        tuple(_OIDS.get(kind, 0) for kind in kinds),
        tuple(0 if kind is str or kind is type(None) else 1 for kind in kinds),
    )


def _timestamp(value: dt.datetime) -> bytes:
    if value.tzinfo is None:
        raise TypeError("a fast statement takes aware datetimes only")
    return _INT8.pack((value - _POSTGRES_EPOCH) // _MICROSECOND)


def _none(_value: None) -> None:
    return None


def _same(value: bytes) -> bytes:
    return value


_INT8: Final = struct.Struct("!q")
_INT4: Final = struct.Struct("!i")
_POSTGRES_EPOCH: Final = dt.datetime(2000, 1, 1, tzinfo=dt.UTC)
_POSTGRES_EPOCH_DAY: Final = dt.date(2000, 1, 1).toordinal()
_MICROSECOND: Final = dt.timedelta(microseconds=1)
#: How each type of parameter is sent (``_shape`` gives its format): binary for integers,
#: times and dates, UTF-8 text for strings.
_ENCODERS: Final[dict[type, Callable[[Any], bytes | None]]] = {
    str: str.encode,
    int: _INT8.pack,
    type(None): _none,
    dt.datetime: _timestamp,
    dt.date: lambda value: _INT4.pack(value.toordinal() - _POSTGRES_EPOCH_DAY),
    bool: lambda value: b"\x01" if value else b"\x00",
    **dict.fromkeys((_Int8Array, _Int4Array, _TextArray, _DateArray, _TimestamptzArray), _same),
}


@functools.lru_cache(maxsize=64)
def _name(statement: str, types: tuple[int, ...]) -> bytes:
    digest = hashlib.sha256(f"{statement}|{types}".encode()).hexdigest()[:24]
    return f"bankmall_{digest}".encode()


def _check(result: Any) -> None:
    if result.status in {ExecStatus.COMMAND_OK, ExecStatus.TUPLES_OK}:
        return
    field = result.error_field
    raise StatementFailedError(
        (field(DiagnosticField.SQLSTATE) or b"").decode(),
        (field(DiagnosticField.MESSAGE_PRIMARY) or b"").decode("utf-8", "replace"),
    )


def applies(rows: list[posting.Row], database: BaseDatabaseWrapper | None = None) -> bool:
    """Whether ``rows`` can be written by one autocommit statement on ``database`` (the default
    connection's wrapper; looked up when not given)."""
    if database is None:
        database = connections[DEFAULT_DB_ALIAS]
    return (
        database.vendor == "postgresql"
        and not database.in_atomic_block
        and len(rows) <= FAST_BATCH_MAX
        and posting.are_new_movements(rows)
    )


def try_post(
    rows: list[posting.Row],
    *,
    client: str,
    actor: str | None,
    now: dt.datetime,
    database: BaseDatabaseWrapper | None = None,
) -> bool:
    """Write ``rows`` in one statement; ``True`` when committed, ``False`` when nothing was
    written and the transactional path must decide (an error to name, a key that exists, a
    lost connection whose outcome that path's idempotent replay settles). The audit record
    (with the batch's event) is dated ``now``, as the transfers. ``database``: the default
    connection's wrapper (looked up when not given)."""
    if database is None:
        database = connections[DEFAULT_DB_ALIAS]
    accounts = _accounts(rows)
    if accounts is None:
        return False
    for _attempt in range(2):
        target, after, details = posting.audit_content(rows, client=client, now=now)
        audit = prepare_lane_append(
            contents.BATCH_ACTION,
            target=target,
            after=after,
            details=details,
            actor=actor,
            now=now,
            database=database,
        )
        if len(rows) == 1:
            row = rows[0]
            debit, credit = accounts[row.debit_ref], accounts[row.credit_ref]
            to_shard = _to_shard(row, credit)
            statement = _single_statement(
                audit.sql,
                to_shard=to_shard,
                sums=debit.credit_shards > 0 or (credit.credit_shards > 0 and not to_shard),
            )
            params = _single_params(rows[0], accounts, client=client, now=now)
            params += audit.params
        else:
            statement = _statement(audit.sql)
            params, updated, sharded = _batch_params(rows, accounts, client=client, now=now)
            params += [*audit.params, len(rows), updated, sharded]
        try:
            _execute(database, statement, params)
        except StatementFailedError as error:
            audit.forget()
            if error.message == ABORT_PREFIX + "audit_lane":
                continue  # Another connection shares this lane: read its head, try again.
            if error.message in {ABORT_PREFIX + "accounts", ABORT_PREFIX + "shards"}:
                _forget(rows)
            return False
        except psycopg.Error:
            audit.forget()
            return False
        audit.confirm()
        return True
    return False


# ------------------------------------------------------------------ the accounts' ids


class Known(NamedTuple):
    """What never changes about an account: its primary key, currency and shard count."""

    pk: int
    currency: str
    credit_shards: int


#: The accounts this process has written to, by public id. What is kept never changes and
#: accounts are never deleted, so the fast statements take account ids from here instead of
#: looking every account up by its public id (a text index probe per account, and a hash join
#: of a batch's transfers with its accounts: a quarter of a batch's server time). The
#: statements still check that each row they lock carries the public id and currency kept,
#: so a wrong entry (a database restored under a running process) only sends the write to the
#: transactional path, which finds the accounts itself, and the entry is looked up again.
_KNOWN: Final[dict[str, Known]] = {}
#: Entries kept at most (about 200 bytes each); the map starts again when it is full.
KNOWN_MAX: Final = 100_000


def _accounts(rows: list[posting.Row], *, looked_up: bool = False) -> dict[str, Known] | None:
    """Every account of ``rows``, or ``None`` when one is unknown or holds another currency
    than its transfer (the transactional path names the error). Accounts not remembered yet
    are looked up once (``looked_up``)."""
    accounts = {}
    for row in rows:
        debit, credit = _KNOWN.get(row.debit_ref), _KNOWN.get(row.credit_ref)
        if debit is None or credit is None:
            if looked_up:
                return None  # No such account, or forgotten meanwhile by another thread.
            _look_up(rows)
            return _accounts(rows, looked_up=True)
        if debit.currency != row.currency or credit.currency != row.currency:
            return None
        accounts[row.debit_ref], accounts[row.credit_ref] = debit, credit
    return accounts


def _look_up(rows: list[posting.Row]) -> None:
    """Remember the accounts of ``rows`` that exist and are not remembered yet."""
    remember_accounts({ref for row in rows for ref in (row.debit_ref, row.credit_ref)})


def remember_accounts(public_ids: Iterable[str]) -> int:
    """Look up the accounts of ``public_ids`` not remembered yet, and remember those that exist
    (at most ``KNOWN_MAX`` in all). Returns how many this process remembers now.

    Each process learns an account the first time it writes to it, at the cost of one more
    round trip for that write; a process that is about to write to known accounts (a worker
    serving a few big merchants, a benchmark's callers) can learn them beforehand instead."""
    missing = sorted(ref for ref in set(public_ids) if ref not in _KNOWN)
    if not missing:
        return len(_KNOWN)
    with connections[DEFAULT_DB_ALIAS].cursor() as cursor:
        for start in range(0, len(missing), KNOWN_MAX):
            cursor.execute(
                "SELECT public_id, id, currency, credit_shards FROM ledger_account"
                " WHERE public_id = ANY(%s)",
                [missing[start : start + KNOWN_MAX]],
            )
            found = cursor.fetchall()
            if len(_KNOWN) + len(found) > KNOWN_MAX:
                _KNOWN.clear()
            for public_id, pk, currency, credit_shards in found:
                _KNOWN[public_id] = Known(pk, currency, credit_shards)
    return len(_KNOWN)


def _forget(rows: list[posting.Row]) -> None:
    for row in rows:
        _KNOWN.pop(row.debit_ref, None)
        _KNOWN.pop(row.credit_ref, None)
