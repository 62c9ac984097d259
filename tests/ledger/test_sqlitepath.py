"""SQLite's own write path: it commits plain batches with only cached statements under the
write lock, and for everything else it writes nothing and leaves the error to the
transactional path — the same codes, nothing changed."""

from __future__ import annotations

import datetime as dt
import fcntl
import os
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from django.db import connection, transaction
from django.utils import timezone

from bankmall.core.audit import verify_chain
from bankmall.core.errors import BankmallError
from bankmall.core.models import AuditRecord
from bankmall.core.relay import pending_count, waiting_events
from bankmall.ledger import coalescing, queries, sqlitepath
from bankmall.ledger.actions import (
    TransferRequest,
    create_transfers,
)
from bankmall.ledger.committing import set_expiry
from bankmall.ledger.models import Account, Transfer
from tests.ledger.conftest import (
    BROKEN_PRECONDITIONS,
    broken_batch,
    movement,
    open_account,
    prepared_rows,
    snapshot,
    three_accounts,
    transfer,
)
from tests.ledger.test_shards import sharded_account

pytestmark = [pytest.mark.django_db(transaction=True)]


@pytest.fixture(autouse=True)
def _sqlite() -> Iterator[None]:
    if connection.vendor != "sqlite":
        pytest.skip("SQLite's own write path")
    yield
    coalescing.stop_writer()


@pytest.fixture
def funded() -> dict[str, str]:
    return three_accounts()


_rows = prepared_rows
_request = movement


def _traced(work: Any) -> list[str]:
    """The statements ``work`` runs on this connection, as SQLite starts them."""
    connection.ensure_connection()
    statements: list[str] = []
    connection.connection.set_trace_callback(statements.append)
    try:
        work()
    finally:
        connection.connection.set_trace_callback(None)
    return statements


def test_a_plain_batch_commits_with_its_event_and_audit_record(funded: dict[str, str]) -> None:
    rows = _rows(
        _request(funded["alice"], funded["bob"], 300, "a"),
        _request(funded["alice"], funded["bob"], 200, "b", pending=True, timeout_seconds=60),
    )
    assert sqlitepath.applies(rows)
    events, records = pending_count(), AuditRecord.objects.count()
    now = timezone.now()
    set_expiry(rows, now)  # as commit_rows does

    assert sqlitepath.try_post(rows, client="test", actor="tester", now=now)

    stored = {t.key: t for t in Transfer.objects.filter(client="test", key__in=["a", "b"])}
    assert (stored["a"].amount_minor, stored["a"].kind) == (300, "single")
    assert (stored["b"].amount_minor, stored["b"].kind) == (200, "pending")
    assert stored["b"].expires_at is not None
    alice, bob = (Account.objects.get(public_id=funded[name]) for name in ("alice", "bob"))
    assert (alice.debits_posted_minor, alice.debits_pending_minor) == (300, 200)
    assert (bob.credits_posted_minor, bob.credits_pending_minor) == (300, 200)
    assert pending_count() == events + 1
    assert AuditRecord.objects.count() == records + 1
    record = AuditRecord.objects.order_by("-id").first()
    assert record is not None
    assert (record.actor, record.action, record.target) == (
        "tester",
        "ledger.transfers_created",
        rows[0].public_id,
    )
    assert verify_chain().is_intact


def test_a_batch_runs_a_fixed_set_of_statements_and_only_those_inside_the_lock(
    funded: dict[str, str],
) -> None:
    # 1,234 transfers between 2 accounts this process knows: nothing before the lock; inside
    # it one UPDATE per account (each checks its account), inserts of 1,000 + 2 × 100 +
    # 3 × 10 + 4 × 1 rows, the audit head read, record (announcing the event) and head move,
    # COMMIT: no outbox row.
    # Every statement text is one of a fixed few, so sqlite3 keeps them compiled.
    transfer(funded["bank"], funded["alice"], 1_000_000, key="more")
    transfer(funded["alice"], funded["bob"], 1, key="seen")
    requests = [_request(funded["alice"], funded["bob"], 1, f"n{n}") for n in range(1_234)]

    statements = _traced(lambda: create_transfers(requests, client="test"))

    kinds = [" ".join(statement.split()[:3]) for statement in statements]
    assert kinds == [
        "BEGIN IMMEDIATE",
        "UPDATE ledger_account SET",
        "UPDATE ledger_account SET",
        *["INSERT INTO ledger_transfer"] * (1 + 2 + 3 + 4),
        "SELECT sequence, record_hash",
        "INSERT INTO core_auditrecord",
        "UPDATE core_auditchainhead SET",
        "COMMIT",
    ]
    assert Transfer.objects.filter(client="test", key__startswith="n").count() == 1_234
    bob = Account.objects.get(public_id=funded["bob"])
    assert bob.credits_posted_minor == 1_235
    assert verify_chain().is_intact


