"""Real parallel writers on PostgreSQL: hot accounts (with and without credit shards),
idempotent retries, racing resolutions, and group commit through ``submit_transfers``; and
idempotent retries on SQLite's file database, through its own write path and batch queue."""

from __future__ import annotations

import contextlib
import random
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from django.db import connection

from bankmall.core.audit import verify_chain
from bankmall.core.errors import BankmallError
from bankmall.core.models import AuditChainHead, AuditRecord
from bankmall.ledger import coalescing, fastpath, queries, sqlitepath
from bankmall.ledger.actions import (
    AccountSpec,
    TransferRequest,
    create_accounts,
    create_transfers,
    freeze_account,
    submit_transfers,
)
from bankmall.ledger.models import AccountShard, Transfer
from tests.ledger.conftest import cny, open_account, transfer

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]

WRITERS = 8


@pytest.fixture(autouse=True)
def _chain_head() -> Iterator[None]:
    # A transactional test starts from an empty database; create the audit chain head once,
    # as the migration does, instead of letting the first eight writers race to recreate it.
    AuditChainHead.objects.get_or_create(pk=1, defaults={"sequence": 0, "record_hash": ""})
    yield
    coalescing.stop_writer()


def _in_parallel(work: Callable[[int], Any], count: int = WRITERS) -> list[Any]:
    """Run ``work(n)`` in ``count`` threads started together; return results or exceptions."""
    barrier = threading.Barrier(count)
    results: list[Any] = [None] * count

    def run(n: int) -> None:
        barrier.wait()
        try:
            results[n] = work(n)
        except Exception as error:  # noqa: BLE001  (the test inspects every outcome)
            results[n] = error
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=(n,)) for n in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    return results


def test_parallel_writers_on_hot_accounts_lose_no_update_and_break_no_limit(
    requires_postgres: None,
) -> None:
    bank = open_account("equity:bank", kind="equity", no_overdraft=False)
    customers = [open_account(f"liability:customer:{n}") for n in range(3)]
    merchant = open_account("liability:merchant:hot")
    for customer in customers:
        transfer(bank.id, customer.id, 5_000)

    def work(n: int) -> tuple[int, set[str]]:
        rng = random.Random(n)
        succeeded, refusals = 0, set()
        for step in range(40):
            debit = rng.choice(customers).id
            credit = merchant.id if rng.random() < 0.8 else rng.choice(customers).id
            if debit == credit:
                continue
            try:
                transfer(debit, credit, rng.randint(50, 400), key=f"w{n}-{step}")
            except BankmallError as error:
                refusals.add(error.code)
            else:
                succeeded += 1
        return succeeded, refusals

    outcomes = _in_parallel(work)

    assert all(isinstance(outcome, tuple) for outcome in outcomes), outcomes
    assert set().union(*(refusals for _, refusals in outcomes)) <= {"insufficient_funds"}
    assert Transfer.objects.count() == 3 + sum(ok for ok, _ in outcomes)
    assert queries.invariant_problems() == []
    total = sum(queries.balance(c.id).posted.amount_minor for c in customers)
    assert total + queries.balance(merchant.id).posted.amount_minor == 15_000
    assert all(queries.balance(c.id).posted.amount_minor >= 0 for c in customers)


