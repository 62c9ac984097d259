"""The posting engine: a linked batch of transfers in a handful of SQL statements.

One call of ``post_batch`` runs inside the caller's transaction and issues, in this order:

1. (only when the batch posts, voids or reverses) one SELECT of the referenced transfers, and
   (only when accounts are named by code) one SELECT resolving codes to ids;
2. one UPDATE of the touched accounts, applying each account's *aggregated* delta (a hot account
   is written once per batch) and returning the new totals. On PostgreSQL the rows are first
   locked in primary-key order inside the same statement, so two batches never deadlock;
   SQLite runs one writer at a time (``BEGIN IMMEDIATE``). A sharded account that the batch
   only credits with posted transfers is left out: (only then) one more UPDATE adds its
   credits to one of its shard rows, after the account rows (``_credit_shards``);
3. (only when the batch posts, voids or reverses) one SELECT of earlier resolutions and
   reversals, now serialised by the account locks;
4. one multi-row INSERT of the transfers with ``ON CONFLICT (client, key) DO NOTHING``: a
   missing row means the key exists, and the caller rolls back and replays idempotently.

Every check either runs before the writes or raises after them, so the caller's rollback undoes
everything: a failed batch changes nothing. Limits are checked against each account's state
after the whole batch; only when that check fails is the batch replayed in order in memory to
name the first transfer that breaks a limit.
"""

from __future__ import annotations

import datetime as dt
import functools
import hashlib
import json
import re
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Final

import psycopg
from django.db import connection

from bankmall.core.audit import current_lane
from bankmall.core.errors import BankmallError, FieldError, InvalidInput
from bankmall.core.ids import new_id
from bankmall.core.money import CurrencyMismatch, Money
from bankmall.core.outbox import announce
from bankmall.ledger import contents, errors
from bankmall.ledger.values import (
    BATCH_MAX,
    CLIENT_MAX_LENGTH,
    KEY_MAX_LENGTH,
    TEXT_MAX_LENGTH,
    TIMEOUT_SECONDS_MAX,
    TransferRequest,
    TransferView,
    transfer_view,
)

INSERT_CHUNK: Final = 1_000
RESOLVING_KINDS: Final = frozenset({"post", "void", "expire"})
STATUS_BY_KIND: Final = {
    "single": "posted",
    "pending": "pending",
    "post": "posted",
    "void": "voided",
    "expire": "expired",
}
TRANSFER_COLUMNS: Final = (
    "public_id, client, key, request_digest, kind, debit_account_id, credit_account_id,"
    " amount_minor, currency, code, reference, metadata, value_date, pending_id, reverses_id,"
    " expires_at, created_at"
)
#: An account's credits kept in its shards, read without locking them: a concurrent credit to
#: a shard only adds credits, so a debit checked against an older sum is checked against less.
_IN_SHARDS: Final = (
    "CASE WHEN ledger_account.credit_shards > 0 THEN (SELECT COALESCE(SUM(sh.credits_posted_minor),"
    " 0) FROM ledger_accountshard sh WHERE sh.account_id = ledger_account.id) ELSE 0 END"
)
#: What an account update returns (``AccountState``): credits posted include the shards'.
_ACCOUNT_RETURNING: Final = (
    "ledger_account.id, ledger_account.public_id, ledger_account.currency, ledger_account.status,"
    " ledger_account.debits_must_not_exceed_credits,"
    " ledger_account.credits_must_not_exceed_debits, ledger_account.overdraft_limit_minor,"
    " ledger_account.debits_posted_minor,"
    f" ledger_account.credits_posted_minor + {_IN_SHARDS} AS credits_posted_minor,"
    " ledger_account.debits_pending_minor, ledger_account.credits_pending_minor"
)


class KeysExist(Exception):  # A control-flow signal, not a domain error.
    """Some idempotency keys of the batch are already taken: roll back and replay."""


@dataclass(slots=True)
class Row:
    """One transfer of the batch on its way into the database."""

    index: int
    key: str
    kind: str
    debit_ref: str
    credit_ref: str
    amount_minor: int
    currency: str
    digest: str
    request: TransferRequest | None
    reference_id: str = ""
    public_id: str = field(default_factory=functools.partial(new_id, "trf"))
    pending_pk: int | None = None
    reverses_pk: int | None = None
    released_minor: int = 0
    original_minor: int = 0
    expires_at: dt.datetime | None = None


@dataclass(frozen=True, slots=True)
class Referenced:
    """The immutable facts of a transfer that a batch posts, voids or reverses."""

    pk: int
    public_id: str
    kind: str
    debit_ref: str
    credit_ref: str
    amount_minor: int
    currency: str
    expires_at: dt.datetime | None
    is_reversal: bool


@dataclass(slots=True)
class AccountState:
    """An account as the batch found it; ``through_shard``: only credited, through a shard row
    (its ``status`` is the shard's copy, its totals were read without a lock)."""

    pk: int
    public_id: str
    currency: str
    status: str
    debits_must_not_exceed_credits: bool
    credits_must_not_exceed_debits: bool
    overdraft_limit_minor: int
    totals: list[int]
    through_shard: bool = False


#: The largest amount of one transfer, in minor units (10 trillion CNY). With at most 8,190
#: transfers per batch, no batch and no realistic history can overflow a 64-bit total.
AMOUNT_MAX_MINOR: Final = 10**15


def fail(error: type[BankmallError], row: Row, detail: str) -> BankmallError:
    """The error for ``row``, naming its position and key so a batch's caller can find it."""
    return error(detail, extra={"transfer_index": row.index, "key": row.key})


# ------------------------------------------------------------ validation without the database


def check_batch(requests: Sequence[TransferRequest], client: str) -> None:
    if not 1 <= len(requests) <= BATCH_MAX:
        raise errors.BatchSizeInvalid(f"a batch holds 1 to {BATCH_MAX} transfers")
    if not client or len(client) > CLIENT_MAX_LENGTH:
        raise InvalidInput(errors=[FieldError("client", "1 to 64 characters")])


