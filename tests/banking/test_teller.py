"""Teller cash: the amount is checked at the form, a withdrawal's funds at proposal time, and
no error ever names a ledger id."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest
from django.contrib.messages import get_messages
from django.test import Client
from django.utils import translation

from bankmall.banking import actions, queries
from bankmall.banking.errors import InsufficientFunds
from bankmall.banking.models import DepositAccount
from bankmall.core.errors import InvalidInput
from bankmall.core.money import Money
from bankmall.ledger.errors import InsufficientFunds as LedgerInsufficientFunds
from bankmall.ledger.models import Transfer as LedgerTransfer
from bankmall.security.approvals import decide
from bankmall.security.models import ApprovalRequest, UserKind
from tests.banking.conftest import OpenAccount
from tests.banking.test_backoffice import staff
from tests.signed_in import make_user

pytestmark = pytest.mark.django_db


def balance(account: DepositAccount) -> int:
    return queries.account_balance(account).balance.amount_minor


def post_cash(
    client: Client,
    account: DepositAccount,
    amount: str,
    *,
    slip: str,
    direction: str,
    language: str = "en",
) -> list[str]:
    response = client.post(
        f"/backoffice/banking/accounts/{account.public_id}/cash",
        {"direction": direction, "amount": amount, "reference": slip, "reason": "counter"},
        follow=True,
        HTTP_ACCEPT_LANGUAGE=language,
    )
    return [str(message) for message in get_messages(response.wsgi_request)] + [
        response.content.decode()
    ]


@pytest.mark.parametrize(
    ("amount", "expected"),
    [
        ("0", "must be positive"),
        ("-5.00", "must be positive"),
        ("1.005", "at most 2 decimal places"),
        ("10000000000000000", "above the maximum"),
    ],
)
def test_a_bad_cash_amount_is_refused_at_the_form_and_books_nothing(
    client: Client, open_account: OpenAccount, amount: str, expected: str
) -> None:
    account = open_account(balance_minor=1_000)
    staff(client, "t1", "teller")
    before = LedgerTransfer.objects.count()
    shown = post_cash(client, account, amount, slip="S-1", direction="deposit")
    assert any(expected in text for text in shown)
    assert LedgerTransfer.objects.count() == before
    assert not ApprovalRequest.objects.exists()
    assert balance(account) == 1_000


def test_a_currency_without_minor_units_takes_no_decimals(open_account: OpenAccount) -> None:
    account = open_account(currency="JPY")
    with translation.override("en"), pytest.raises(InvalidInput, match="at most 0 decimal"):
        actions.cash_amount(account, Decimal("10.5"))
    assert actions.cash_amount(account, Decimal("10")) == Money(10, "JPY")


def test_a_large_withdrawal_above_the_available_balance_is_refused_when_proposed(
    client: Client, open_account: OpenAccount
) -> None:
    account = open_account(balance_minor=100_000)
    staff(client, "t1", "teller")
    shown = post_cash(
        client, account, "60000.00", slip="S-2", direction="withdrawal", language="zh-CN"
    )
    assert not ApprovalRequest.objects.exists()
    assert any("余额不足" in text for text in shown)
    assert balance(account) == 100_000


def test_an_approval_that_fails_names_no_ledger_id_and_changes_nothing(
    client: Client, open_account: OpenAccount
) -> None:
    account = open_account(balance_minor=7_000_000)
    staff(client, "t1", "teller")
    post_cash(client, account, "60000.00", slip="S-3", direction="withdrawal")
    request = ApprovalRequest.objects.get()
    # The money leaves by another way before the checker decides.
    actions.teller_cash(
        account=account,
        amount=Money(2_000_000, "CNY"),
        is_deposit=False,
        reference="S-4",
        actor="test",
    )
    before = LedgerTransfer.objects.count()
    checker = make_user("boss", kind=UserKind.STAFF, roles=("administrator",))
    with pytest.raises(InsufficientFunds) as failure:
        decide(request_id=request.public_id, checker=checker, approve=True)
    assert "lac_" not in failure.value.detail
    assert account.ledger_account_id not in str(failure.value.extra)
    assert LedgerTransfer.objects.count() == before
    assert ApprovalRequest.objects.get().status == "pending"
    assert balance(account) == 5_000_000


def test_a_ledger_refusal_is_reported_without_ledger_ids(open_account: OpenAccount) -> None:
    account = open_account(balance_minor=100)
    other = open_account()
    with pytest.raises(LedgerInsufficientFunds) as failure:
        actions.post_to_ledger(
            [
                actions.TransferRequest(
                    key="x",
                    debit_account=account.ledger_account_id,
                    credit_account=other.ledger_account_id,
                    amount=Money(5_000, "CNY"),
                    code="test",
                )
            ],
            actor="test",
        )
    assert account.ledger_account_id not in failure.value.detail
    assert "key" not in failure.value.extra


def test_approved_cash_shows_the_entry_id_not_the_ledger_id(
    client: Client, open_account: OpenAccount
) -> None:
    account = open_account()
    staff(client, "t1", "teller")
    post_cash(client, account, "60000.00", slip="S-5", direction="deposit")
    checker = make_user("boss", kind=UserKind.STAFF, roles=("administrator",))
    approved = decide(
        request_id=ApprovalRequest.objects.get().public_id, checker=checker, approve=True
    )
    result: dict[str, Any] = approved.result
    (entry,) = queries.account_entries(account).data
    assert result == {"entry_id": entry.id, "reference": "S-5"}
    assert balance(account) == 6_000_000
