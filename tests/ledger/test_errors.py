"""Every ledger error code: the call fails with that code and nothing changes."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable

import pytest
from django.db import IntegrityError

from bankmall.core.errors import BankmallError
from bankmall.core.models import AuditRecord
from bankmall.core.money import Money
from bankmall.ledger import actions
from bankmall.ledger.actions import AccountSpec, TransferRequest, create_accounts, create_transfers
from bankmall.ledger.models import Account
from bankmall.ledger.values import AccountView
from tests.ledger.conftest import cny, open_account, snapshot, transfer

pytestmark = pytest.mark.django_db

Funded = Callable[[int], tuple[AccountView, AccountView, AccountView]]


def _fails_with(code: str, call: Callable[[], object]) -> BankmallError:
    before = snapshot()
    with pytest.raises(BankmallError) as caught:
        call()
    assert caught.value.code == code
    assert snapshot() == before
    return caught.value


def _batch(*requests: TransferRequest) -> Callable[[], object]:
    return lambda: create_transfers(list(requests), client="test", actor="test")


def _pay(debit: str, credit: str, amount_minor: int, key: str, **fields: object) -> TransferRequest:
    return TransferRequest(
        key=key, debit_account=debit, credit_account=credit, amount=cny(amount_minor), **fields
    )


def test_amount_must_be_positive(funded: Funded) -> None:
    _bank, alice, bob = funded(100)

    error = _fails_with("amount_must_be_positive", _batch(_pay(alice.id, bob.id, 0, "a")))

    assert error.extra == {"transfer_index": 0, "key": "a"}


def test_amount_too_large(funded: Funded) -> None:
    _bank, alice, bob = funded(100)

    error = _fails_with("amount_too_large", _batch(_pay(alice.id, bob.id, 10**15 + 1, "a")))

    assert error.extra == {"transfer_index": 0, "key": "a"}
    # Far above a 64-bit integer: refused the same way, never a database overflow.
    _fails_with("amount_too_large", _batch(_pay(alice.id, bob.id, 10**30, "b")))


def test_accounts_must_be_different(funded: Funded) -> None:
    _bank, alice, _bob = funded(100)

    _fails_with("accounts_must_be_different", _batch(_pay(alice.id, alice.id, 1, "a")))


def test_account_not_found(funded: Funded) -> None:
    _bank, alice, _bob = funded(100)

    _fails_with(
        "account_not_found", _batch(_pay(alice.id, "lac_00000000000000000000000000", 1, "a"))
    )
    _fails_with("account_not_found", _batch(_pay(alice.id, "liability:nobody", 1, "b")))


def test_currency_mismatch(funded: Funded) -> None:
    _bank, alice, _bob = funded(100)
    dollars = open_account("liability:customer:carol:usd", currency="USD", no_overdraft=False)

    error = _fails_with(
        "currency_mismatch",
        _batch(
            _pay(alice.id, _bob.id, 1, "ok"),
            TransferRequest(
                key="usd", debit_account=alice.id, credit_account=dollars.id, amount=Money(1, "USD")
            ),
        ),
    )

    assert error.extra["transfer_index"] == 1


def test_account_frozen(funded: Funded) -> None:
    _bank, alice, bob = funded(100)
    actions.freeze_account(bob.id, reason="court order", actor="test")

    _fails_with("account_frozen", _batch(_pay(alice.id, bob.id, 1, "a")))


def test_account_closed(funded: Funded) -> None:
    _bank, alice, bob = funded(100)
    actions.close_account(bob.id, reason="customer left", actor="test")

    _fails_with("account_closed", _batch(_pay(alice.id, bob.id, 1, "a")))
    _fails_with("account_closed", lambda: actions.unfreeze_account(bob.id, reason="x"))


def test_account_balance_not_zero(funded: Funded) -> None:
    _bank, alice, _bob = funded(100)

    _fails_with("account_balance_not_zero", lambda: actions.close_account(alice.id, reason="x"))


def test_insufficient_funds_names_the_first_transfer_that_overdraws(funded: Funded) -> None:
    _bank, alice, bob = funded(100)

    error = _fails_with(
        "insufficient_funds",
        _batch(_pay(alice.id, bob.id, 60, "a"), _pay(alice.id, bob.id, 60, "b")),
    )

    assert error.extra == {"transfer_index": 1, "key": "b"}


def test_pending_amounts_count_against_the_limit(funded: Funded) -> None:
    _bank, alice, bob = funded(100)
    transfer(alice.id, bob.id, 80, pending=True)

    _fails_with("insufficient_funds", _batch(_pay(alice.id, bob.id, 21, "a")))


def test_credit_limit_exceeded() -> None:
    source = open_account("asset:cash", kind="asset", no_overdraft=False)
    capped = open_account("asset:receivable", kind="asset", no_overdraft=False)
    (limited,) = create_accounts(
        [
            AccountSpec(
                code="liability:capped",
                currency="CNY",
                kind="liability",
                credits_must_not_exceed_debits=True,
                overdraft_limit_minor=50,
            )
        ]
    )
    transfer(source.id, capped.id, 10)

    _fails_with("credit_limit_exceeded", _batch(_pay(source.id, limited.id, 51, "a")))


def test_pending_transfer_not_found(funded: Funded) -> None:
    funded(100)

    _fails_with(
        "pending_transfer_not_found",
        _batch(TransferRequest(key="a", post_pending="trf_00000000000000000000000000")),
    )


def test_transfer_not_pending(funded: Funded) -> None:
    _bank, alice, bob = funded(100)
    posted = transfer(alice.id, bob.id, 10)

    _fails_with("transfer_not_pending", _batch(TransferRequest(key="a", void_pending=posted.id)))


def test_pending_transfer_already_posted(funded: Funded) -> None:
    _bank, alice, bob = funded(100)
    hold = transfer(alice.id, bob.id, 10, pending=True)
    create_transfers([TransferRequest(key="post", post_pending=hold.id)], client="test")

    _fails_with(
        "pending_transfer_already_posted", _batch(TransferRequest(key="b", void_pending=hold.id))
    )


def test_pending_transfer_already_voided(funded: Funded) -> None:
    _bank, alice, bob = funded(100)
    hold = transfer(alice.id, bob.id, 10, pending=True)
    create_transfers([TransferRequest(key="void", void_pending=hold.id)], client="test")

    _fails_with(
        "pending_transfer_already_voided", _batch(TransferRequest(key="b", post_pending=hold.id))
    )


def test_resolving_one_pending_transfer_twice_in_a_batch_fails(funded: Funded) -> None:
    _bank, alice, bob = funded(100)
    hold = transfer(alice.id, bob.id, 10, pending=True)

    _fails_with(
        "pending_transfer_already_posted",
        _batch(
            TransferRequest(key="a", post_pending=hold.id),
            TransferRequest(key="b", void_pending=hold.id),
        ),
    )


def test_pending_transfer_expired(funded: Funded) -> None:
    _bank, alice, bob = funded(100)
    hold = transfer(alice.id, bob.id, 10, pending=True, timeout_seconds=60)
    later = hold.created_at + dt.timedelta(seconds=61)
    rows = [actions.posting.prepare(0, TransferRequest(key="late", post_pending=hold.id))]

    _fails_with(
        "pending_transfer_expired",
        lambda: actions.commit_rows(rows, client="test", actor="test", now=later),
    )


def test_pending_amount_exceeded(funded: Funded) -> None:
    _bank, alice, bob = funded(100)
    hold = transfer(alice.id, bob.id, 10, pending=True)

    _fails_with(
        "pending_amount_exceeded",
        _batch(TransferRequest(key="a", post_pending=hold.id, amount=cny(11))),
    )


def test_transfer_not_found_for_a_reversal(funded: Funded) -> None:
    funded(100)

    _fails_with(
        "transfer_not_found",
        _batch(TransferRequest(key="a", reverses="trf_00000000000000000000000000")),
    )


def test_transfer_not_reversible(funded: Funded) -> None:
    _bank, alice, bob = funded(100)
    hold = transfer(alice.id, bob.id, 10, pending=True)

    _fails_with("transfer_not_reversible", _batch(TransferRequest(key="a", reverses=hold.id)))


def test_reversal_exceeds_original(funded: Funded) -> None:
    _bank, alice, bob = funded(100)
    paid = transfer(alice.id, bob.id, 10)
    create_transfers([TransferRequest(key="r1", reverses=paid.id, amount=cny(6))], client="test")

    _fails_with(
        "reversal_exceeds_original",
        _batch(TransferRequest(key="r2", reverses=paid.id, amount=cny(5))),
    )


def test_idempotency_key_reused(funded: Funded) -> None:
    _bank, alice, bob = funded(100)
    transfer(alice.id, bob.id, 10, key="same")

    error = _fails_with("idempotency_key_reused", _batch(_pay(alice.id, bob.id, 11, "same")))

    assert error.extra == {"transfer_index": 0, "key": "same"}


def test_duplicate_key_in_batch(funded: Funded) -> None:
    _bank, alice, bob = funded(100)

    _fails_with(
        "duplicate_key_in_batch",
        _batch(_pay(alice.id, bob.id, 1, "a"), _pay(alice.id, bob.id, 2, "a")),
    )


def test_batch_size_invalid() -> None:
    _fails_with("batch_size_invalid", _batch())


def test_validation_error(funded: Funded) -> None:
    _bank, alice, bob = funded(100)

    _fails_with("validation_error", _batch(_pay(alice.id, bob.id, 1, "")))
    _fails_with("validation_error", _batch(_pay(alice.id, bob.id, 1, "a", timeout_seconds=5)))
    _fails_with("validation_error", _batch(_pay(alice.id, bob.id, 1, "a\x1fb")))
    _fails_with("validation_error", _batch(_pay(alice.id, bob.id, 1, "a", code="x\ny")))
    _fails_with(
        "validation_error", _batch(TransferRequest(key="a", post_pending="x", void_pending="y"))
    )
    _fails_with(
        "validation_error", _batch(_pay(alice.id, bob.id, 1, "a", pending=True, reverses="x"))
    )
    _fails_with(
        "validation_error", _batch(_pay(alice.id, bob.id, 1, "a", pending=True, timeout_seconds=-1))
    )
    _fails_with(
        "validation_error",
        _batch(_pay(alice.id, bob.id, 1, "a", pending=True, timeout_seconds=366 * 24 * 3600 + 1)),
    )


def test_account_code_conflict() -> None:
    open_account("liability:customer:alice")

    _fails_with(
        "account_code_conflict", lambda: open_account("liability:customer:alice", currency="USD")
    )


def _created_concurrently(
    monkeypatch: pytest.MonkeyPatch, *, times: int
) -> Callable[[], list[AccountView]]:
    """``create_accounts`` of two codes whose first ``times`` attempts meet another caller's
    insert of one of them (an ``IntegrityError`` from the unique code, as when two callers
    create the same account at the same moment): the attempt's writes roll back."""
    attempts = iter(range(times))
    create = actions._create_accounts

    def contended(specs: object, *, actor: str | None) -> list[AccountView]:
        created = create(specs, actor=actor)  # type: ignore[arg-type]
        if next(attempts, None) is not None:
            raise IntegrityError("UNIQUE constraint failed: ledger_account.code")
        return created

    monkeypatch.setattr(actions, "_create_accounts", contended)
    specs = [
        AccountSpec(code="liability:race:one", currency="CNY", kind="liability"),
        AccountSpec(code="liability:race:two", currency="CNY", kind="liability"),
    ]
    return lambda: create_accounts(specs, actor="test")


