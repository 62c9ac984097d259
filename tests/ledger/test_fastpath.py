"""The one-statement write on PostgreSQL: it commits plain batches, and for everything else it
writes nothing and leaves the error to the transactional path — the same codes, nothing changed."""

from __future__ import annotations

import datetime as dt
import threading
from collections.abc import Iterator
from typing import Any

import pytest
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from bankmall.core import audit
from bankmall.core.audit import verify_chain
from bankmall.core.errors import BankmallError
from bankmall.core.models import AuditRecord
from bankmall.core.relay import pending_count, waiting_events
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
    events, records = pending_count(), AuditRecord.objects.count()

    assert fastpath.try_post(rows, client="test", actor="tester", now=timezone.now())

    stored = {t.key: t for t in Transfer.objects.filter(client="test", key__in=["a", "b"])}
    assert stored["a"].amount_minor == 300
    assert stored["b"].kind == "pending"
    assert pending_count() == events + 1
    assert AuditRecord.objects.count() == records + 1
    record = AuditRecord.objects.order_by("-id").first()
    assert record is not None
    assert record.actor == "tester"
    assert record.action == "ledger.transfers_created"
    assert verify_chain().is_intact


@pytest.mark.parametrize("count", [1, 2])
def test_the_audit_record_and_its_event_are_dated_as_the_transfers(
    funded: dict[str, str], count: int
) -> None:
    rows = _rows(*(_request(funded["alice"], funded["bob"], 5, f"k{n}") for n in range(count)))
    now = timezone.now()

    assert fastpath.try_post(rows, client="test", actor="tester", now=now)

    transfers = Transfer.objects.filter(client="test", key__startswith="k")
    event = waiting_events(limit=500)[-1]
    record = AuditRecord.objects.order_by("-id").first()
    assert record is not None
    assert event.payload["transfer_ids"] == [row.public_id for row in rows]
    assert {t.created_at for t in transfers} == {now}
    assert (event.created_at, record.occurred_at) == (now, now)
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
    events, records = pending_count(), AuditRecord.objects.count()
    now = timezone.now()

    assert fastpath.try_post(rows, client="test", actor="tester", now=now)

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
    assert (stored.created_at, stored.value_date) == (now, now.date())  # Sent in binary.
    assert pending_count() == events + 1
    assert AuditRecord.objects.count() == records + 1
    assert verify_chain().is_intact


def test_one_transfer_updates_both_accounts_whichever_has_the_lower_id(
    funded: dict[str, str],
) -> None:
    # The statement updates the account with the lower id first, then the other (no lock
    # step): bank (lowest id) and alice, alice and bob, and bob back to alice.
    pks = {name: Account.objects.get(public_id=funded[name]).pk for name in funded}
    assert pks["bank"] < pks["alice"] < pks["bob"]
    for key, (debit, credit) in enumerate(
        [("bank", "alice"), ("alice", "bob"), ("bob", "alice"), ("alice", "bank")]
    ):
        rows = _rows(_request(funded[debit], funded[credit], 100 - key, f"order-{key}"))
        assert fastpath.try_post(rows, client="test", actor=None, now=timezone.now())

    totals = {
        name: (account.debits_posted_minor, account.credits_posted_minor)
        for name in funded
        for account in [Account.objects.get(public_id=funded[name])]
    }
    assert totals == {
        "bank": (10_000 + 100, 97),
        "alice": (99 + 97, 10_000 + 100 + 98),
        "bob": (98, 99),
    }
    assert verify_chain().is_intact


def test_statements_dropped_behind_its_back_are_prepared_again(funded: dict[str, str]) -> None:
    transfer(funded["alice"], funded["bob"], 1, key="before-discard")
    with connection.cursor() as cursor:
        cursor.execute("DEALLOCATE ALL")

    rows = _rows(_request(funded["alice"], funded["bob"], 2, "after-discard"))
    assert fastpath.try_post(rows, client="test", actor=None, now=timezone.now())

    assert Transfer.objects.get(client="test", key="after-discard").amount_minor == 2
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM pg_prepared_statements"
            " WHERE statement LIKE '%%INSERT INTO ledger_transfer%%'"
        )
        assert cursor.fetchone() == (1,)


def test_a_parameter_of_an_unexpected_type_is_refused_before_anything_is_sent() -> None:
    with pytest.raises(TypeError, match="float"):
        fastpath._encoded([1, "text", 1.5])


_ARRAYS = {
    "bigint": (fastpath._int8_array, [[], [7], [-(2**63), 0, 2**63 - 1, 10**15]]),
    "int": (fastpath._int4_array, [[], [3], [-(2**31), 0, 2**31 - 1]]),
    "text": (
        fastpath._text_array,
        [
            [],
            [""],
            ["", ""],
            ["abc", "xyz"],  # One length: joined by its prefix.
            ["a", "bcd", ""],
            ["é", "ab"],  # One length in characters, not in bytes.
            ["ü", "v"],
            ["x" * 200, "y" * 200],  # A length above one byte's ASCII.
            [None, "{}", None],
            [None, None],
        ],
    ),
    "date": (
        fastpath._date_array,
        [
            [],
            [dt.date(2000, 1, 1)],
            [dt.date(1, 1, 1), dt.date(1999, 12, 31), dt.date(9999, 12, 31)],
        ],
    ),
    "timestamptz": (
        fastpath._timestamptz_array,
        [
            [],
            [None],
            [None, dt.datetime(2026, 1, 2, 3, 4, 5, 6, tzinfo=dt.UTC)],
            [
                dt.datetime(
                    1999, 12, 31, 23, 59, 59, 999_999, tzinfo=dt.timezone(dt.timedelta(hours=8))
                )
            ],
        ],
    ),
}


