"""A linked batch of new transfers on SQLite, with only its statements inside the write lock.

SQLite has one writer: a transaction takes the database's write lock at ``BEGIN IMMEDIATE``
and every other writer waits until it commits. The transactional path (``posting.post_batch``
in ``transaction.atomic()``) builds its statements and the audit record while it
holds that lock, and its account ``UPDATE`` lists the batch's accounts in a ``VALUES`` clause
whose length changes with every batch, so SQLite compiles it anew each time (about as long as
running it). This path, for the common write — new posted or pending transfers between
accounts named by id, called outside any transaction — does all of that first:

1. before the lock: a read of the accounts this process has not seen yet (their ids,
   currencies and shard counts never change and WAL readers never wait for the writer; the
   process keeps them), the transfers' rows and the audit record, which also announces the
   batch's event (all but its place in the chain);
2. under the lock, statements whose text never changes, so ``sqlite3`` reuses them compiled:
   each account's four totals updated once with its aggregated delta by an ``UPDATE`` that
   also checks the account (its id still has the public id used, it is active, its totals
   after the move keep its limit flag) and changes nothing when the check fails; posted
   credits of sharded accounts on shard 0, with the same check of the account; the transfers
   in multi-row inserts of 1,000, 100, 10 and 1 rows (a key that exists is a unique
   violation); the audit record chained to lane 1's head; ``COMMIT``. Fewer
   changed rows than statements is a failed check.

Batches of ``QUEUED_BATCH_MIN`` transfers or more first take their turn on a lock file of their
own (``_batch_turn``): the kernel wakes the next batch the moment one commits, where SQLite's busy
handler would have it sleep in steps of up to 100 ms. One-transfer writes keep the busy handler,
whose unfairness keeps the committing connection's page cache warm (docs/performance.md).

Any failed check or statement rolls the transaction back and returns ``False``: the caller
then takes the transactional path, which names the precise error (the same codes, the same
``transfer_index``) or replays an existing key, exactly as after ``fastpath.try_post``.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import os
import sqlite3
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, Final, NamedTuple

from django.db import DEFAULT_DB_ALIAS, connections
from django.db.backends.base.base import BaseDatabaseWrapper

from bankmall.core.audit import SQLiteAppend, prepare_sqlite_append
from bankmall.core.datetimes import sqlite_text
from bankmall.ledger import contents, posting

if sys.platform != "win32":  # No flock there: batches queue in the busy handler.
    import fcntl

#: Multi-row insert sizes, largest first: a batch is cut into as many of each as fit, so only
#: four statement texts exist and all stay in ``sqlite3``'s statement cache.
INSERT_SIZES: Final = (1_000, 100, 10, 1)

_ACCOUNTS_SQL: Final = (
    "SELECT a.public_id, a.id, a.currency, a.credit_shards FROM json_each(?) AS j"
    " JOIN ledger_account AS a ON a.public_id = j.value"
)
#: One account's four totals moved by its aggregated delta (?1 to ?4), only if the account with
#: id ?5 still has public id ?6 and is active, and its totals after the move keep its limit
#: flag: the check is the statement's own (on the totals before the move plus the delta), so a
#: row that fails it is not updated and the transaction sees fewer changed rows than accounts.
#: A sharded account's posted credits are its row's and its shards' (not yet this batch's).
_UPDATE_SQL: Final = (
    "UPDATE ledger_account SET debits_posted_minor = debits_posted_minor + ?1,"
    " credits_posted_minor = credits_posted_minor + ?2,"
    " debits_pending_minor = debits_pending_minor + ?3,"
    " credits_pending_minor = credits_pending_minor + ?4"
    " WHERE id = ?5 AND public_id = ?6 AND status = 'active'"
    " AND NOT (debits_must_not_exceed_credits"
    " AND debits_posted_minor + ?1 + debits_pending_minor + ?3 > credits_posted_minor + ?2"
    " + CASE WHEN credit_shards > 0 THEN (SELECT total(s.credits_posted_minor)"
    " FROM ledger_accountshard AS s WHERE s.account_id = ?5) ELSE 0 END"
    " + overdraft_limit_minor)"
    " AND NOT (credits_must_not_exceed_debits"
    " AND credits_posted_minor + ?2 + credits_pending_minor + ?4"
    " > debits_posted_minor + ?1 + overdraft_limit_minor)"
)
#: Posted credits of a sharded account that the batch only credits go to its shard 0 (one
#: writer at a time: one shard serves, as on the transactional path), with the same check of
#: the account (id ?2, public id ?3) as ``_UPDATE_SQL``'s on its unchanged totals.
_SHARD_SQL: Final = (
    "UPDATE ledger_accountshard SET credits_posted_minor = credits_posted_minor + ?1"
    " WHERE account_id = ?2 AND shard = 0 AND status = 'active' AND EXISTS (SELECT 1"
    " FROM ledger_account AS a WHERE a.id = ?2 AND a.public_id = ?3 AND a.status = 'active'"
    " AND NOT (a.debits_must_not_exceed_credits"
    " AND a.debits_posted_minor + a.debits_pending_minor > a.credits_posted_minor"
    " + (SELECT total(s.credits_posted_minor) FROM ledger_accountshard AS s"
    " WHERE s.account_id = ?2) + a.overdraft_limit_minor)"
    " AND NOT (a.credits_must_not_exceed_debits"
    " AND a.credits_posted_minor + a.credits_pending_minor"
    " > a.debits_posted_minor + a.overdraft_limit_minor))"
)
#: How many of the (id, public id) pairs in ``?`` are still one account: read only after a
#: check failed, to tell a stale ``_known`` (fewer) from a refused account.
_FOUND_SQL: Final = (
    "SELECT count(*) FROM json_each(?) AS j JOIN ledger_account AS a"
    " ON a.id = j.value ->> 0 AND a.public_id = j.value ->> 1"
)
#: The columns a transfer of this path stores. ``pending_id`` and ``reverses_id`` are left
#: to their default, NULL (a new movement references no transfer); ``client`` and
#: ``created_at`` are one parameter for every row of a statement (?1, ?2).
_INSERT_COLUMNS: Final = (
    "public_id, client, key, request_digest, kind, debit_account_id, credit_account_id,"
    " amount_minor, currency, code, reference, metadata, value_date, expires_at, created_at"
)
#: Parameters per row: the columns but ``client`` and ``created_at``.
ROW_WIDTH: Final = 13


def _insert_row(first: int) -> str:
    """One row's values, its parameters numbered from ``first``: an ``expires_at`` of 0 is
    NULL (``sqlite3`` binds an int for less than a ``None``, which it first tries to adapt)."""
    p = [f"?{first + n}" for n in range(ROW_WIDTH)]
    return f"({p[0]}, ?1, {', '.join(p[1:12])}, NULLIF({p[12]}, 0), ?2)"


def _insert_sql(size: int) -> str:
    values = ", ".join(_insert_row(3 + row * ROW_WIDTH) for row in range(size))
    return f"INSERT INTO ledger_transfer ({_INSERT_COLUMNS}) VALUES {values}"  # noqa: S608


_INSERT_SQL: Final = {size: _insert_sql(size) for size in INSERT_SIZES}


@dataclass(frozen=True, slots=True)
class _Prepared:
    """Everything the transaction writes, built before it takes the write lock."""

    updates: list[tuple[Any, ...]]
    shard_updates: list[tuple[Any, ...]]
    accounts: dict[str, _Account]
    chunks: list[tuple[int, list[Any]]]
    audit: SQLiteAppend


def applies(rows: list[posting.Row], database: BaseDatabaseWrapper | None = None) -> bool:
    """Whether ``rows`` can be written by this path (SQLite, outside any transaction, new
    movements between accounts named by id) on ``database`` (the default connection's
    wrapper; looked up when not given)."""
    if database is None:
        database = connections[DEFAULT_DB_ALIAS]
    return (
        database.vendor == "sqlite"
        and not database.in_atomic_block
        and database.get_autocommit()
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
    """Write ``rows`` in one transaction of their own; ``True`` when committed, ``False`` when
    nothing was written and the transactional path must decide. ``database``: the default
    connection's wrapper (looked up when not given)."""
    if database is None:
        database = connections[DEFAULT_DB_ALIAS]
    database.ensure_connection()
    raw: sqlite3.Connection = database.connection
    if raw.in_transaction:  # Someone else's transaction: never commit or roll it back here.
        return False
    cursor = raw.cursor()
    try:
        prepared = _prepare(cursor, rows, client=client, actor=actor, now=now, database=database)
        if prepared is None:
            return False
        if len(rows) < QUEUED_BATCH_MIN:
            return _write(cursor, prepared)
        with _batch_turn(database):
            return _write(cursor, prepared)
    except sqlite3.Error:
        return False
    finally:
        raw.rollback()  # A no-op after COMMIT (no transaction is open then).
        cursor.close()


