"""The one-statement write on PostgreSQL: it commits plain batches, and for everything else it
writes nothing and leaves the error to the transactional path — the same codes, nothing changed."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Any

import pytest
from django.db import connection, transaction
from django.utils import timezone

from bankmall.core import audit
from bankmall.core.audit import verify_chain
from bankmall.core.errors import BankmallError
from bankmall.core.models import AuditRecord, OutboxEvent
from bankmall.ledger import coalescing, fastpath
from bankmall.ledger.actions import (
    TransferRequest,
    create_transfers,
)
from bankmall.ledger.models import Account, Transfer
from tests.ledger.conftest import (
    BROKEN_PRECONDITIONS,
    broken_batch,
    movement,
    prepared_rows,
    snapshot,
    three_accounts,
    transfer,
)

pytestmark = [pytest.mark.django_db(transaction=True)]


@pytest.fixture(autouse=True)
def _postgres(requires_postgres: None) -> Iterator[None]:
    yield
    coalescing.stop_writer()


@pytest.fixture
def funded() -> dict[str, str]:
    return three_accounts()


_rows = prepared_rows
_request = movement


def test_a_plain_batch_commits_in_one_statement_with_its_event_and_audit_record(
    funded: dict[str, str],
) -> None:
    rows = _rows(
        _request(funded["alice"], funded["bob"], 300, "a"),
        _request(funded["alice"], funded["bob"], 200, "b", pending=True, timeout_seconds=60),
    )
    assert fastpath.applies(rows)
    events, records = OutboxEvent.objects.count(), AuditRecord.objects.count()

    assert fastpath.try_post(rows, client="test", actor="tester", now=timezone.now())

    stored = {t.key: t for t in Transfer.objects.filter(client="test", key__in=["a", "b"])}
    assert stored["a"].amount_minor == 300
    assert stored["b"].kind == "pending"
    assert OutboxEvent.objects.count() == events + 1
    assert AuditRecord.objects.count() == records + 1
    record = AuditRecord.objects.order_by("-id").first()
    assert record is not None
    assert record.actor == "tester"
    assert record.action == "ledger.transfers_created"
    assert verify_chain().is_intact


@pytest.mark.parametrize("pending", [False, True])
def test_one_transfer_takes_the_single_row_statement_and_moves_the_right_totals(
    funded: dict[str, str], pending: bool
) -> None:
    rows = _rows(
        _request(
            funded["alice"], funded["bob"], 700, "one", pending=pending, code="c", reference="r"
        )
    )
    events, records = OutboxEvent.objects.count(), AuditRecord.objects.count()

    assert fastpath.try_post(rows, client="test", actor="tester", now=timezone.now())

    alice, bob = (Account.objects.get(public_id=funded[name]) for name in ("alice", "bob"))
    moved = (alice.debits_pending_minor, bob.credits_pending_minor)
    posted = (alice.debits_posted_minor, bob.credits_posted_minor)
    assert (moved, posted) == (((700, 700), (0, 0)) if pending else ((0, 0), (700, 700)))
    assert (alice.credits_pending_minor, bob.debits_pending_minor) == (0, 0)
    stored = Transfer.objects.get(client="test", key="one")
    assert (stored.kind, stored.code, stored.reference, stored.currency) == (
        "pending" if pending else "single",
        "c",
        "r",
        "CNY",
    )
    assert stored.public_id == rows[0].public_id
    assert OutboxEvent.objects.count() == events + 1
    assert AuditRecord.objects.count() == records + 1
    assert verify_chain().is_intact


def test_one_pending_transfer_keeps_its_timeout_and_value_date(funded: dict[str, str]) -> None:
    before = timezone.now()
    hold = transfer(
        funded["alice"],
        funded["bob"],
        300,
        key="hold",
        pending=True,
        timeout_seconds=60,
        value_date=before.date(),
    )

    stored = Transfer.objects.get(public_id=hold.id)
    assert stored.expires_at is not None
    assert 59 <= (stored.expires_at - before).total_seconds() <= 61 + 5
    assert stored.value_date == before.date()
    assert stored.metadata == {}


def test_inside_a_transaction_or_with_references_the_fast_path_does_not_apply(
    funded: dict[str, str],
) -> None:
    plain = _rows(_request(funded["alice"], funded["bob"], 1, "x"))
    with transaction.atomic():
        assert not fastpath.applies(plain)
    pending = transfer(funded["alice"], funded["bob"], 5, pending=True)
    assert not fastpath.applies(_rows(TransferRequest(key="p", post_pending=pending.id)))
    by_code = _rows(_request("liability:alice", funded["bob"], 1, "c"))
    assert not fastpath.applies(by_code)


@pytest.mark.parametrize(("case", "code"), BROKEN_PRECONDITIONS)
def test_every_broken_precondition_writes_nothing_and_names_the_same_error(
    funded: dict[str, str], case: str, code: str
) -> None:
    requests = broken_batch(funded, case)
    before = snapshot()

    with pytest.raises(BankmallError) as raised:
        create_transfers(requests, client="test")

    assert raised.value.code == code
    assert raised.value.extra["transfer_index"] == 1
    assert snapshot() == before
    assert verify_chain().is_intact


def test_a_retry_returns_the_original_transfer_and_writes_nothing_more(
    funded: dict[str, str],
) -> None:
    first = transfer(funded["alice"], funded["bob"], 250, key="retry")
    before = snapshot()

    again = transfer(funded["alice"], funded["bob"], 250, key="retry")

    assert again.id == first.id
    assert snapshot() == before


def test_the_statement_is_prepared_once_and_runs_its_generic_plan(
    funded: dict[str, str],
) -> None:
    # Custom plans won PostgreSQL's plan_cache_mode=auto comparison for this statement, so it
    # was planned again on every call; the connection forces the generic plan.
    for n in range(7):
        transfer(funded["alice"], funded["bob"], 1, key=f"plan-{n}")

    with connection.cursor() as cursor:
        cursor.execute("SHOW plan_cache_mode")
        assert cursor.fetchone() == ("force_generic_plan",)
        cursor.execute(
            "SELECT generic_plans, custom_plans FROM pg_prepared_statements"
            " WHERE statement LIKE '%%INSERT INTO ledger_transfer%%'"
        )
        plans = cursor.fetchall()
    assert len(plans) == 1
    generic, custom = plans[0]
    assert generic >= 6
    assert custom == 0


def test_a_reused_key_fails_the_statement_and_writes_nothing(funded: dict[str, str]) -> None:
    # A plain INSERT (no ON CONFLICT): the unique index refuses the key, the statement rolls
    # back whole, and the caller takes the transactional path that replays it.
    transfer(funded["alice"], funded["bob"], 100, key="taken")
    before = snapshot()

    rows = _rows(_request(funded["alice"], funded["bob"], 100, "taken"))
    assert not fastpath.try_post(rows, client="test", actor=None, now=timezone.now())

    assert snapshot() == before
    assert verify_chain().is_intact


def test_a_stale_lane_head_is_read_again_and_the_chain_stays_intact(
    funded: dict[str, str],
) -> None:
    transfer(funded["alice"], funded["bob"], 1)
    lane = audit.current_lane()
    assert lane.sequence is not None
    lane.sequence -= 1  # As if another connection had appended to this lane meanwhile.

    transfer(funded["alice"], funded["bob"], 2)

    assert verify_chain().is_intact
    assert Transfer.objects.filter(amount_minor=2).count() == 1


def test_connections_sharing_one_lane_keep_it_gap_free(
    funded: dict[str, str], settings: Any
) -> None:
    # One lane for everybody: every append meets the others' and must re-read the head.
    settings.AUDIT_LANES = 1
    errors: list[BaseException] = []
    barrier = threading.Barrier(4)

    def work(n: int) -> None:
        try:
            barrier.wait()
            for k in range(10):
                transfer(funded["bank"], funded["bob"], 1, key=f"shared:{n}:{k}")
        except BaseException as error:  # noqa: BLE001  (reported below)
            errors.append(error)
        finally:
            connection.close()

    threads = [threading.Thread(target=work, args=(n,)) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)

    assert errors == []
    assert Transfer.objects.filter(key__startswith="shared:").count() == 40
    report = verify_chain()
    assert report.is_intact, report.problems