def test_unknown_accounts_are_read_before_the_lock_and_a_stale_one_is_refused(
    funded: dict[str, str],
) -> None:
    sqlitepath._known.clear()  # As in a new process.
    rows = _rows(_request(funded["alice"], funded["bob"], 5, "first"))

    statements = _traced(
        lambda: sqlitepath.try_post(rows, client="test", actor=None, now=timezone.now())
    )

    assert statements[0].startswith("SELECT a.public_id, a.id,")
    assert statements[1] == "BEGIN IMMEDIATE"
    # As if the database had been replaced under the process: the id now names another account.
    sqlitepath._known[funded["bob"]] = sqlitepath._known[funded["alice"]]
    before = snapshot()

    stale = _rows(_request(funded["alice"], funded["bob"], 7, "second"))
    assert not sqlitepath.try_post(stale, client="test", actor=None, now=timezone.now())

    assert snapshot() == before
    assert sqlitepath._known == {}
    transfer(funded["alice"], funded["bob"], 7, key="second")
    alice, bob = (Account.objects.get(public_id=funded[name]) for name in ("alice", "bob"))
    assert (alice.debits_posted_minor, alice.credits_posted_minor) == (12, 10_000)
    assert (bob.debits_posted_minor, bob.credits_posted_minor) == (0, 12)


@pytest.mark.parametrize("pending", [False, True])
def test_one_transfer_moves_the_right_totals(funded: dict[str, str], pending: bool) -> None:
    rows = _rows(
        _request(
            funded["alice"], funded["bob"], 700, "one", pending=pending, code="c", reference="r"
        )
    )

    assert sqlitepath.try_post(rows, client="test", actor="tester", now=timezone.now())

    alice, bob = (Account.objects.get(public_id=funded[name]) for name in ("alice", "bob"))
    moved = (alice.debits_pending_minor, bob.credits_pending_minor)
    posted = (alice.debits_posted_minor, bob.credits_posted_minor)
    assert (moved, posted) == (((700, 700), (0, 0)) if pending else ((0, 0), (700, 700)))
    stored = Transfer.objects.get(client="test", key="one")
    assert (stored.kind, stored.code, stored.reference, stored.currency, stored.metadata) == (
        "pending" if pending else "single",
        "c",
        "r",
        "CNY",
        {},
    )
    assert stored.value_date == timezone.now().date()
    assert verify_chain().is_intact


def test_inside_a_transaction_or_with_references_the_path_does_not_apply(
    funded: dict[str, str],
) -> None:
    plain = _rows(_request(funded["alice"], funded["bob"], 1, "x"))
    with transaction.atomic():
        assert not sqlitepath.applies(plain)
    transaction.set_autocommit(False)
    try:
        assert not sqlitepath.applies(plain)
    finally:
        transaction.set_autocommit(True)
    pending = transfer(funded["alice"], funded["bob"], 5, pending=True)
    assert not sqlitepath.applies(_rows(TransferRequest(key="p", post_pending=pending.id)))
    assert not sqlitepath.applies(_rows(_request("liability:alice", funded["bob"], 1, "c")))


@pytest.mark.parametrize(("case", "code"), BROKEN_PRECONDITIONS)
def test_every_broken_precondition_writes_nothing_and_names_the_same_error(
    funded: dict[str, str], case: str, code: str
) -> None:
    requests = broken_batch(funded, case)
    before = snapshot()

    assert not sqlitepath.try_post(_rows(*requests), client="test", actor=None, now=timezone.now())
    assert snapshot() == before
    with pytest.raises(BankmallError) as raised:
        create_transfers(requests, client="test")

    assert raised.value.code == code
    assert raised.value.extra["transfer_index"] == 1
    assert snapshot() == before
    assert verify_chain().is_intact