@pytest.mark.parametrize("kind", sorted(_ARRAYS))
def test_binary_array_parameters_arrive_as_the_values_they_were_made_of(kind: str) -> None:
    encode, cases = _ARRAYS[kind]
    connection.ensure_connection()
    raw = connection.connection.pgconn
    for values in cases:
        data = encode(values)
        result = raw.exec_params(
            f"SELECT $1::{kind}[]::text".encode(), [data], [fastpath._OIDS[type(data)]], [1]
        )
        received = result.get_value(0, 0)
        with connection.cursor() as cursor:  # What psycopg sends for the same values.
            cursor.execute(f"SELECT %s::{kind}[]::text", [values])
            assert cursor.fetchone() == (received.decode(),), (kind, values)


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


def test_the_accounts_ids_are_looked_up_once_then_remembered(funded: dict[str, str]) -> None:
    fastpath._KNOWN.clear()
    lookup = "FROM ledger_account WHERE public_id = ANY"

    with CaptureQueriesContext(connection) as first:
        transfer(funded["alice"], funded["bob"], 10, key="first")
    with CaptureQueriesContext(connection) as second:
        transfer(funded["alice"], funded["bob"], 15, key="second")

    assert [q["sql"] for q in first.captured_queries if lookup in q["sql"]] != []
    assert [q["sql"] for q in second.captured_queries if lookup in q["sql"]] == []
    alice = Account.objects.get(public_id=funded["alice"])
    assert fastpath._KNOWN[funded["alice"]] == (alice.pk, "CNY", 0)
    assert Account.objects.get(public_id=funded["bob"]).credits_posted_minor == 25


def test_accounts_remembered_beforehand_need_no_lookup_and_unknown_ones_are_left_out(
    funded: dict[str, str],
) -> None:
    fastpath._KNOWN.clear()
    missing = "lac_00000000000000000000000000"

    assert fastpath.remember_accounts([funded["alice"], funded["bob"], missing]) == 2
    with CaptureQueriesContext(connection) as write:
        transfer(funded["alice"], funded["bob"], 10, key="warm")

    assert missing not in fastpath._KNOWN
    assert [q["sql"] for q in write.captured_queries if "FROM ledger_account" in q["sql"]] == []
    assert Account.objects.get(public_id=funded["bob"]).credits_posted_minor == 10
    assert fastpath.remember_accounts([funded["alice"]]) == 2  # Nothing new to look up.


@pytest.mark.parametrize("wrong", ["id", "currency"])
@pytest.mark.parametrize("size", [1, 2])
def test_a_wrongly_remembered_account_writes_nothing_and_is_looked_up_again(
    funded: dict[str, str], wrong: str, size: int
) -> None:
    # As if the database under a running process were replaced: the remembered id now names
    # another account (or the currency differs). The statement checks every locked row's
    # public id and currency, so it refuses and the entry is forgotten; the next write looks
    # the account up again.
    alice, bob = funded["alice"], funded["bob"]
    transfer(alice, bob, 10, key="learn")
    known = fastpath._KNOWN[bob]
    bank_pk = Account.objects.get(public_id=funded["bank"]).pk
    fastpath._KNOWN[bob] = (
        known._replace(pk=bank_pk) if wrong == "id" else known._replace(currency="USD")
    )
    requests = [_request(alice, bob, 20 + n, f"after-{n}") for n in range(size)]
    rows = _rows(*requests)
    if wrong == "currency":
        for row in rows:
            row.currency = "USD"
        fastpath._KNOWN[alice] = fastpath._KNOWN[alice]._replace(currency="USD")
    before = snapshot()

    assert not fastpath.try_post(rows, client="test", actor=None, now=timezone.now())

    assert snapshot() == before
    assert bob not in fastpath._KNOWN
    create_transfers(requests, client="test")
    accounts = {a.public_id: a for a in Account.objects.filter(public_id__in=[bob, funded["bank"]])}
    assert accounts[bob].credits_posted_minor == 10 + sum(20 + n for n in range(size))
    assert accounts[funded["bank"]].credits_posted_minor == 0
    assert verify_chain().is_intact


def test_an_unknown_account_is_not_remembered_and_named_by_the_transactional_path(
    funded: dict[str, str],
) -> None:
    missing = "lac_00000000000000000000000000"
    rows = _rows(_request(funded["alice"], missing, 5, "nowhere"))

    assert not fastpath.try_post(rows, client="test", actor=None, now=timezone.now())

    assert missing not in fastpath._KNOWN
    with pytest.raises(BankmallError) as raised:
        create_transfers([_request(funded["alice"], missing, 5, "nowhere")], client="test")
    assert raised.value.code == "account_not_found"