def test_parallel_credits_to_a_sharded_account_lose_no_update(requires_postgres: None) -> None:
    bank = open_account("equity:bank", kind="equity", no_overdraft=False)
    (merchant,) = create_accounts(
        [
            AccountSpec(
                code="liability:merchant:hot",
                currency="CNY",
                kind="liability",
                debits_must_not_exceed_credits=True,
                credit_shards=8,
            )
        ]
    )
    customers = [open_account(f"liability:customer:{n}", no_overdraft=False) for n in range(4)]

    def work(n: int) -> tuple[int, int, set[str]]:
        # Credits one at a time (the one-transfer statement), in batches (the batch statement)
        # and group-committed; debits of the merchant checked against its shards' credits.
        rng = random.Random(n)
        credited, debited, refusals = 0, 0, set()
        for step in range(30):
            amount = rng.randint(1, 300)
            key = f"w{n}-{step}"
            try:
                if step % 5 == 4:
                    transfer(merchant.id, rng.choice(customers).id, amount, key=key)
                    debited += amount
                    continue
                if step % 5 == 3:
                    requests = [
                        TransferRequest(
                            key=f"{key}-{i}",
                            debit_account=bank.id,
                            credit_account=merchant.id,
                            amount=cny(amount),
                        )
                        for i in range(3)
                    ]
                    (create_transfers if n % 2 else submit_transfers)(requests, client="test")
                    credited += 3 * amount
                    continue
                transfer(bank.id, merchant.id, amount, key=key)
                credited += amount
            except BankmallError as error:
                refusals.add(error.code)
        return credited, debited, refusals

    outcomes = _in_parallel(work)

    assert all(isinstance(outcome, tuple) for outcome in outcomes), outcomes
    assert set().union(*(refusals for _, _, refusals in outcomes)) <= {"insufficient_funds"}
    credited = sum(amount for amount, _, _ in outcomes)
    debited = sum(amount for _, amount, _ in outcomes)
    view = queries.get_account(merchant.id)
    assert (view.credits_posted.amount_minor, view.debits_posted.amount_minor) == (
        credited,
        debited,
    )
    assert queries.balance(bank.id).posted.amount_minor == -credited
    shards = AccountShard.objects.filter(account__public_id=merchant.id, credits_posted_minor__gt=0)
    assert shards.count() > 1, "the writers all credited one shard"
    assert queries.invariant_problems() == []

    freeze_account(merchant.id, reason="end of test")
    refused = _in_parallel(lambda n: transfer(bank.id, merchant.id, 1, key=f"late{n}"))
    assert {getattr(outcome, "code", None) for outcome in refused} == {"account_frozen"}
    assert queries.get_account(merchant.id).credits_posted.amount_minor == credited
    assert queries.invariant_problems() == []


def test_concurrent_batches_over_the_same_accounts_in_any_order_do_not_deadlock(
    requires_postgres: None,
) -> None:
    bank = open_account("equity:bank", kind="equity", no_overdraft=False)
    accounts = [open_account(f"liability:customer:{n}", no_overdraft=False) for n in range(6)]

    def work(n: int) -> int:
        ordered = accounts if n % 2 else list(reversed(accounts))
        for round_number in range(10):
            create_transfers(
                [
                    TransferRequest(
                        key=f"b{n}-{round_number}-{i}",
                        debit_account=bank.id,
                        credit_account=account.id,
                        amount=cny(1),
                    )
                    for i, account in enumerate(ordered)
                ],
                client="test",
            )
        return 10 * len(ordered)

    outcomes = _in_parallel(work)

    assert outcomes == [60] * WRITERS
    assert queries.balance(bank.id).posted.amount_minor == -60 * WRITERS
    assert queries.invariant_problems() == []


def _deadlocks() -> int:
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_stat_clear_snapshot()")
        cursor.execute("SELECT deadlocks FROM pg_stat_database WHERE datname = current_database()")
        (count,) = cursor.fetchone()
    return int(count)


def test_opposite_single_transfers_in_parallel_never_deadlock(requires_postgres: None) -> None:
    # One transfer per call takes the one-statement path, whose update locks both accounts in
    # primary-key order by its own index scan; half the writers go one way, half the other.
    left = open_account("liability:customer:left", no_overdraft=False)
    right = open_account("liability:customer:right", no_overdraft=False)
    before = _deadlocks()

    def work(n: int) -> int:
        debit, credit = (left, right) if n % 2 else (right, left)
        for round_number in range(25):
            transfer(debit.id, credit.id, 1 + n, key=f"o{n}-{round_number}")
        return 25

    outcomes = _in_parallel(work)

    assert outcomes == [25] * WRITERS
    # The deadlock detector's victims are counted when their backends report (at the latest
    # when they exit, as _in_parallel's connections have).
    deadline = time.monotonic() + 3
    while _deadlocks() == before and time.monotonic() < deadline:
        time.sleep(0.2)
    assert _deadlocks() == before
    # Left is debited by the odd writers (1 + n each) and credited by the even ones.
    odd, even = range(1, WRITERS, 2), range(0, WRITERS, 2)
    moved = 25 * (sum(1 + n for n in even) - sum(1 + n for n in odd))
    assert queries.balance(left.id).posted.amount_minor == moved
    assert queries.invariant_problems() == []