def request_digest(request: TransferRequest) -> str:
    """A fingerprint of everything the caller asked for, to tell a retry from a reused key.

    Stored with the transfer and compared on every replay: its bytes never change
    (``tests/ledger/test_digests.py`` pins some).
    """
    amount = request.amount
    parts = (
        request.debit_account,
        request.credit_account,
        f"{amount.amount_minor}{amount.currency}" if amount is not None else "",
        "p" if request.pending else "",
        str(request.timeout_seconds),
        request.post_pending,
        request.void_pending,
        request.reverses,
        request.code,
        request.reference,
        json.dumps(dict(request.metadata), sort_keys=True) if request.metadata else "",
        request.value_date.isoformat() if request.value_date else "",
    )
    return hashlib.sha256("\x1f".join(parts).encode()).hexdigest()


def prepare(index: int, request: TransferRequest) -> Row:
    """Validate one request's shape and turn it into a row (accounts may still be unknown)."""
    _check_text(index, request)
    pending = request.pending
    if request.post_pending or request.void_pending or request.reverses or pending:
        modes = [
            bool(request.post_pending),
            bool(request.void_pending),
            bool(request.reverses),
            pending,
        ]
        if sum(modes) > 1:
            raise _invalid(index, "pending", "choose one of pending, post, void or reverse")
        kind, reference_id = _kind(request)
    else:
        kind, reference_id = "single", ""  # What _kind says of a new posted transfer.
    timeout_seconds = request.timeout_seconds
    if timeout_seconds and not pending:
        raise _invalid(index, "timeout_seconds", "only a pending transfer has a timeout")
    if not 0 <= timeout_seconds <= TIMEOUT_SECONDS_MAX:
        raise _invalid(index, "timeout_seconds", "0 to one year")
    amount = request.amount
    amount_minor, currency = (0, "") if amount is None else (amount.amount_minor, amount.currency)
    # Positional: a dataclass's __init__ called with ten keywords costs twice as much.
    row = Row(
        index,
        request.key,
        kind,
        request.debit_account,
        request.credit_account,
        amount_minor,
        currency,
        request_digest(request),
        request,
        reference_id,
    )
    is_new_movement = not reference_id and kind in {"single", "pending"}
    if amount is None:
        if is_new_movement:
            raise fail(errors.AmountMustBePositive, row, "an amount is required")
    elif amount_minor <= 0:
        raise fail(errors.AmountMustBePositive, row, f"amount {amount_minor} is not positive")
    if amount_minor > AMOUNT_MAX_MINOR:
        raise fail(
            errors.AmountTooLarge,
            row,
            f"amount {amount_minor} is above the ledger's limit of {AMOUNT_MAX_MINOR} minor units",
        )
    if is_new_movement:
        if not row.debit_ref or not row.credit_ref:
            raise _invalid(index, "debit_account", "both accounts are required")
        if row.debit_ref == row.credit_ref:
            raise fail(errors.AccountsMustBeDifferent, row, "debit and credit are one account")
    return row


def _kind(request: TransferRequest) -> tuple[str, str]:
    if request.post_pending:
        return "post", request.post_pending
    if request.void_pending:
        return "void", request.void_pending
    if request.reverses:
        return "single", request.reverses
    return ("pending" if request.pending else "single"), ""


def _check_text(index: int, request: TransferRequest) -> None:
    key, code, reference = request.key, request.code, request.reference
    if not key or len(key) > KEY_MAX_LENGTH:
        raise _invalid(index, "key", f"1 to {KEY_MAX_LENGTH} characters")
    if len(code) > TEXT_MAX_LENGTH:
        raise _invalid(index, "code", f"at most {TEXT_MAX_LENGTH} characters")
    if len(reference) > TEXT_MAX_LENGTH:
        raise _invalid(index, "reference", f"at most {TEXT_MAX_LENGTH} characters")
    texts = (
        key,
        code,
        reference,
        request.debit_account,
        request.credit_account,
        request.post_pending,
        request.void_pending,
        request.reverses,
    )  # In _TEXT_FIELDS order.
    joined = "".join(texts)
    # Control characters are never printable: the cheap test first, the search (naming the
    # field) only when some character is not.
    if not joined.isprintable() and _CONTROL_CHARACTER.search(joined):
        for name, text in zip(_TEXT_FIELDS, texts, strict=True):
            if _CONTROL_CHARACTER.search(text):
                raise _invalid(index, name, "control characters are not allowed")
    if not request.metadata:
        return
    try:
        json.dumps(dict(request.metadata), allow_nan=False)
    except (TypeError, ValueError):
        raise _invalid(index, "metadata", "must be JSON (no floats that are not finite)") from None


_TEXT_FIELDS: Final = (
    "key",
    "code",
    "reference",
    "debit_account",
    "credit_account",
    "post_pending",
    "void_pending",
    "reverses",
)
_CONTROL_CHARACTER: Final = re.compile(r"[\x00-\x1f\x7f]")


def _invalid(index: int, name: str, message: str) -> InvalidInput:
    return InvalidInput(
        f"transfer {index}: {name}: {message}",
        errors=[FieldError(f"transfers.{index}.{name}", message)],
        extra={"transfer_index": index},
    )


def are_new_movements(rows: Sequence[Row]) -> bool:
    """Whether every row is a new posted or pending transfer between accounts named by id (what
    the one-write paths, ``fastpath`` and ``sqlitepath``, take)."""
    for row in rows:
        if (
            row.kind not in {"single", "pending"}
            or row.reference_id
            or not row.debit_ref.startswith("lac_")
            or not row.credit_ref.startswith("lac_")
        ):
            return False
    return True


def check_duplicate_keys(rows: Sequence[Row]) -> None:
    if len(rows) == 1 or len({row.key for row in rows}) == len(rows):
        return
    seen: set[str] = set()
    for row in rows:
        if row.key in seen:
            raise fail(errors.DuplicateKeyInBatch, row, f"key {row.key!r} appears twice")
        seen.add(row.key)


# ------------------------------------------------------------------ the batch


