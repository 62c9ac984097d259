"""Reads of the ledger: accounts, balances now and in the past, history, lookups, invariants."""

from __future__ import annotations

import datetime as dt
import itertools
import operator
from collections.abc import Iterable, Iterator
from typing import Any, Final, cast

from django.db import connection
from django.db.models import BigIntegerField, Exists, OuterRef, Q, QuerySet, Subquery, Sum
from django.db.models.functions import Coalesce

from bankmall.core.models import AuditRecord
from bankmall.core.money import Money
from bankmall.core.pagination import LIMIT_MAX, Page
from bankmall.ledger import contents, errors, guards
from bankmall.ledger.models import Account, AccountKind, AccountShard, Transfer
from bankmall.ledger.values import AccountView, Balance, TransferView

__all__ = [
    "account_by_code",
    "account_history",
    "balance",
    "contents_problems",
    "get_account",
    "get_transfer",
    "invariant_problems",
    "transfer_by_key",
]

PROBLEMS_MAX: Final = 5
DEBIT_NORMAL_KINDS: Final = frozenset({AccountKind.ASSET, AccountKind.EXPENSE})
POSTING_KINDS: Final = ("single", "post")
_RESOLVED_STATUS: Final = {"post": "posted", "void": "voided", "expire": "expired"}


# ------------------------------------------------------------------ accounts


def accounts() -> QuerySet[Account]:
    """Accounts with ``shard_credits``, the sum of their shards' credits, read in the same
    statement (one snapshot) as the row."""
    total = (
        AccountShard.objects.filter(account=OuterRef("pk"))
        .values("account")
        .annotate(total=Sum("credits_posted_minor"))
        .values("total")
    )
    return Account.objects.annotate(
        shard_credits=Coalesce(Subquery(total), 0, output_field=BigIntegerField())
    )


def shard_credits(account: Account) -> int:
    """The posted credits kept in ``account``'s shards (0 for an account without shards)."""
    if not account.credit_shards:
        return 0
    annotated = getattr(account, "shard_credits", None)
    if annotated is not None:
        return int(annotated)
    found = AccountShard.objects.filter(account=account).aggregate(
        total=Sum("credits_posted_minor")
    )
    return int(found["total"] or 0)


def account_view(account: Account) -> AccountView:
    currency = account.currency
    return AccountView(
        id=account.public_id,
        code=account.code,
        currency=currency,
        kind=account.kind,
        status=account.status,
        debits_must_not_exceed_credits=account.debits_must_not_exceed_credits,
        credits_must_not_exceed_debits=account.credits_must_not_exceed_debits,
        overdraft_limit_minor=account.overdraft_limit_minor,
        debits_posted=Money(account.debits_posted_minor, currency),
        credits_posted=Money(account.credits_posted_minor + shard_credits(account), currency),
        debits_pending=Money(account.debits_pending_minor, currency),
        credits_pending=Money(account.credits_pending_minor, currency),
        name=account.name,
        created_at=account.created_at,
        credit_shards=account.credit_shards,
    )


def _account(account_id: str) -> Account:
    account = accounts().filter(public_id=account_id).first()
    if account is None:
        raise errors.AccountNotFound(f"no account {account_id}")
    return account


def get_account(account_id: str) -> AccountView:
    """The account with public id ``account_id``. Errors: ``account_not_found``."""
    return account_view(_account(account_id))


def account_by_code(code: str) -> AccountView:
    """The account with chart-of-accounts ``code``. Errors: ``account_not_found``."""
    account = accounts().filter(code=code).first()
    if account is None:
        raise errors.AccountNotFound(f"no account {code!r}")
    return account_view(account)


# ------------------------------------------------------------------ balances


def balance(account_id: str, *, as_of: dt.datetime | None = None) -> Balance:
    """Balances now (from the stored totals) or at ``as_of`` (recomputed from transfers).

    At ``as_of`` a transfer counts when it was created at or before that instant; a pending
    transfer counts as pending until the instant its post, void or expiry was written.
    Errors: ``account_not_found``.
    """
    account = _account(account_id)
    if as_of is None:
        totals = (
            account.debits_posted_minor,
            account.credits_posted_minor + shard_credits(account),
            account.debits_pending_minor,
            account.credits_pending_minor,
        )
    else:
        totals = _totals_at(account, as_of)
    return _balance(account, as_of, totals)