def test_a_batch_with_one_existing_key_replays_it_and_posts_the_rest(
    funded: dict[str, str],
) -> None:
    first = transfer(funded["alice"], funded["bob"], 250, key="retry")
    requests = [
        _request(funded["alice"], funded["bob"], 250, "retry"),
        _request(funded["alice"], funded["bob"], 50, "new"),
    ]
    assert not sqlitepath.try_post(_rows(*requests), client="test", actor=None, now=timezone.now())

    again, new = create_transfers(requests, client="test")

    assert again.id == first.id
    assert Transfer.objects.get(client="test", key="new").public_id == new.id
    assert Account.objects.get(public_id=funded["bob"]).credits_posted_minor == 300


def test_concurrent_writers_queue_on_the_write_lock_and_keep_the_chain_gap_free(
    funded: dict[str, str],
) -> None:
    def work(n: int) -> None:
        try:
            for k in range(10):
                transfer(funded["bank"], funded["bob"], 1, key=f"together:{n}:{k}")
        finally:
            connection.close()

    with ThreadPoolExecutor(max_workers=4) as pool:
        list(pool.map(work, range(4)))  # Re-raises the first error, if any.

    assert Transfer.objects.filter(key__startswith="together:").count() == 40
    assert Account.objects.get(public_id=funded["bob"]).credits_posted_minor == 40
    report = verify_chain()
    assert report.is_intact, report.problems


def test_a_credit_beyond_the_limit_writes_nothing_and_keeps_the_known_accounts(
    funded: dict[str, str],
) -> None:
    # The account's own UPDATE checks its limit flag: refused, it changes no row; the accounts
    # are still the remembered ones, so the process keeps them.
    limited = open_account(
        "asset:limited",
        kind="asset",
        no_overdraft=False,
        credit_limited=True,
        overdraft_limit_minor=50,
    )
    requests = [
        _request(funded["alice"], funded["bob"], 1, "ok"),
        _request(funded["alice"], limited.id, 51, "over"),
    ]
    sqlitepath.try_post(_rows(requests[0]), client="warm", actor=None, now=timezone.now())
    before = snapshot()

    assert not sqlitepath.try_post(_rows(*requests), client="test", actor=None, now=timezone.now())

    assert snapshot() == before
    assert {funded["alice"], funded["bob"], limited.id} <= set(sqlitepath._known)
    with pytest.raises(BankmallError) as raised:
        create_transfers(requests, client="test")
    assert (raised.value.code, raised.value.extra["transfer_index"]) == ("credit_limit_exceeded", 1)
    assert snapshot() == before


def test_a_wrongly_remembered_shard_credited_account_writes_nothing_and_is_looked_up_again(
    funded: dict[str, str],
) -> None:
    # Only credited, the merchant takes its credits on shard 0: that statement checks the
    # account's public id too; a stale id changes nothing and the process forgets its accounts.
    merchant = sharded_account("liability:merchant", no_overdraft=True).id
    other = sharded_account("liability:merchant:other", no_overdraft=True).id
    transfer(funded["alice"], merchant, 10, key="learn")
    sqlitepath.try_post(
        _rows(_request(funded["alice"], other, 1, "learn-other")),
        client="test",
        actor=None,
        now=timezone.now(),
    )
    sqlitepath._known[merchant] = sqlitepath._known[other]
    requests = [_request(funded["alice"], merchant, 20, "wrong")]
    before = snapshot()

    assert not sqlitepath.try_post(_rows(*requests), client="test", actor=None, now=timezone.now())

    assert snapshot() == before
    assert sqlitepath._known == {}
    create_transfers(requests, client="test")
    assert queries.get_account(merchant).credits_posted.amount_minor == 30
    assert queries.get_account(other).credits_posted.amount_minor == 1
    assert queries.invariant_problems() == []


def test_a_shard_credit_to_an_account_past_its_limit_writes_nothing(
    funded: dict[str, str],
) -> None:
    # As before this path's check moved into its statements: every account of the batch is
    # checked, also one that is only credited through its shard.
    merchant = sharded_account("liability:merchant", no_overdraft=True).id
    transfer(funded["alice"], merchant, 10, key="learn")
    with connection.cursor() as cursor:  # Tampering: past the limit without a transfer.
        cursor.execute(
            "UPDATE ledger_account SET debits_posted_minor = 11 WHERE public_id = %s", [merchant]
        )
    before = snapshot()

    rows = _rows(_request(funded["alice"], merchant, 5, "more"))
    assert not sqlitepath.try_post(rows, client="test", actor=None, now=timezone.now())

    assert snapshot() == before
    assert merchant in sqlitepath._known