def post_batch(rows: list[Row], *, client: str, now: dt.datetime) -> None:
    """Apply ``rows`` inside the caller's transaction; raise (and let it roll back) on failure.

    Raises ``KeysExist`` when an idempotency key is already taken, or the domain error of the
    first transfer that cannot be applied.
    """
    with connection.wrap_database_errors, _cursor() as cursor:
        if any(row.reference_id for row in rows):
            resolve_references(cursor, rows, now)
        if any(
            not ref.startswith("lac_") for row in rows for ref in (row.debit_ref, row.credit_ref)
        ):
            _resolve_codes(cursor, rows)
        has_references = any(row.reference_id for row in rows)
        deltas = aggregate(rows)
        to_shards = shard_credits(rows)
        if connection.vendor == "postgresql" and not has_references:
            # The common case in one round trip: update the accounts and insert the transfers in
            # one statement, then check; a failed check rolls both back with the transaction.
            states, inserted = _update_and_insert(cursor, rows, deltas, client=client, now=now)
            _credit_shards(cursor, states, to_shards)
            _check_accounts(rows, states)
            _check_limits(rows, states, deltas)
        else:
            if has_references:
                # Checked before the UPDATE for a precise error; a concurrent resolution that
                # slips in between is caught again below, or by the constraints (the caller
                # retries).
                _check_resolutions(cursor, rows)
            states = _update_accounts(cursor, deltas, to_shards)
            _credit_shards(cursor, states, to_shards)
            _check_accounts(rows, states)
            _check_limits(rows, states, deltas)
            if has_references:
                _check_resolutions(cursor, rows)
            # After this point the operation must succeed (or roll back as a replay).
            inserted = _insert(cursor, rows, client=client, states=states, now=now)
    if inserted != len(rows):
        raise KeysExist


def _cursor() -> Any:
    """A cursor for the posting statements.

    On PostgreSQL a plain psycopg cursor binds parameters on the server: the arrays travel in
    binary instead of being quoted into the SQL text, and repeated statements get prepared.
    """
    connection.ensure_connection()
    if connection.vendor == "postgresql":
        return psycopg.Cursor(connection.connection)
    return connection.cursor()


def aggregate(rows: Iterable[Row]) -> dict[str, list[int]]:
    """Per account: [debits posted, credits posted, debits pending, credits pending] deltas."""
    deltas: dict[str, list[int]] = {}
    for row in rows:
        debit = deltas.get(row.debit_ref)
        if debit is None:
            debit = deltas[row.debit_ref] = [0, 0, 0, 0]
        credit = deltas.get(row.credit_ref)
        if credit is None:
            credit = deltas[row.credit_ref] = [0, 0, 0, 0]
        kind = row.kind
        if kind == "single":  # The common kinds in line; _apply has the others.
            debit[0] += row.amount_minor
            credit[1] += row.amount_minor
        elif kind == "pending":
            debit[2] += row.amount_minor
            credit[3] += row.amount_minor
        else:
            _apply(debit, row, 0, 2)
            _apply(credit, row, 1, 3)
    return deltas


def shard_credits(rows: Iterable[Row]) -> dict[str, int]:
    """Per account the batch touches only as the credit side of posted (``single``) transfers:
    their sum. Such an account, when sharded, takes them on a shard row instead of its own."""
    posted: dict[str, int] = {}
    elsewhere: set[str] = set()
    for row in rows:
        elsewhere.add(row.debit_ref)
        if row.kind == "single":
            credit_ref = row.credit_ref
            posted[credit_ref] = posted.get(credit_ref, 0) + row.amount_minor
        else:
            elsewhere.add(row.credit_ref)
    return {ref: amount for ref, amount in posted.items() if ref not in elsewhere}


def shard_chooser() -> int:
    """A number that stays the same for a connection and differs between concurrent ones, so
    concurrent writers credit different shards (``chooser % credit_shards``): the connection's
    audit lane on PostgreSQL (each connection leases its own); on SQLite, with one writer at a
    time, shard 0 serves."""
    if connection.vendor != "postgresql":
        return 0
    return current_lane().number


def _apply(totals: list[int], row: Row, posted: int, pending: int) -> None:
    if row.kind == "single":
        totals[posted] += row.amount_minor
    elif row.kind == "pending":
        totals[pending] += row.amount_minor
    elif row.kind == "post":
        totals[pending] -= row.released_minor
        totals[posted] += row.amount_minor
    else:
        totals[pending] -= row.released_minor


# ------------------------------------------------------------ references: post, void, reverse


def resolve_references(cursor: Any, rows: list[Row], now: dt.datetime) -> None:
    wanted = sorted({row.reference_id for row in rows if row.reference_id})
    found = {ref.public_id: ref for ref in _load_referenced(cursor, wanted)}
    claimed: dict[str, Row] = {}
    for row in rows:
        if not row.reference_id:
            continue
        referenced = found.get(row.reference_id)
        if row.kind == "single":
            _fill_reversal(row, referenced)
            continue
        if referenced is None:
            raise fail(errors.PendingTransferNotFound, row, f"no pending {row.reference_id}")
        earlier = claimed.setdefault(row.reference_id, row)
        if earlier is not row:
            raise _already_resolved(row, earlier.kind)
        _fill_resolution(row, referenced, now)


def _load_referenced(cursor: Any, public_ids: list[str]) -> list[Referenced]:
    if not public_ids:
        return []
    marks = ", ".join(["%s"] * len(public_ids))
    cursor.execute(
        "SELECT t.id, t.public_id, t.kind, d.public_id, c.public_id, t.amount_minor,"
        " t.currency, t.expires_at, t.reverses_id IS NOT NULL"
        " FROM ledger_transfer t JOIN ledger_account d ON d.id = t.debit_account_id"
        f" JOIN ledger_account c ON c.id = t.credit_account_id WHERE t.public_id IN ({marks})",
        public_ids,
    )
    return [
        Referenced(
            pk=pk,
            public_id=public_id,
            kind=kind,
            debit_ref=debit,
            credit_ref=credit,
            amount_minor=amount,
            currency=currency,
            expires_at=_as_datetime(expires_at),
            is_reversal=bool(is_reversal),
        )
        for pk, public_id, kind, debit, credit, amount, currency, expires_at, is_reversal in (
            cursor.fetchall()
        )
    ]