def test_the_same_request_sent_concurrently_posts_once(requires_postgres: None) -> None:
    bank = open_account("equity:bank", kind="equity", no_overdraft=False)
    alice = open_account("liability:customer:alice")
    request = TransferRequest(
        key="retry-storm", debit_account=bank.id, credit_account=alice.id, amount=cny(700)
    )

    outcomes = _in_parallel(lambda n: create_transfers([request], client="payments"))

    assert {outcome[0].id for outcome in outcomes} == {Transfer.objects.get().public_id}
    assert queries.balance(alice.id).posted.amount_minor == 700
    assert queries.invariant_problems() == []


def test_racing_post_and_void_resolve_a_hold_exactly_once(requires_postgres: None) -> None:
    bank = open_account("equity:bank", kind="equity", no_overdraft=False)
    alice = open_account("liability:customer:alice")
    bob = open_account("liability:customer:bob")
    transfer(bank.id, alice.id, 1_000)
    hold = transfer(alice.id, bob.id, 600, pending=True)

    def work(n: int) -> str:
        shape = {"post_pending": hold.id} if n % 2 else {"void_pending": hold.id}
        create_transfers([TransferRequest(key=f"r{n}", **shape)], client="test")
        return "ok"

    outcomes = _in_parallel(work)

    assert outcomes.count("ok") == 1
    codes = {error.code for error in outcomes if isinstance(error, BankmallError)}
    assert codes <= {"pending_transfer_already_posted", "pending_transfer_already_voided"}
    assert len([o for o in outcomes if isinstance(o, BankmallError)]) == WRITERS - 1
    assert Transfer.objects.filter(pending__public_id=hold.id).count() == 1
    assert queries.invariant_problems() == []


def test_group_commit_gives_each_caller_its_own_result_or_error(requires_postgres: None) -> None:
    bank = open_account("equity:bank", kind="equity", no_overdraft=False)
    poor = open_account("liability:customer:poor")
    merchant = open_account("liability:merchant:m")

    def work(n: int) -> list[Any]:
        debit = poor.id if n == 0 else bank.id
        requests = [
            TransferRequest(
                key=f"g{n}-{i}", debit_account=debit, credit_account=merchant.id, amount=cny(10)
            )
            for i in range(3)
        ]
        return submit_transfers(requests, client="test")

    outcomes = _in_parallel(work)

    assert isinstance(outcomes[0], BankmallError)
    assert outcomes[0].code == "insufficient_funds"
    assert outcomes[0].extra["transfer_index"] == 0
    assert all(len(outcome) == 3 for outcome in outcomes[1:])
    assert queries.balance(merchant.id).posted.amount_minor == 10 * 3 * (WRITERS - 1)
    assert queries.balance(poor.id).posted.amount_minor == 0
    assert queries.invariant_problems() == []


@pytest.fixture
def requires_sqlite() -> None:
    if connection.vendor != "sqlite":
        pytest.skip("SQLite's own write path: runs without DATABASE_URL (on a database file)")


def _results_of(monkeypatch: pytest.MonkeyPatch, module: Any, name: str) -> list[Any]:
    """What every call of ``module.name`` returns from now on, from any thread."""
    results: list[Any] = []
    original = getattr(module, name)

    def recording(*args: Any, **kwargs: Any) -> Any:
        result = original(*args, **kwargs)
        results.append(result)
        return result

    monkeypatch.setattr(module, name, recording)
    return results


def _transfers_created() -> tuple[int, int]:
    """(events, audit records) of created transfers so far."""
    return (
        AuditRecord.objects.filter(
            action="ledger.transfers_created", details__event__type="ledger.transfers_created"
        ).count(),
        AuditRecord.objects.filter(action="ledger.transfers_created").count(),
    )