def _totals_at(account: Account, as_of: dt.datetime) -> tuple[int, int, int, int]:
    upto = Transfer.objects.filter(created_at__lte=as_of)
    resolved = Transfer.objects.filter(pending=OuterRef("pk"), created_at__lte=as_of)
    open_pending = upto.filter(kind="pending").exclude(Exists(resolved))
    return (
        _sum(upto.filter(debit_account=account, kind__in=POSTING_KINDS)),
        _sum(upto.filter(credit_account=account, kind__in=POSTING_KINDS)),
        _sum(open_pending.filter(debit_account=account)),
        _sum(open_pending.filter(credit_account=account)),
    )


def _sum(queryset: Any) -> int:
    return int(queryset.aggregate(total=Sum("amount_minor"))["total"] or 0)


def _balance(
    account: Account, as_of: dt.datetime | None, totals: tuple[int, int, int, int]
) -> Balance:
    debits_posted, credits_posted, debits_pending, credits_pending = totals
    currency = account.currency
    if account.kind in DEBIT_NORMAL_KINDS:
        posted = debits_posted - credits_posted
        available = posted - credits_pending
    else:
        posted = credits_posted - debits_posted
        available = posted - debits_pending
    return Balance(
        account_id=account.public_id,
        as_of=as_of,
        debits_posted=Money(debits_posted, currency),
        credits_posted=Money(credits_posted, currency),
        debits_pending=Money(debits_pending, currency),
        credits_pending=Money(credits_pending, currency),
        posted=Money(posted, currency),
        available=Money(available, currency),
    )


# ------------------------------------------------------------------ transfers


def _transfers() -> Any:
    return Transfer.objects.select_related("debit_account", "credit_account", "pending", "reverses")


def _views(transfers: Iterable[Transfer]) -> list[TransferView]:
    rows = list(transfers)
    pending_pks = [row.pk for row in rows if row.kind == "pending"]
    resolutions = dict(
        Transfer.objects.filter(pending_id__in=pending_pks).values_list("pending_id", "kind")
    )
    return [_view(row, resolutions.get(row.pk)) for row in rows]


def _view(row: Transfer, resolution: str | None) -> TransferView:
    status = _RESOLVED_STATUS.get(row.kind, "posted")
    if row.kind == "pending":
        status = _RESOLVED_STATUS[resolution] if resolution else "pending"
    return TransferView(
        id=row.public_id,
        key=row.key,
        client=row.client,
        kind=row.kind,
        status=status,
        debit_account=row.debit_account.public_id,
        credit_account=row.credit_account.public_id,
        amount=Money(row.amount_minor, row.currency),
        code=row.code,
        reference=row.reference,
        metadata=dict(row.metadata),
        value_date=row.value_date,
        pending_id=row.pending.public_id if row.pending is not None else None,
        reverses_id=row.reverses.public_id if row.reverses is not None else None,
        expires_at=row.expires_at,
        created_at=row.created_at,
    )


def get_transfer(transfer_id: str) -> TransferView:
    """The transfer with public id ``transfer_id``. Errors: ``transfer_not_found``."""
    views = _views(_transfers().filter(public_id=transfer_id))
    if not views:
        raise errors.TransferNotFound(f"no transfer {transfer_id}")
    return views[0]


def transfer_by_key(client: str, key: str) -> TransferView:
    """The transfer ``client`` created with idempotency ``key``. Errors: ``transfer_not_found``."""
    views = _views(_transfers().filter(client=client, key=key))
    if not views:
        raise errors.TransferNotFound(f"no transfer with key {key!r}")
    return views[0]


def transfers_by_keys(client: str, keys: list[str]) -> dict[str, tuple[str, TransferView]]:
    """Stored transfers of ``client`` by key, each with its request digest (for replays)."""
    rows = list(_transfers().filter(client=client, key__in=keys))
    digests = {row.key: row.request_digest for row in rows}
    return {view.key: (digests[view.key], view) for view in _views(rows)}


def account_history(
    account_id: str, *, limit: int = 20, starting_after: str | None = None
) -> Page[TransferView]:
    """The account's transfers, oldest first, ``limit`` (1 to 100) per page.

    ``starting_after`` is the previous page's ``next_cursor`` (a transfer id).
    Errors: ``account_not_found``; an unknown cursor gives ``transfer_not_found``.
    """
    account = _account(account_id)
    bounded = max(1, min(limit, LIMIT_MAX))
    queryset = _transfers().filter(Q(debit_account=account) | Q(credit_account=account))
    if starting_after is not None:
        after = Transfer.objects.filter(public_id=starting_after).values_list("pk", flat=True)
        cursor_pk = after.first()
        if cursor_pk is None:
            raise errors.TransferNotFound(f"no transfer {starting_after}")
        queryset = queryset.filter(pk__gt=cursor_pk)
    window = _views(queryset.order_by("pk")[: bounded + 1])
    has_more = len(window) > bounded
    data = window[:bounded]
    return Page(data=data, has_more=has_more, next_cursor=data[-1].id if has_more else None)