def _as_datetime(value: Any) -> dt.datetime | None:
    if value is None:
        return None
    # SQLite hands back naive UTC datetimes (or text); PostgreSQL aware ones.
    parsed = value if isinstance(value, dt.datetime) else dt.datetime.fromisoformat(str(value))
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=dt.UTC)


def _fill_reversal(row: Row, original: Referenced | None) -> None:
    if original is None:
        raise fail(errors.TransferNotFound, row, f"no transfer {row.reference_id} to reverse")
    if original.kind not in {"single", "post"} or original.is_reversal:
        raise fail(errors.TransferNotReversible, row, f"{original.public_id} is {original.kind}")
    _fill_accounts(row, debit=original.credit_ref, credit=original.debit_ref)
    _fill_amount(row, original)
    if row.amount_minor > original.amount_minor:
        raise fail(errors.ReversalExceedsOriginal, row, "more than the original amount")
    row.reverses_pk = original.pk
    row.original_minor = original.amount_minor


def _fill_resolution(row: Row, pending: Referenced, now: dt.datetime) -> None:
    if pending.kind != "pending":
        raise fail(errors.TransferNotPending, row, f"{pending.public_id} is {pending.kind}")
    if row.kind != "expire" and pending.expires_at is not None and pending.expires_at <= now:
        raise fail(errors.PendingTransferExpired, row, f"{pending.public_id} has expired")
    _fill_accounts(row, debit=pending.debit_ref, credit=pending.credit_ref)
    if row.kind == "post":
        _fill_amount(row, pending)
        if row.amount_minor > pending.amount_minor:
            raise fail(errors.PendingAmountExceeded, row, "more than the pending amount")
    else:
        row.amount_minor, row.currency = pending.amount_minor, pending.currency
    row.released_minor = pending.amount_minor
    row.pending_pk = pending.pk


def _fill_accounts(row: Row, *, debit: str, credit: str) -> None:
    # A caller may name the accounts (they must be the referenced ones) or leave them out.
    if row.debit_ref and row.debit_ref != debit:
        raise _invalid(row.index, "debit_account", f"must be {debit} or empty")
    if row.credit_ref and row.credit_ref != credit:
        raise _invalid(row.index, "credit_account", f"must be {credit} or empty")
    row.debit_ref, row.credit_ref = debit, credit


def _fill_amount(row: Row, referenced: Referenced) -> None:
    if not row.currency:
        row.amount_minor, row.currency = referenced.amount_minor, referenced.currency
    elif row.currency != referenced.currency:
        raise fail(CurrencyMismatch, row, f"{row.currency} against {referenced.currency}")


def _already_resolved(row: Row, resolved_kind: str) -> BankmallError:
    if resolved_kind == "post":
        return fail(errors.PendingTransferAlreadyPosted, row, f"{row.reference_id} was posted")
    if resolved_kind == "void":
        return fail(errors.PendingTransferAlreadyVoided, row, f"{row.reference_id} was voided")
    return fail(errors.PendingTransferExpired, row, f"{row.reference_id} has expired")


def _check_resolutions(cursor: Any, rows: list[Row]) -> None:
    """Refuse a second resolution and an over-reversal, now that the accounts are locked."""
    pending_pks = [row.pending_pk for row in rows if row.pending_pk is not None]
    resolved: dict[int, str] = {}
    if pending_pks:
        marks = ", ".join(["%s"] * len(pending_pks))
        cursor.execute(
            f"SELECT pending_id, kind FROM ledger_transfer WHERE pending_id IN ({marks})",
            pending_pks,
        )
        resolved = dict(cursor.fetchall())
    reverses_pks = sorted({row.reverses_pk for row in rows if row.reverses_pk is not None})
    reversed_minor: dict[int, int] = {}
    if reverses_pks:
        marks = ", ".join(["%s"] * len(reverses_pks))
        cursor.execute(
            "SELECT reverses_id, SUM(amount_minor) FROM ledger_transfer"
            f" WHERE reverses_id IN ({marks}) GROUP BY reverses_id",
            reverses_pks,
        )
        reversed_minor = {pk: int(total) for pk, total in cursor.fetchall()}
    _check_resolution_rows(rows, resolved, reversed_minor)


def _check_resolution_rows(
    rows: list[Row], resolved: dict[int, str], reversed_minor: dict[int, int]
) -> None:
    for row in rows:
        if row.pending_pk is not None and row.pending_pk in resolved:
            raise _already_resolved(row, resolved[row.pending_pk])
        if row.reverses_pk is None:
            continue
        total = reversed_minor.get(row.reverses_pk, 0) + row.amount_minor
        reversed_minor[row.reverses_pk] = total
        if total > row.original_minor:
            raise fail(
                errors.ReversalExceedsOriginal, row, f"{total} reversed of {row.original_minor}"
            )


# ------------------------------------------------------------------ accounts


def _resolve_codes(cursor: Any, rows: list[Row]) -> None:
    codes = sorted(
        {
            ref
            for row in rows
            for ref in (row.debit_ref, row.credit_ref)
            if not ref.startswith("lac_")
        }
    )
    marks = ", ".join(["%s"] * len(codes))
    cursor.execute(f"SELECT code, public_id FROM ledger_account WHERE code IN ({marks})", codes)
    by_code = dict(cursor.fetchall())
    for row in rows:
        for side in ("debit_ref", "credit_ref"):
            ref = getattr(row, side)
            if not ref.startswith("lac_"):
                if ref not in by_code:
                    raise fail(errors.AccountNotFound, row, f"no account {ref!r}")
                setattr(row, side, by_code[ref])
        if row.debit_ref == row.credit_ref:
            raise fail(errors.AccountsMustBeDifferent, row, "debit and credit are one account")


