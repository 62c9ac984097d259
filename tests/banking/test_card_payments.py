"""Card authorisation (status, expiry, card and account limits, a pending hold), capture and
void; the daily total limit across channels."""

from __future__ import annotations

import pytest

from bankmall.banking import actions, queries
from bankmall.banking.errors import AccountNotActive, CardNotUsable, LimitExceeded
from bankmall.banking.models import (
    AccountLimit,
    Card,
    CardAuthorisation,
    CardAuthorisationStatus,
    CardStatus,
    Channel,
    DepositAccount,
)
from bankmall.core.errors import Conflict, IdempotencyKeyReused, InvalidInput
from bankmall.core.money import Money
from bankmall.ledger.errors import InsufficientFunds
from bankmall.ledger.models import Transfer as LedgerTransfer
from tests.banking.conftest import OpenAccount
from tests.banking.test_transfers import send

pytestmark = pytest.mark.django_db


def cny(amount_minor: int) -> Money:
    return Money(amount_minor, "CNY")


def pay(card: Card, amount_minor: int, key: str = "k1") -> CardAuthorisation:
    return actions.authorise_card_payment(
        card=card,
        payment=actions.CardPayment(amount=cny(amount_minor), merchant="示例商城 Demo Mall"),
        idempotency_key=key,
        actor="test",
    )


def funded_card(open_account: OpenAccount, balance: int = 100_000) -> tuple[Card, DepositAccount]:
    account = open_account(balance_minor=balance)
    return actions.issue_card(account=account, actor="test"), account


def available(account: DepositAccount) -> tuple[int, int]:
    found = queries.account_balance(account)
    return found.balance.amount_minor, found.available.amount_minor


def test_an_authorisation_holds_money_and_capture_posts_it(open_account: OpenAccount) -> None:
    card, account = funded_card(open_account)
    held = pay(card, 30_000)
    assert held.status == CardAuthorisationStatus.AUTHORISED
    assert available(account) == (100_000, 70_000)
    assert pay(card, 30_000).pk == held.pk  # the same key holds once
    with pytest.raises(IdempotencyKeyReused):
        pay(card, 30_001)
    captured = actions.capture_card_payment(authorisation=held, amount=cny(25_000), actor="t")
    assert (captured.status, captured.captured_minor) == ("captured", 25_000)
    assert available(account) == (75_000, 75_000)
    entries = [entry.id for entry in queries.account_entries(account).data]
    assert held.public_id in entries
    with pytest.raises(Conflict):
        actions.void_card_payment(authorisation=held, actor="t")


def test_a_void_releases_the_hold(open_account: OpenAccount) -> None:
    card, account = funded_card(open_account)
    held = pay(card, 30_000)
    actions.void_card_payment(authorisation=held, actor="t")
    assert available(account) == (100_000, 100_000)
    with pytest.raises(Conflict):
        actions.capture_card_payment(authorisation=held, actor="t")


def test_a_capture_above_the_authorised_amount_is_refused(open_account: OpenAccount) -> None:
    card, account = funded_card(open_account)
    held = pay(card, 30_000)
    with pytest.raises(InvalidInput):
        actions.capture_card_payment(authorisation=held, amount=cny(30_001), actor="t")
    assert CardAuthorisation.objects.get().status == "authorised"
    assert available(account) == (100_000, 70_000)


@pytest.mark.parametrize(
    ("case", "error"),
    [
        ("frozen", CardNotUsable),
        ("blocked", CardNotUsable),
        ("expired", CardNotUsable),
        ("card_per_purchase", LimitExceeded),
        ("card_daily", LimitExceeded),
        ("account_card_channel", LimitExceeded),
        ("funds", InsufficientFunds),
        ("frozen_account", AccountNotActive),
    ],
)
def test_a_declined_card_payment_holds_nothing(
    open_account: OpenAccount, case: str, error: type[Exception]
) -> None:
    card, account = funded_card(open_account)
    amount = 10_000
    if case in {"frozen", "blocked"}:
        Card.objects.filter(pk=card.pk).update(status=CardStatus(case))
    elif case == "expired":
        today = actions.business_date()
        Card.objects.filter(pk=card.pk).update(expiry_year=today.year - 1)
    elif case == "card_per_purchase":
        Card.objects.filter(pk=card.pk).update(per_transaction_limit_minor=9_999)
    elif case == "card_daily":
        Card.objects.filter(pk=card.pk).update(daily_limit_minor=15_000)
        pay(card, 10_000, key="first")
    elif case == "account_card_channel":
        AccountLimit.objects.filter(account=account, channel=Channel.CARD).update(
            per_transaction_minor=5_000
        )
    elif case == "funds":
        amount = 100_001
    elif case == "frozen_account":
        DepositAccount.objects.filter(pk=account.pk).update(status="frozen")
    card.refresh_from_db()
    before = (LedgerTransfer.objects.count(), CardAuthorisation.objects.count())
    with pytest.raises(error):
        pay(card, amount)
    assert (LedgerTransfer.objects.count(), CardAuthorisation.objects.count()) == before
    if case == "expired":
        with pytest.raises(CardNotUsable) as failure:
            pay(card, amount)
        assert failure.value.extra == {"reason": "card_expired"}


def test_the_daily_total_counts_transfers_and_card_payments_together(
    open_account: OpenAccount,
) -> None:
    card, account = funded_card(open_account, balance=1_000_000)
    payee = open_account()
    AccountLimit.objects.filter(account=account, channel=Channel.ALL).update(
        per_transaction_minor=50_000, daily_minor=50_000
    )
    send(account, payee.number, 30_000)
    pay(card, 15_000)
    before = LedgerTransfer.objects.count()
    with pytest.raises(LimitExceeded) as failure:
        pay(card, 5_001, key="k2")
    assert failure.value.extra["period"] == "day_all_channels"
    with pytest.raises(LimitExceeded):
        send(account, payee.number, 5_001, key="k3")
    assert LedgerTransfer.objects.count() == before
    send(account, payee.number, 5_000, key="k4")  # exactly the limit is allowed


def test_without_an_all_channels_row_the_default_daily_total_applies(
    open_account: OpenAccount,
) -> None:
    account = open_account()
    AccountLimit.objects.filter(account=account, channel=Channel.ALL).delete()
    assert actions.daily_total_limit(account) == actions.DAILY_TOTAL_DEFAULT_MINOR