def expired_pending_ids(*, now: dt.datetime, limit: int) -> list[str]:
    """Public ids of pending transfers whose timeout passed and that nobody resolved yet."""
    resolved = Transfer.objects.filter(pending=OuterRef("pk"))
    return list(
        Transfer.objects.filter(kind="pending", expires_at__lte=now)
        .exclude(Exists(resolved))
        .order_by("expires_at", "pk")
        .values_list("public_id", flat=True)[:limit]
    )


# ------------------------------------------------------------------ invariants

_EXPECTED_TOTALS_SQL: Final = """
SELECT account_id, SUM(dp), SUM(cp), SUM(dn), SUM(cn) FROM (
  SELECT debit_account_id AS account_id, amount_minor AS dp, 0 AS cp, 0 AS dn, 0 AS cn
    FROM ledger_transfer WHERE kind IN ('single', 'post')
  UNION ALL SELECT credit_account_id, 0, amount_minor, 0, 0
    FROM ledger_transfer WHERE kind IN ('single', 'post')
  UNION ALL SELECT debit_account_id, 0, 0, amount_minor, 0
    FROM ledger_transfer WHERE kind = 'pending'
  UNION ALL SELECT credit_account_id, 0, 0, 0, amount_minor
    FROM ledger_transfer WHERE kind = 'pending'
  UNION ALL SELECT r.debit_account_id, 0, 0, -p.amount_minor, 0
    FROM ledger_transfer r JOIN ledger_transfer p ON p.id = r.pending_id
  UNION ALL SELECT r.credit_account_id, 0, 0, 0, -p.amount_minor
    FROM ledger_transfer r JOIN ledger_transfer p ON p.id = r.pending_id
) movements GROUP BY account_id
"""

_TRANSFER_SHAPE_SQL: Final = """
SELECT t.public_id FROM ledger_transfer t
  LEFT JOIN ledger_account d ON d.id = t.debit_account_id
  LEFT JOIN ledger_account c ON c.id = t.credit_account_id
  LEFT JOIN ledger_transfer p ON p.id = t.pending_id
  LEFT JOIN ledger_transfer r ON r.id = t.reverses_id
WHERE d.id IS NULL OR c.id IS NULL
   OR t.currency <> d.currency OR t.currency <> c.currency OR t.amount_minor <= 0
   OR (t.reverses_id IS NOT NULL AND r.id IS NULL)
   OR (t.pending_id IS NOT NULL AND (p.id IS NULL OR p.kind <> 'pending'
       OR p.debit_account_id <> t.debit_account_id OR p.credit_account_id <> t.credit_account_id
       OR t.amount_minor > p.amount_minor))
ORDER BY t.id
"""


def invariant_problems() -> list[str]:
    """Every broken ledger invariant as one sentence (empty when the ledger is consistent).

    Checks: per currency, debits equal credits (posted and pending separately); each account's
    stored totals (credits posted: the row's plus its shards') equal the sums of its transfers;
    a sharded account has one shard row per shard number, each with the account's status; each
    transfer's accounts exist and match its currency, and it matches its pending transfer; no
    account breaks its limit flag; the triggers that refuse updates and deletes of ledger rows
    are in place (``guards.missing_guards``).
    """
    problems = (
        _currency_problems()
        + _total_problems()
        + _shard_problems()
        + _shape_problems()
        + _limit_problems()
        + guards.missing_guards()
    )
    return problems[:PROBLEMS_MAX]


def _fetch(sql: str, params: list[Any] | None = None) -> list[tuple[Any, ...]]:
    with connection.cursor() as cursor:
        cursor.execute(sql, params or [])
        return list(cursor.fetchall())


def _currency_problems() -> list[str]:
    rows = _fetch(
        "SELECT currency, SUM(dp), SUM(cp), SUM(dn), SUM(cn) FROM ("
        "SELECT currency, debits_posted_minor AS dp, credits_posted_minor AS cp,"
        " debits_pending_minor AS dn, credits_pending_minor AS cn FROM ledger_account"
        " UNION ALL SELECT a.currency, 0, s.credits_posted_minor, 0, 0"
        " FROM ledger_accountshard s JOIN ledger_account a ON a.id = s.account_id"
        ") totals GROUP BY currency ORDER BY currency"
    )
    problems = []
    for currency, debits_posted, credits_posted, debits_pending, credits_pending in rows:
        if debits_posted != credits_posted or debits_pending != credits_pending:
            problems.append(
                f"ledger {currency}: debits {debits_posted} posted / {debits_pending} pending"
                f" differ from credits {credits_posted} posted / {credits_pending} pending"
            )
    return problems