def _update_accounts(
    cursor: Any, deltas: dict[str, list[int]], to_shards: dict[str, int]
) -> dict[str, AccountState]:
    """Lock and update the accounts; a sharded account in ``to_shards`` is left out (its
    credits go to a shard, ``_credit_shards``)."""
    refs = sorted(deltas)
    if connection.vendor == "postgresql":
        # Six arrays instead of 6 × n placeholders: the statement text stays the same size
        # whatever the batch, so the driver does not scan a huge query for placeholders.
        columns = [refs, *([deltas[ref][n] for ref in refs] for n in range(4))]
        columns.append([to_shards.get(ref, 0) for ref in refs])
        cursor.execute(
            _update_sql(
                "unnest(%b::text[], %b::bigint[], %b::bigint[], %b::bigint[], %b::bigint[],"
                " %b::bigint[])"
            ),
            columns,
        )
    else:
        params: list[Any] = []
        for ref in refs:
            params.append(ref)
            params.extend(deltas[ref])
            params.append(to_shards.get(ref, 0))
        cursor.execute(_update_sql(", ".join(["(%s, %s, %s, %s, %s, %s)"] * len(refs))), params)
    return _states(cursor.fetchall())


#: Adds each account's credits (``d``: ref, amount) to one of its shard rows, locked in id order
#: (the account rows, when any, were locked by an earlier statement); returns the accounts.
_CREDIT_SHARDS_SQL: Final = (
    "WITH d(ref, dcs) AS (SELECT * FROM unnest(%b::text[], %b::bigint[])),"
    " sv AS MATERIALIZED (SELECT sh.id, d.dcs FROM ledger_account a JOIN d ON a.public_id = d.ref"
    " JOIN ledger_accountshard sh ON sh.account_id = a.id"
    " AND sh.shard = mod(%b::bigint, a.credit_shards)"
    " WHERE a.credit_shards > 0 ORDER BY sh.id FOR UPDATE OF sh),"
    " s AS (UPDATE ledger_accountshard SET credits_posted_minor"
    " = ledger_accountshard.credits_posted_minor + sv.dcs FROM sv"
    " WHERE ledger_accountshard.id = sv.id RETURNING ledger_accountshard.account_id,"
    " ledger_accountshard.status)"
    " SELECT s.status, {returning} FROM s JOIN ledger_account ON ledger_account.id = s.account_id"
)


def _credit_shards(cursor: Any, states: dict[str, AccountState], to_shards: dict[str, int]) -> None:
    """Credit the sharded accounts the account update left out (those ``to_shards`` names and
    ``states`` lacks) on one shard row each, and add them to ``states``."""
    refs = sorted(ref for ref in to_shards if ref not in states)
    if not refs:
        return
    amounts = [to_shards[ref] for ref in refs]
    if connection.vendor == "postgresql":
        cursor.execute(
            _CREDIT_SHARDS_SQL.format(returning=_ACCOUNT_RETURNING),
            [refs, amounts, shard_chooser()],
        )
        found = cursor.fetchall()
    else:
        # One writer at a time: shard 0, and the accounts read after the update.
        marks = ", ".join(["(%s, %s)"] * len(refs))
        cursor.execute(
            f"WITH d(ref, dcs) AS (VALUES {marks}) UPDATE ledger_accountshard"
            " SET credits_posted_minor = credits_posted_minor + (SELECT d.dcs FROM d"
            " JOIN ledger_account a ON a.public_id = d.ref"
            " WHERE a.id = ledger_accountshard.account_id)"
            " WHERE shard = 0 AND account_id IN (SELECT a.id FROM ledger_account a"
            " JOIN d ON a.public_id = d.ref WHERE a.credit_shards > 0)"
            " RETURNING account_id, status",
            [value for pair in zip(refs, amounts, strict=True) for value in pair],
        )
        status_by_pk = dict(cursor.fetchall())
        if not status_by_pk:
            return
        marks = ", ".join(["%s"] * len(status_by_pk))
        cursor.execute(
            f"SELECT {_ACCOUNT_RETURNING} FROM ledger_account WHERE ledger_account.id IN ({marks})",
            list(status_by_pk),
        )
        found = [(status_by_pk[row[0]], *row) for row in cursor.fetchall()]
    for status, *account in found:
        (state,) = _states([account]).values()
        state.status, state.through_shard = status, True
        states[state.public_id] = state


def _states(fetched: Iterable[Sequence[Any]]) -> dict[str, AccountState]:
    states = {}
    for (
        pk,
        public_id,
        currency,
        status,
        debit_flag,
        credit_flag,
        overdraft,
        *totals,
    ) in fetched:
        states[public_id] = AccountState(
            pk=pk,
            public_id=public_id,
            currency=currency,
            status=status,
            debits_must_not_exceed_credits=bool(debit_flag),
            credits_must_not_exceed_debits=bool(credit_flag),
            overdraft_limit_minor=overdraft,
            totals=list(totals),
        )
    return states


def _update_sql(values: str) -> str:
    """The account update for ``values`` rows (ref, the four deltas, the credits a sharded
    account takes on a shard instead: such an account is left out)."""
    assignments = (
        "debits_posted_minor = ledger_account.debits_posted_minor + v.ddp,"
        " credits_posted_minor = ledger_account.credits_posted_minor + v.dcp,"
        " debits_pending_minor = ledger_account.debits_pending_minor + v.ddn,"
        " credits_pending_minor = ledger_account.credits_pending_minor + v.dcn"
    )
    if connection.vendor == "postgresql":
        # The MATERIALIZED CTE sorts, then locks (LockRows runs above Sort): every batch takes
        # its account locks in primary-key order, so concurrent batches cannot deadlock.
        return (
            f"WITH d(ref, ddp, dcp, ddn, dcn, dcs) AS (SELECT * FROM {values}),"
            " v AS MATERIALIZED (SELECT a.id, d.ddp, d.dcp, d.ddn, d.dcn FROM ledger_account a"
            f" JOIN d ON a.public_id = d.ref WHERE {_NOT_TO_SHARD} ORDER BY a.id FOR UPDATE OF a)"
            f" UPDATE ledger_account SET {assignments} FROM v WHERE ledger_account.id = v.id"
            f" RETURNING {_ACCOUNT_RETURNING}"
        )
    return (
        f"WITH v(ref, ddp, dcp, ddn, dcn, dcs) AS (VALUES {values})"
        f" UPDATE ledger_account SET {assignments} FROM v WHERE ledger_account.public_id = v.ref"
        " AND (ledger_account.credit_shards = 0 OR v.dcs = 0)"
        f" RETURNING {_ACCOUNT_RETURNING}"
    )