@pytest.mark.parametrize("count", [1, 2])
def test_the_audit_record_and_its_event_are_dated_as_the_transfers(
    funded: dict[str, str], count: int
) -> None:
    rows = _rows(
        *(
            _request(funded["alice"], funded["bob"], 5, f"k{n}", pending=True, timeout_seconds=60)
            for n in range(count)
        )
    )
    now = timezone.now()
    set_expiry(rows, now)  # as commit_rows does

    assert sqlitepath.try_post(rows, client="test", actor="tester", now=now)

    transfers = Transfer.objects.filter(client="test", key__startswith="k")
    event = waiting_events(limit=500)[-1]
    record = AuditRecord.objects.order_by("-id").first()
    assert record is not None
    assert event.payload["transfer_ids"] == [row.public_id for row in rows]
    assert {(t.created_at, t.expires_at) for t in transfers} == {
        (now, now + dt.timedelta(seconds=60))
    }
    assert (event.created_at, record.occurred_at) == (now, now)
    assert verify_chain().is_intact


def _batch_in_thread(requests: list[TransferRequest]) -> None:
    try:
        create_transfers(requests, client="test")
    finally:
        connection.close()


def test_a_batch_waits_for_its_turn_in_the_queue_and_a_single_transfer_does_not(
    funded: dict[str, str],
) -> None:
    transfer(funded["bank"], funded["alice"], 1_000_000, key="more")
    # Another writer's batch holds its turn: the queue's lock file, locked through an open
    # file of its own (as another process would).
    holder = os.open(f"{connection.settings_dict['NAME']}-batches.lock", os.O_RDWR | os.O_CREAT)
    try:
        fcntl.flock(holder, fcntl.LOCK_EX)
        transfer(funded["alice"], funded["bob"], 1, key="alone")  # Not queued: committed.
        batch = [
            _request(funded["alice"], funded["bob"], 1, f"queued{n}")
            for n in range(sqlitepath.QUEUED_BATCH_MIN)
        ]
        with ThreadPoolExecutor(max_workers=1) as pool:
            waiting = pool.submit(_batch_in_thread, batch)
            time.sleep(0.5)
            assert not waiting.done()
            assert not Transfer.objects.filter(key__startswith="queued").exists()
            fcntl.flock(holder, fcntl.LOCK_UN)
            waiting.result(timeout=30)
    finally:
        os.close(holder)

    assert Transfer.objects.filter(key__startswith="queued").count() == sqlitepath.QUEUED_BATCH_MIN
    assert Transfer.objects.filter(key="alone").exists()
    bob = Account.objects.get(public_id=funded["bob"])
    assert bob.credits_posted_minor == 1 + sqlitepath.QUEUED_BATCH_MIN
    assert verify_chain().is_intact


def test_concurrent_batches_take_turns_and_all_commit(funded: dict[str, str]) -> None:
    transfer(funded["bank"], funded["alice"], 1_000_000, key="more")
    batches = [
        [
            _request(funded["alice"], funded["bob"], 1, f"turn:{n}:{k}")
            for k in range(sqlitepath.QUEUED_BATCH_MIN)
        ]
        for n in range(6)
    ]

    with ThreadPoolExecutor(max_workers=3) as pool:
        list(pool.map(_batch_in_thread, batches))  # Re-raises the first error, if any.

    assert Transfer.objects.filter(key__startswith="turn:").count() == 6 * len(batches[0])
    assert Account.objects.get(public_id=funded["bob"]).credits_posted_minor == 6 * len(batches[0])
    report = verify_chain()
    assert report.is_intact, report.problems


def test_without_a_place_for_the_lock_file_batches_have_no_queue(tmp_path: Any) -> None:
    # The busy handler alone then orders writers, as for single transfers.
    read_only = tmp_path / "read-only"
    read_only.mkdir(mode=0o500)
    pid = os.getpid()
    for name in (":memory:", "file:memdb?mode=memory", str(tmp_path / "missing" / "db.sqlite3")):
        assert sqlitepath._open_queue((pid, name)) is None
    if os.geteuid() != 0:  # root may write anywhere.
        assert sqlitepath._open_queue((pid, str(read_only / "db.sqlite3"))) is None
    queue = sqlitepath._open_queue((pid, str(tmp_path / "db.sqlite3")))
    assert queue is not None
    assert (tmp_path / "db.sqlite3-batches.lock").exists()
    assert sqlitepath._open_queue((pid, str(tmp_path / "db.sqlite3"))) is queue  # Opened once.
    del sqlitepath._queues[(pid, str(tmp_path / "db.sqlite3"))]
    os.close(queue.fd)