def test_conflict_when_accounts_are_created_concurrently_twice_in_a_row(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """``create_accounts`` retries once; meeting a concurrent creation again is ``conflict``
    (the caller retries). Two real callers cannot be made to collide twice on demand, so the
    collision is simulated where the unique index would raise it."""
    error = _fails_with("conflict", _created_concurrently(monkeypatch, times=2))

    assert error.status == 409
    assert not Account.objects.filter(code__startswith="liability:race:").exists()


def test_accounts_created_concurrently_once_are_created_by_the_retry(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    created = _created_concurrently(monkeypatch, times=1)()

    assert [account.code for account in created] == ["liability:race:one", "liability:race:two"]
    assert Account.objects.filter(code__startswith="liability:race:").count() == 2
    assert AuditRecord.objects.filter(action="ledger.accounts_created").count() == 1


def test_invalid_account_specs() -> None:
    _fails_with("unknown_currency", lambda: open_account("x", currency="ABC"))
    _fails_with("validation_error", lambda: open_account("x", kind="wallet"))
    _fails_with(
        "validation_error",
        lambda: create_accounts(
            [
                AccountSpec(
                    code="x",
                    currency="CNY",
                    kind="asset",
                    debits_must_not_exceed_credits=True,
                    credits_must_not_exceed_debits=True,
                )
            ]
        ),
    )