def qualified_returning(*, shards: bool = True) -> str:
    """The columns an account update returns, qualified by the table (for ``AccountState``);
    ``shards=False`` for accounts known to have no shards (credits posted as stored)."""
    if shards:
        return _ACCOUNT_RETURNING
    return _ACCOUNT_RETURNING.replace(f" + {_IN_SHARDS}", "")


def _check_accounts(rows: list[Row], states: dict[str, AccountState]) -> None:
    for row in rows:
        for ref in (row.debit_ref, row.credit_ref):
            state = states.get(ref)
            if state is None:
                raise fail(errors.AccountNotFound, row, f"no account {ref}")
            if row.kind in {"void", "expire"}:
                # Releasing a reservation is always allowed: it only gives funds back.
                continue
            if state.status == "frozen":
                raise fail(errors.AccountFrozen, row, f"{ref} is frozen")
            if state.status == "closed":
                raise fail(errors.AccountClosed, row, f"{ref} is closed")
            if state.currency != row.currency:
                raise fail(
                    CurrencyMismatch, row, f"{row.currency} transfer on a {state.currency} account"
                )


def violation(state: AccountState, totals: Sequence[int]) -> type[BankmallError] | None:
    """The error class for an account whose ``totals`` break its limit flag, else ``None``."""
    if state.through_shard:
        return None  # Only credited, and never with credits_must_not_exceed_debits.
    debits_posted, credits_posted, debits_pending, credits_pending = totals
    limit = state.overdraft_limit_minor
    if state.debits_must_not_exceed_credits and debits_posted + debits_pending > (
        credits_posted + limit
    ):
        return errors.InsufficientFunds
    if state.credits_must_not_exceed_debits and credits_posted + credits_pending > (
        debits_posted + limit
    ):
        return errors.CreditLimitExceeded
    return None


def _check_limits(
    rows: list[Row], states: dict[str, AccountState], deltas: dict[str, list[int]]
) -> None:
    if all(violation(state, state.totals) is None for state in states.values()):
        return
    # The batch as a whole breaks a limit: replay it in order to name the first transfer.
    running = {
        ref: [total - delta for total, delta in zip(state.totals, deltas[ref], strict=True)]
        for ref, state in states.items()
    }
    for row in rows:
        for ref, posted, pending in ((row.debit_ref, 0, 2), (row.credit_ref, 1, 3)):
            _apply(running[ref], row, posted, pending)
            error = violation(states[ref], running[ref])
            if error is not None:
                raise fail(error, row, f"account {ref} would break its limit")
    raise AssertionError("the batch breaks a limit that no single transfer breaks")


# ------------------------------------------------------------------ insert


def _insert(
    cursor: Any, rows: list[Row], *, client: str, states: dict[str, AccountState], now: dt.datetime
) -> int:
    if connection.vendor == "postgresql":
        return _insert_arrays(cursor, rows, client=client, states=states, now=now)
    ops = connection.ops
    created_at = ops.adapt_datetimefield_value(now)
    today = now.date()
    account_ids = {ref: state.pk for ref, state in states.items()}
    inserted = 0
    for start in range(0, len(rows), INSERT_CHUNK):
        chunk = rows[start : start + INSERT_CHUNK]
        params: list[Any] = []
        for public_id, *middle, value_date, pending_pk, reverses_pk, expires_at in transfer_values(
            chunk, account_ids, today
        ):
            params.extend(
                (
                    public_id,
                    client,
                    *middle,
                    ops.adapt_datefield_value(value_date),
                    pending_pk,
                    reverses_pk,
                    ops.adapt_datetimefield_value(expires_at),
                    created_at,
                )
            )
        values = ", ".join([_ROW_MARKS] * len(chunk))
        cursor.execute(
            f"INSERT INTO ledger_transfer ({TRANSFER_COLUMNS}) VALUES {values}"
            " ON CONFLICT (client, key) DO NOTHING RETURNING id",
            params,
        )
        inserted += len(cursor.fetchall())
    return inserted


def transfer_values(
    rows: Iterable[Row], account_ids: Mapping[str, object], today: dt.date
) -> Iterator[tuple[Any, ...]]:
    """Each row's columns in ``TRANSFER_COLUMNS`` order, without ``client`` and ``created_at``
    (a batch's rows share them): each account as ``account_ids[its public id]``, the value date
    the request's or else ``today``, ``expires_at`` a datetime or ``None``. Every insert of
    transfers takes its values from here, each converting them as its statement needs."""
    for row in rows:
        request = row.request
        if request is None:
            code, reference, metadata, value_date = "", "", "{}", today
        else:
            # As row_texts, in line: this loop runs for every transfer written.
            code, reference = request.code, request.reference
            metadata = (
                json.dumps(dict(request.metadata), separators=(",", ":"))
                if request.metadata
                else "{}"
            )
            value_date = today if request.value_date is None else request.value_date
        yield (
            row.public_id,
            row.key,
            row.digest,
            row.kind,
            account_ids[row.debit_ref],
            account_ids[row.credit_ref],
            row.amount_minor,
            row.currency,
            code,
            reference,
            metadata,
            value_date,
            row.pending_pk,
            row.reverses_pk,
            row.expires_at,
        )


def transfer_columns(
    rows: Sequence[Row], account_ids: Mapping[str, object], today: dt.date
) -> list[tuple[Any, ...]]:
    """``transfer_values`` as 15 columns of ``len(rows)`` values each."""
    if not rows:
        return [()] * 15
    return list(zip(*transfer_values(rows, account_ids, today), strict=True))


def row_texts(row: Row) -> tuple[str, str, str]:
    request = row.request
    if request is None:
        return "", "", "{}"
    metadata = (
        json.dumps(dict(request.metadata), separators=(",", ":")) if request.metadata else "{}"
    )
    return request.code, request.reference, metadata