def _prepare(
    cursor: sqlite3.Cursor,
    rows: list[posting.Row],
    *,
    client: str,
    actor: str | None,
    now: dt.datetime,
    database: BaseDatabaseWrapper,
) -> _Prepared | None:
    """Everything the write needs, built before the lock; the audit record (with the event) is
    dated ``now``, as the transfers are, and takes the caller's ``database`` (a lookup through
    ``connections[...]`` costs ~10k instructions)."""
    accounts = _accounts(cursor, rows)
    if accounts is None:
        return None
    deltas = posting.aggregate(rows)
    to_shards = {
        ref: amount
        for ref, amount in posting.shard_credits(rows).items()
        if accounts[ref].credit_shards > 0
    }
    on_rows = sorted(ref for ref in deltas if ref not in to_shards)
    target, after, details = posting.audit_content(rows, client=client, now=now)
    return _Prepared(
        updates=[(*deltas[ref], accounts[ref].pk, ref) for ref in on_rows],
        shard_updates=[(to_shards[ref], accounts[ref].pk, ref) for ref in sorted(to_shards)],
        accounts=accounts,
        chunks=list(
            _chunks(
                _transfer_values(rows, accounts, now=now, database=database),
                [client, sqlite_text(database, now)],
            )
        ),
        audit=prepare_sqlite_append(
            contents.BATCH_ACTION,
            target=target,
            after=after,
            details=details,
            actor=actor,
            now=now,
            database=database,
        ),
    )