def _total_problems() -> list[str]:
    expected = {
        row[0]: tuple(int(value) for value in row[1:]) for row in _fetch(_EXPECTED_TOTALS_SQL)
    }
    in_shards = {
        account_id: int(total)
        for account_id, total in _fetch(
            "SELECT account_id, SUM(credits_posted_minor) FROM ledger_accountshard"
            " GROUP BY account_id"
        )
    }
    problems = []
    stored = Account.objects.order_by("pk").values_list(
        "pk",
        "public_id",
        "debits_posted_minor",
        "credits_posted_minor",
        "debits_pending_minor",
        "credits_pending_minor",
    )
    for pk, public_id, *totals in stored.iterator(chunk_size=2_000):
        totals[1] += in_shards.get(pk, 0)
        sums = expected.get(pk, (0, 0, 0, 0))
        if tuple(totals) != sums:
            problems.append(
                f"ledger account {public_id}: stored totals {'/'.join(map(str, totals))}"
                f" differ from the sums of its transfers {'/'.join(map(str, sums))}"
            )
            if len(problems) >= PROBLEMS_MAX:
                break
    return problems


def _shard_problems() -> list[str]:
    rows = _fetch(
        "SELECT a.public_id FROM ledger_account a"
        " LEFT JOIN ledger_accountshard s ON s.account_id = a.id"
        " WHERE a.credit_shards > 0 OR s.id IS NOT NULL"
        " GROUP BY a.id, a.public_id, a.credit_shards"
        " HAVING COUNT(s.id) <> a.credit_shards"
        " OR SUM(CASE WHEN s.status <> a.status OR s.shard >= a.credit_shards THEN 1 ELSE 0 END)"
        " > 0 ORDER BY a.id"
    )
    return [
        f"ledger account {public_id}: its shard rows differ from its credit shards or its status"
        for (public_id,) in rows[:PROBLEMS_MAX]
    ]


def _shape_problems() -> list[str]:
    rows = _fetch(_TRANSFER_SHAPE_SQL)
    return [
        f"ledger transfer {public_id} does not match its accounts or the transfer it resolves or"
        " reverses"
        for (public_id,) in rows[:PROBLEMS_MAX]
    ]


def _limit_problems() -> list[str]:
    rows = _fetch(
        "SELECT a.public_id FROM ledger_account a LEFT JOIN (SELECT account_id,"
        " SUM(credits_posted_minor) AS credits FROM ledger_accountshard GROUP BY account_id) s"
        " ON s.account_id = a.id WHERE (a.debits_must_not_exceed_credits"
        " AND a.debits_posted_minor + a.debits_pending_minor"
        " > a.credits_posted_minor + COALESCE(s.credits, 0) + a.overdraft_limit_minor)"
        " OR (a.credits_must_not_exceed_debits"
        " AND a.credits_posted_minor + COALESCE(s.credits, 0) + a.credits_pending_minor"
        " > a.debits_posted_minor + a.overdraft_limit_minor) ORDER BY a.id"
    )
    return [
        f"ledger account {public_id} breaks its balance limit"
        for (public_id,) in rows[:PROBLEMS_MAX]
    ]


# ------------------------------------------------------------------ tamper evidence

_CREATED_AT: Final = operator.itemgetter(0)
_CHUNK: Final = 2_000


def contents_problems() -> list[str]:
    """Every batch of transfers whose rows no longer add up to the ``contents_digest`` of its
    audit record, as one sentence each (at most ``PROBLEMS_MAX``).

    A batch's rows are found by their ``created_at`` and client (its audit record's target
    transfer gives both); batches of one client written in the same microsecond are checked
    together against the sum of their records' digests (``contents.py``). Names a transfer
    edited, added or removed after it was written, an audit record whose target transfer is
    gone, and transfers that no batch's audit record covers. Audit records written before
    the digest existed (no ``contents_digest``) are skipped, with the rows of their batches.
    """
    problems = [
        f"ledger audit record {_record_name(lane, sequence)}: its batch's first transfer"
        f" {target} is missing"
        for lane, sequence, target in AuditRecord.objects.filter(action=contents.BATCH_ACTION)
        .exclude(Exists(_first_transfer()))
        .order_by("id")
        .values_list("lane", "sequence", "target")[:PROBLEMS_MAX]
    ]
    records = itertools.groupby(_records_in_time_order(), key=_CREATED_AT)
    rows = itertools.groupby(_rows_in_time_order(), key=_CREATED_AT)
    record_group, row_group = next(records, None), next(rows, None)
    # Both in time order: one instant's records and rows at a time.
    while (record_group is not None or row_group is not None) and len(problems) < PROBLEMS_MAX:
        moment = min(group[0] for group in (record_group, row_group) if group is not None)
        its_records: list[tuple[Any, ...]] = []
        its_rows: list[tuple[Any, ...]] = []
        if record_group is not None and record_group[0] == moment:
            its_records = list(record_group[1])
            record_group = next(records, None)
        if row_group is not None and row_group[0] == moment:
            its_rows = list(row_group[1])
            row_group = next(rows, None)
        problems += _moment_problems(its_records, its_rows)
    return problems[:PROBLEMS_MAX]