_INSERT_ARRAYS_SQL: Final = (
    f"INSERT INTO ledger_transfer ({TRANSFER_COLUMNS})"
    " SELECT p, %b, k, g, n, d, c, a, y, o, r, m::jsonb, v, pe, rv, x, %b FROM unnest("
    "%b::text[], %b::text[], %b::text[], %b::text[], %b::bigint[], %b::bigint[], %b::bigint[],"
    " %b::text[], %b::text[], %b::text[], %b::text[], %b::date[], %b::bigint[], %b::bigint[],"
    " %b::timestamptz[]) AS t(p, k, g, n, d, c, a, y, o, r, m, v, pe, rv, x)"
    " ON CONFLICT (client, key) DO NOTHING RETURNING id"
)


_SEPARATOR: Final = "\x1f"


def split_column(cast: str) -> str:
    """A ``cast[]`` array from two parameters: ``joined``'s text and count."""
    # One text parameter per column, split on the server: joining strings is a single C call,
    # where binding an array costs a Python call per element. The separator is refused in
    # every text field (``_check_text``); JSON escapes it. A terminator keeps a one-row batch
    # whose value is empty from becoming an empty array.
    return f"((string_to_array(%s, E'\\037'))[1:%s])::{cast}[]"


#: The per-account deltas (``d``), one row per account: the four totals' and ``dcs``, the
#: credits a sharded account takes on a shard (``shard_credits``); then the shard chooser.
DELTAS_CTE: Final = (
    "d(ref, ddp, dcp, ddn, dcn, dcs) AS (SELECT * FROM unnest("
    + ", ".join([split_column("text"), *[split_column("bigint")] * 5])
    + ")), chooser(n) AS (SELECT %s::bigint)"
)
#: A sharded account (``a``) whose delta (``d``) goes to a shard is not locked or updated.
_NOT_TO_SHARD: Final = "(a.credit_shards = 0 OR d.dcs = 0)"
#: The accounts locked in primary-key order (``v``) and updated by their deltas (``u``,
#: returning ``{returning}``). ``{match}`` joins ``ledger_account a`` to ``d`` (and may add a
#: WHERE clause); ``v`` also carries the ``{extra}`` columns of ``d`` for ``{verify}``, a
#: condition every updated row must meet.
LOCK_AND_UPDATE_CTES: Final = (
    "v AS MATERIALIZED (SELECT a.id, d.ddp, d.dcp, d.ddn, d.dcn{extra} FROM ledger_account a"
    " JOIN d ON {match} ORDER BY a.id FOR UPDATE OF a),"
    " u AS (UPDATE ledger_account SET"
    " debits_posted_minor = ledger_account.debits_posted_minor + v.ddp,"
    " credits_posted_minor = ledger_account.credits_posted_minor + v.dcp,"
    " debits_pending_minor = ledger_account.debits_pending_minor + v.ddn,"
    " credits_pending_minor = ledger_account.credits_pending_minor + v.dcn"
    " FROM v WHERE ledger_account.id = v.id{verify} RETURNING {returning})"
)
#: The transfers' insert (``i``), taking account ids from ``{source}`` (a CTE with ``id`` and
#: ``public_id``); ``{where}`` may narrow the rows inserted, ``{conflict}`` is
#: ``ON_CONFLICT_SKIP`` or empty (a reused key is then a unique violation that fails the
#: statement).
INSERT_CTE: Final = (
    f"i AS (INSERT INTO ledger_transfer ({TRANSFER_COLUMNS})"
    " SELECT t.p, %s, t.k, t.g, t.n, da.id, ca.id, t.a, t.y, t.o, t.r, t.m::jsonb, t.v, NULL,"
    " NULL, NULLIF(t.x, '')::timestamptz, %s FROM unnest("
    + ", ".join(
        split_column(cast)
        for cast in (
            "text",
            "text",
            "text",
            "text",
            "text",
            "text",
            "bigint",
            "text",
            "text",
            "text",
            "text",
            "date",
            "text",
        )
    )
    + ") AS t(p, k, g, n, dr, cr, a, y, o, r, m, v, x)"
    " JOIN {source} da ON da.public_id = t.dr JOIN {source} ca ON ca.public_id = t.cr{where}"
    "{conflict} RETURNING 1)"
)
#: The accounts touched (``acc``: ids and currencies, which never change, read without a lock).
ACCOUNTS_CTE: Final = (
    "acc AS MATERIALIZED (SELECT a.id, a.public_id, a.currency, a.credit_shards"
    " FROM ledger_account a JOIN d ON a.public_id = d.ref)"
)
#: The accounts' update (``u``) and then the transfers' insert (``i``, account ids from
#: ``acc``: an account credited through a shard is not in ``u``): the transactional path's
#: statement. Its parameters: ``transfer_params``.
TRANSFER_CTES: Final = (
    f"WITH {DELTAS_CTE}, {ACCOUNTS_CTE}, "
    + LOCK_AND_UPDATE_CTES.replace("{match}", f"a.public_id = d.ref WHERE {_NOT_TO_SHARD}")
    .replace("{extra}", "")
    .replace("{verify}", "")
    + ", "
    + INSERT_CTE.replace("{source}", "acc")
)
ON_CONFLICT_SKIP: Final = " ON CONFLICT (client, key) DO NOTHING"
_UPDATE_AND_INSERT_SQL: Final = (
    TRANSFER_CTES.format(returning="{returning}", where="", conflict=ON_CONFLICT_SKIP)
    + " SELECT u.*, (SELECT count(*) FROM i) FROM u"
)


def joined(values: Iterable[Any], count: int) -> list[Any]:
    """The two parameters of ``split_column`` for ``values``."""
    return [_SEPARATOR.join(map(str, values)) + _SEPARATOR, count]