#: Batches this long or longer queue on ``_batch_turn`` before ``BEGIN IMMEDIATE``. A batch of
#: 1,000 holds the write lock for ~30 ms: SQLite's busy handler would have a second batch poll
#: after sleeps of 1, 2, 5, … up to 100 ms (measured: two batch callers then posted about as
#: much as one). A hand-off's cold page cache (~0.25 ms) is nothing against such a batch, but
#: it doubles a one-transfer write's time, so those keep the busy handler.
QUEUED_BATCH_MIN: Final = 100


class _Queue(NamedTuple):
    """This process's place in a database's batch queue: the lock file, opened by this process
    (``flock`` locks belong to an open file, which a forked child would share), and a lock for
    its threads (one open file holds one ``flock`` for all of them)."""

    fd: int
    threads: threading.Lock


_queues: dict[tuple[int, str], _Queue] = {}
_queues_opening = threading.Lock()


@contextlib.contextmanager
def _batch_turn(database: BaseDatabaseWrapper) -> Iterator[None]:
    """Wait until no other batch of this database's writers holds its turn; hold it meanwhile.

    The queue is a lock file beside the database (``<name>-batches.lock``): the kernel wakes the
    next waiter the moment the holder unlocks or dies. It only orders batches among themselves;
    SQLite's write lock still guards every write, so a writer outside the queue (a one-transfer
    write, Django's own writes) is as safe as before. An in-memory database, a directory where
    the file cannot be created, or Windows (no ``flock``) has no queue: the busy handler alone
    orders writers there.
    """
    name = str(database.settings_dict["NAME"])
    key = (os.getpid(), name)
    queue = _queues.get(key)
    if queue is None:
        queue = _open_queue(key)
        if queue is None:
            yield
            return
    with queue.threads:
        fcntl.flock(queue.fd, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(queue.fd, fcntl.LOCK_UN)


def _open_queue(key: tuple[int, str]) -> _Queue | None:
    name = key[1]
    if sys.platform == "win32" or name == ":memory:" or name.startswith("file:"):
        return None
    with _queues_opening:
        queue = _queues.get(key)
        if queue is None:
            try:
                fd = os.open(f"{name}-batches.lock", os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
            except OSError:
                return None
            queue = _queues[key] = _Queue(fd, threading.Lock())
        return queue


def _write(cursor: sqlite3.Cursor, prepared: _Prepared) -> bool:
    """Run the transaction; ``False`` when a check fails (the caller rolls back)."""
    cursor.execute("BEGIN IMMEDIATE")
    # Only statements from here to COMMIT: the write lock is held.
    # Each statement checks its account; a refused one changes no row.
    cursor.executemany(_UPDATE_SQL, prepared.updates)
    if cursor.rowcount != len(prepared.updates):
        return _refused(cursor, prepared)
    if prepared.shard_updates:
        cursor.executemany(_SHARD_SQL, prepared.shard_updates)
        if cursor.rowcount != len(prepared.shard_updates):  # Or a shard missing, not active.
            return _refused(cursor, prepared)
    for size, values in prepared.chunks:
        cursor.execute(_INSERT_SQL[size], values)
    if not prepared.audit.write(cursor):
        return False
    cursor.execute("COMMIT")
    return True


def _refused(cursor: sqlite3.Cursor, prepared: _Prepared) -> bool:
    """``False``, after forgetting the known accounts if one of the batch's (id, public id)
    pairs no longer names an account (the database was replaced under the process)."""
    pairs = [(account.pk, ref) for ref, account in prepared.accounts.items()]
    (found,) = cursor.execute(_FOUND_SQL, (json.dumps(pairs),)).fetchone()
    if found != len(pairs):
        _known.clear()
    return False


class _Account(NamedTuple):
    """What never changes about an account, so it may be read before the write lock."""

    pk: int
    currency: str
    credit_shards: int


#: Accounts this process has read, by public id: their id, currency and shard count never
#: change and accounts are never deleted, so a batch reads only accounts it has not seen. The
#: check under the write lock confirms every (id, public id) pair it used.
_known: dict[str, _Account] = {}
KNOWN_ACCOUNTS_MAX: Final = 100_000


def _accounts(cursor: sqlite3.Cursor, rows: list[posting.Row]) -> dict[str, _Account] | None:
    """The rows' accounts, read without the lock; ``None`` when one is missing or holds
    another currency than a transfer on it."""
    refs = {ref for row in rows for ref in (row.debit_ref, row.credit_ref)}
    known = _known
    unknown = sorted(ref for ref in refs if ref not in known)
    if unknown:
        if len(known) + len(unknown) > KNOWN_ACCOUNTS_MAX:
            known.clear()
        for public_id, pk, currency, shards in cursor.execute(
            _ACCOUNTS_SQL, (json.dumps(unknown),)
        ):
            known[public_id] = _Account(pk, currency, shards)
    found: dict[str, _Account] = {}
    for ref in refs:
        account = known.get(ref)  # Another thread may have cleared the cache meanwhile.
        if account is None:
            return None
        found[ref] = account
    for row in rows:
        currency = row.currency
        if found[row.debit_ref].currency != currency or found[row.credit_ref].currency != currency:
            return None
    return found


def _transfer_values(
    rows: list[posting.Row],
    accounts: dict[str, _Account],
    *,
    now: dt.datetime,
    database: BaseDatabaseWrapper,
) -> list[Any]:
    """The transfers' ``ROW_WIDTH`` parameters each (``_insert_row``), all rows in one list."""
    today = now.date()
    today_text = today.isoformat()
    account_ids = {ref: account.pk for ref, account in accounts.items()}
    values: list[Any] = []
    # pending_pk and reverses_pk are None: ``applies`` takes new movements only.
    for (
        public_id,
        key,
        digest,
        kind,
        debit_id,
        credit_id,
        amount_minor,
        currency,
        code,
        reference,
        metadata,
        value_date,
        _pending_pk,
        _reverses_pk,
        expires_at,
    ) in posting.transfer_values(rows, account_ids, today):
        values += (
            public_id,
            key,
            digest,
            kind,
            debit_id,
            credit_id,
            amount_minor,
            currency,
            code,
            reference,
            metadata,
            today_text if value_date is today else value_date.isoformat(),
            0 if expires_at is None else sqlite_text(database, expires_at),
        )
    return values


def _chunks(values: list[Any], shared: list[Any]) -> Iterator[tuple[int, list[Any]]]:
    """``values`` cut into multi-row inserts of ``INSERT_SIZES`` rows, largest first, each
    with the ``shared`` parameters (?1, ?2) first."""
    width = ROW_WIDTH
    start, remaining = 0, len(values) // width
    for size in INSERT_SIZES:
        while remaining >= size:
            yield size, shared + values[start : start + size * width]
            start += size * width
            remaining -= size