def _first_transfer() -> QuerySet[Transfer]:
    """The transfer an audit record of a batch names as its target (the batch's first)."""
    return Transfer.objects.filter(public_id=OuterRef("target"))


def _records_in_time_order() -> Iterator[tuple[Any, ...]]:
    """The batches' audit records with their first transfer's ``created_at`` and client."""
    first = _first_transfer()
    return (
        AuditRecord.objects.filter(Exists(first), action=contents.BATCH_ACTION)
        .annotate(
            batch_created_at=Subquery(first.values("created_at")[:1]),
            batch_client=Subquery(first.values("client")[:1]),
        )
        .order_by("batch_created_at", "lane", "sequence")
        .values_list("batch_created_at", "batch_client", "lane", "sequence", "target", "details")
        .iterator(chunk_size=_CHUNK)
    )


def _rows_in_time_order() -> Iterator[tuple[Any, ...]]:
    """Every transfer's ``created_at``, client and then its fields in ``transfer_line``'s
    order (accounts and references by public id)."""
    return (
        Transfer.objects.order_by("created_at", "pk")
        .values_list(
            "created_at",
            "client",
            "public_id",
            "key",
            "request_digest",
            "kind",
            "debit_account__public_id",
            "credit_account__public_id",
            "amount_minor",
            "currency",
            "code",
            "reference",
            "metadata",
            "value_date",
            "pending__public_id",
            "reverses__public_id",
            "expires_at",
        )
        .iterator(chunk_size=_CHUNK)
    )


def _moment_problems(records: list[tuple[Any, ...]], rows: list[tuple[Any, ...]]) -> list[str]:
    """The problems of the batches written at one instant: per client, the records' digests
    against the rows'."""
    by_client: dict[str, tuple[list[tuple[Any, ...]], list[tuple[Any, ...]]]] = {}
    for record in records:
        by_client.setdefault(record[1], ([], []))[0].append(record)
    for row in rows:
        by_client.setdefault(row[1], ([], []))[1].append(row)
    problems = []
    for client, (its_records, its_rows) in sorted(by_client.items()):
        digests = [_stored_digest(record[5]) for record in its_records]
        if not its_records:
            problems.append(
                f"ledger transfer {its_rows[0][2]} is in no batch's audit record ({len(its_rows)}"
                f" transfers of client {client!r} written at"
                f" {its_rows[0][0].isoformat()})"
            )
        elif all(digest is not None for digest in digests) and contents.digest_lines(
            map(_line, its_rows), client=client, created_at=its_records[0][0]
        ) != contents.digest_sum(digests):
            names = ", ".join(
                f"{record[4]} (audit record {_record_name(record[2], record[3])})"
                for record in its_records
            )
            problems.append(
                f"ledger transfer batch {names}: its transfers differ from what its audit record"
                " sealed (a transfer was changed, added or removed)"
            )
        # Else a record without a digest: written before there was one; skipped.
    return problems


def _stored_digest(details: Any) -> int | None:
    return (
        contents.parse_digest(details.get(contents.DETAILS_KEY))
        if isinstance(details, dict)
        else None
    )


def _line(row: tuple[Any, ...]) -> bytes:
    """``contents.transfer_line`` of a row of ``_rows_in_time_order``: public id to amount and
    texts as stored (2 to 11), then metadata, value date, references and expiry converted."""
    metadata, value_date, pending, reverses, expires_at = row[12:]
    return contents.transfer_line(
        *cast("tuple[str, str, str, str, str, str, int, str, str, str]", row[2:12]),
        contents.metadata_text(metadata),
        value_date.isoformat(),
        pending or "",
        reverses or "",
        contents.instant_text(expires_at),
    )


def _record_name(lane: int, sequence: int) -> str:
    # As ``bankmall audit verify`` names records: lane 1 plainly.
    return f"#{sequence}" if lane == 1 else f"#{lane}.{sequence}"