def test_the_same_request_sent_concurrently_on_sqlite_posts_once(
    requires_sqlite: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Every writer tries sqlitepath's own write; the first to take SQLite's write lock
    # commits, every other one meets the existing key and replays it.
    bank = open_account("equity:bank", kind="equity", no_overdraft=False)
    alice = open_account("liability:customer:alice")
    request = TransferRequest(
        key="retry-storm", debit_account=bank.id, credit_account=alice.id, amount=cny(700)
    )
    events, records = _transfers_created()
    tried = _results_of(monkeypatch, sqlitepath, "try_post")

    outcomes = _in_parallel(lambda n: create_transfers([request], client="payments"))

    assert all(isinstance(outcome, list) for outcome in outcomes), outcomes
    stored = Transfer.objects.get(client="payments")
    assert [[view.id for view in outcome] for outcome in outcomes] == [[stored.public_id]] * WRITERS
    assert (len(tried), tried.count(True)) == (WRITERS, 1)
    assert queries.balance(alice.id).posted.amount_minor == 700
    assert queries.balance(bank.id).posted.amount_minor == -700
    assert _transfers_created() == (events + 1, records + 1)
    assert queries.invariant_problems() == []
    report = verify_chain()
    assert report.is_intact, report.problems


def _send_one_batch_from_every_writer(writers: int) -> tuple[list[Any], dict[str, int]]:
    """``writers`` threads send the same batch of ``2 * QUEUED_BATCH_MIN`` transfers (the same
    client and keys) at once; their outcomes, and each account's expected posted balance."""
    bank = open_account("equity:bank", kind="equity", no_overdraft=False)
    customers = [open_account(f"liability:customer:{n}").id for n in range(5)]
    requests = [
        TransferRequest(
            key=f"storm-{n}",
            debit_account=bank.id,
            credit_account=customers[n % len(customers)],
            amount=cny(1 + n % 7),
        )
        for n in range(2 * sqlitepath.QUEUED_BATCH_MIN)
    ]
    expected = dict.fromkeys([bank.id, *customers], 0)
    for request in requests:
        expected[request.debit_account] -= request.amount.amount_minor
        expected[request.credit_account] += request.amount.amount_minor

    outcomes = _in_parallel(lambda n: create_transfers(requests, client="payments"), writers)

    return outcomes, expected


def _posted_once(outcomes: list[Any], expected: dict[str, int]) -> None:
    assert all(isinstance(outcome, list) for outcome in outcomes), outcomes
    stored = Transfer.objects.filter(client="payments").order_by("pk")
    ids = [transfer.public_id for transfer in stored]
    assert len(ids) == 2 * sqlitepath.QUEUED_BATCH_MIN
    assert [[view.id for view in outcome] for outcome in outcomes] == [ids] * len(outcomes)
    assert {ref: queries.balance(ref).posted.amount_minor for ref in expected} == expected
    assert queries.invariant_problems() == []
    report = verify_chain()
    assert report.is_intact, report.problems


def test_the_same_batch_sent_concurrently_on_sqlite_posts_once_through_the_queue(
    requires_sqlite: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    # 200 transfers: each writer's try waits for its turn in the batch queue; the first
    # commits, every other one meets the existing keys and replays the batch.
    tried = _results_of(monkeypatch, sqlitepath, "try_post")
    turns: list[int] = []
    batch_turn = sqlitepath._batch_turn

    @contextlib.contextmanager
    def counted_turn(database: Any) -> Iterator[None]:
        with batch_turn(database):
            turns.append(threading.get_ident())
            yield

    monkeypatch.setattr(sqlitepath, "_batch_turn", counted_turn)
    events, records = _transfers_created()

    outcomes, expected = _send_one_batch_from_every_writer(6)

    _posted_once(outcomes, expected)
    assert (len(tried), tried.count(True)) == (6, 1)
    assert len(set(turns)) == 6
    assert _transfers_created() == (events + 1, records + 1)


def test_the_same_batch_sent_concurrently_posts_once(
    requires_postgres: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Every writer sends fastpath's one statement; the first commits, the others abort on
    # the existing keys and replay the batch through the transactional path.
    tried = _results_of(monkeypatch, fastpath, "try_post")
    events, records = _transfers_created()

    outcomes, expected = _send_one_batch_from_every_writer(6)

    _posted_once(outcomes, expected)
    assert (len(tried), tried.count(True)) == (6, 1)
    assert _transfers_created() == (events + 1, records + 1)