def _update_and_insert(
    cursor: Any, rows: list[Row], deltas: dict[str, list[int]], *, client: str, now: dt.datetime
) -> tuple[dict[str, AccountState], int]:
    params = transfer_params(rows, deltas, client=client, now=now)
    cursor.execute(_UPDATE_AND_INSERT_SQL.format(returning=qualified_returning()), params)
    fetched = cursor.fetchall()
    inserted = int(fetched[0][-1]) if fetched else 0
    return _states([row[:-1] for row in fetched]), inserted


def transfer_params(
    rows: list[Row], deltas: dict[str, list[int]], *, client: str, now: dt.datetime
) -> list[Any]:
    """The parameters of ``TRANSFER_CTES`` for ``rows`` and their aggregated ``deltas``."""
    refs = sorted(deltas)
    params: list[Any] = joined(refs, len(refs))
    for n in range(4):
        params += joined((deltas[ref][n] for ref in refs), len(refs))
    to_shards = shard_credits(rows)
    params += joined((to_shards.get(ref, 0) for ref in refs), len(refs))
    params.append(shard_chooser())
    return params + row_params(rows, client=client, now=now, account_ids={ref: ref for ref in refs})


def row_params(
    rows: list[Row], *, client: str, now: dt.datetime, account_ids: Mapping[str, object]
) -> list[Any]:
    """The client, the time and the transfers' columns of ``INSERT_CTE``, each account as
    ``account_ids[its public id]``."""
    today = now.date()
    today_text = today.isoformat()
    columns = transfer_columns(rows, account_ids, today)
    # Public id to metadata as they are; the pending and reverses ids are NULL in the statement
    # (these rows resolve nothing).
    value_dates, expires = columns[11], columns[14]
    count = len(rows)
    params: list[Any] = [client, now]
    for column in (
        *columns[:11],
        [today_text if value is today else value.isoformat() for value in value_dates],
        [value.isoformat() if value else "" for value in expires],
    ):
        params += joined(column, count)
    return params


def value_date_text(request: TransferRequest | None, today: str) -> str:
    if request is not None and request.value_date is not None:
        return request.value_date.isoformat()
    return today


def _insert_arrays(
    cursor: Any, rows: list[Row], *, client: str, states: dict[str, AccountState], now: dt.datetime
) -> int:
    account_ids = {ref: state.pk for ref, state in states.items()}
    columns = [list(column) for column in transfer_columns(rows, account_ids, now.date())]
    cursor.execute(_INSERT_ARRAYS_SQL, [client, now, *columns])
    return len(cursor.fetchall())


_ROW_MARKS: Final = "(" + ", ".join(["%s"] * 17) + ")"


def views_of(rows: Iterable[Row], *, client: str, now: dt.datetime) -> list[TransferView]:
    """What the caller gets back for rows this batch wrote, in their order."""
    today = now.date()
    views: list[TransferView] = []
    append = views.append
    for row in rows:
        request = row.request
        amount_minor, currency, kind = row.amount_minor, row.currency, row.kind
        if request is None:
            amount, code, reference, metadata, value_date = None, "", "", {}, today
        else:
            amount, code, reference = request.amount, request.code, request.reference
            metadata = dict(request.metadata)
            value_date = today if request.value_date is None else request.value_date
        if amount is None or amount.amount_minor != amount_minor or amount.currency != currency:
            amount = Money(amount_minor, currency)  # Else share the caller's (immutable).
        reference_id = row.reference_id
        append(
            transfer_view(
                row.public_id,
                row.key,
                client,
                kind,
                STATUS_BY_KIND[kind],
                row.debit_ref,
                row.credit_ref,
                amount,
                code,
                reference,
                metadata,
                value_date,
                reference_id if row.pending_pk is not None else None,  # pending_id
                reference_id if row.reverses_pk is not None else None,  # reverses_id
                row.expires_at,
                now,
            )
        )
    return views


def audit_content(
    rows: list[Row], *, client: str, now: dt.datetime
) -> tuple[str, list[str], dict[str, Any]]:
    """(target, after, details) of the ``ledger.transfers_created`` audit record of ``rows``
    written at ``now`` (their ``created_at``): details name the client, the count, the first
    key and the ``contents_digest`` of the rows as stored (``contents.py``), and announce the
    event ``ledger.transfers_created`` (``outbox.announce``: the client, the transfers' and
    their accounts' ids). Every write path calls it, with the rows' accounts and references
    resolved to public ids."""
    transfer_ids = [row.public_id for row in rows]
    details = {
        "client": client,
        "count": len(rows),
        "first_key": rows[0].key,
        contents.DETAILS_KEY: contents_digest(rows, client=client, now=now),
    }
    payload = {
        "client": client,
        "transfer_ids": transfer_ids,
        "account_ids": sorted({ref for row in rows for ref in (row.debit_ref, row.credit_ref)}),
    }
    return (
        transfer_ids[0],
        transfer_ids,
        announce(details, contents.BATCH_ACTION, aggregate_id=transfer_ids[0], payload=payload),
    )


def contents_digest(rows: Iterable[Row], *, client: str, now: dt.datetime) -> str:
    """``contents.digest_lines`` of ``rows`` as every path stores them (``transfer_values``):
    the value date the request's or else ``now``'s date, a reference as the pending transfer
    of a ``post``, ``void`` or ``expire`` and as the reversed transfer of a ``single``."""
    today = now.date()
    line = contents.transfer_line
    lines = []
    for row in rows:
        request = row.request
        if request is None:
            code, reference, metadata, value_date = "", "", "{}", today
        else:
            code, reference = request.code, request.reference
            metadata = contents.metadata_text(request.metadata)
            value_date = today if request.value_date is None else request.value_date
        kind, reference_id, expires_at = row.kind, row.reference_id, row.expires_at
        lines.append(
            line(
                row.public_id,
                row.key,
                row.digest,
                kind,
                row.debit_ref,
                row.credit_ref,
                row.amount_minor,
                row.currency,
                code,
                reference,
                metadata,
                value_date.isoformat(),
                reference_id if kind in RESOLVING_KINDS else "",
                reference_id if kind == "single" else "",
                "" if expires_at is None else contents.instant_text(expires_at),
            )
        )
    return contents.digest_text(contents.digest_lines(lines, client=client, created_at=now))
