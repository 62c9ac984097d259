"""Banking fixtures: customers with funded deposit accounts (funded by an incoming payment)."""

from __future__ import annotations

import itertools
import random
from collections.abc import Callable

import pytest
from django.utils import timezone

from bankmall.banking import actions
from bankmall.banking.demo import demo_kyc
from bankmall.banking.models import AccountProduct, Customer, CustomerKind, DepositAccount
from bankmall.banking.payment_files import BookingInstruction, IncomingFile
from bankmall.core.ids import new_id
from bankmall.core.money import Money


def fund(account: DepositAccount, amount_minor: int) -> None:
    """Credit ``account`` from the clearing account, as an incoming payment would."""
    amount = Money(amount_minor, account.currency)
    instruction = BookingInstruction(
        reference="E2E-FUND",
        amount=amount,
        creditor_account=account.number,
        creditor_name="",
        debtor_name="Payroll Ltd",
        debtor_account="6222020200112233445",
        remittance="Salary",
        value_date=timezone.localdate(),
    )
    actions.book_incoming(
        IncomingFile(
            message_type="camt.054.001.08",
            message_id=new_id("msg"),
            instructions=(instruction,),
        ),
        actor="test",
    )


OpenAccount = Callable[..., DepositAccount]
_serial = itertools.count(1)


def new_customer(kind: CustomerKind = CustomerKind.INDIVIDUAL, **options: object) -> Customer:
    """A customer with well-formed made-up KYC data."""
    index = next(_serial)
    kyc = demo_kyc(index, kind, random.Random(index))
    return actions.open_customer(kind=kind, kyc=kyc, actor="test", **options)  # type: ignore[arg-type]


@pytest.fixture
def open_account(db: None) -> OpenAccount:
    def make(
        customer: Customer | None = None,
        *,
        balance_minor: int = 0,
        currency: str = "CNY",
        product: AccountProduct = AccountProduct.CURRENT,
    ) -> DepositAccount:
        owner = customer or new_customer()
        account = actions.open_account(
            customer=owner, product=product, currency=currency, actor="test"
        )
        if balance_minor:
            fund(account, balance_minor)
        return account

    return make
