"""Reads of core banking: ownership checks, balances, history and statements from the ledger."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Final, TypeVar

from django.db import models
from django.utils import timezone

from bankmall.banking.chart import bank_purpose, counterparty_label
from bankmall.banking.errors import StatementInvalid
from bankmall.banking.identifiers import ACCOUNT_NUMBER_LENGTH, BANK_CODE
from bankmall.banking.models import Card, Customer, DepositAccount, Payee, Transfer
from bankmall.banking.payment_files import CNAPS_CODE_LENGTH
from bankmall.banking.statements import Statement, StatementAccount, StatementEntry
from bankmall.core.errors import FieldError, NotFound
from bankmall.core.ids import is_valid_id, new_id
from bankmall.core.money import Money
from bankmall.core.pagination import Page
from bankmall.ledger import queries as ledger
from bankmall.ledger.values import TransferView

HISTORY_PAGES_MAX: Final = 10_000
POSTING_KINDS: Final = frozenset({"single", "post"})
EXTERNAL_ACCOUNT_MAX_LENGTH: Final = 34
NAME_MAX_LENGTH: Final = 140
BIC_LENGTHS: Final = (8, 11)


_M = TypeVar("_M", bound=models.Model)


def _owned(queryset: models.QuerySet[_M], prefix: str, public_id: str, message: str) -> _M:
    """The row with ``public_id`` in ``queryset`` (already limited to the owner), or not_found.

    A malformed id is answered exactly like someone else's id: ``not_found``, no query.
    """
    found = queryset.filter(public_id=public_id).first() if is_valid_id(prefix, public_id) else None
    if found is None:
        raise NotFound(message)
    return found


def access_account(customer: Customer, account_id: str) -> DepositAccount:
    """``customer``'s account ``account_id``; another customer's account is ``not_found``."""
    return _owned(
        DepositAccount.objects.filter(customer=customer), "acc", account_id, "No such account."
    )


def access_transfer(customer: Customer, transfer_id: str) -> Transfer:
    """``customer``'s transfer ``transfer_id``; anyone else's is ``not_found``."""
    transfers = Transfer.objects.select_related("from_account").filter(customer=customer)
    return _owned(transfers, "trf", transfer_id, "No such transfer.")


def access_card(customer: Customer, card_id: str) -> Card:
    """``customer``'s card ``card_id``; anyone else's is ``not_found``."""
    return _owned(Card.objects.filter(account__customer=customer), "dbc", card_id, "No such card.")


def access_payee(customer: Customer, payee_id: str) -> Payee:
    """``customer``'s payee ``payee_id``; anyone else's is ``not_found``."""
    return _owned(Payee.objects.filter(customer=customer), "pye", payee_id, "No such payee.")


def lock_account(account: DepositAccount) -> DepositAccount:
    """The account row re-read under a row lock (call inside a transaction)."""
    return DepositAccount.objects.select_for_update().get(pk=account.pk)


def customer_accounts(customer: Customer) -> list[DepositAccount]:
    return list(customer.accounts.order_by("public_id"))


@dataclass(frozen=True, slots=True)
class AccountBalance:
    """``balance`` is what is booked; ``available`` also subtracts pending holds."""

    balance: Money
    available: Money
    held: Money


def account_balance(account: DepositAccount) -> AccountBalance:
    found = ledger.balance(account.ledger_account_id)
    return AccountBalance(
        balance=found.posted, available=found.available, held=found.posted - found.available
    )


@dataclass(frozen=True, slots=True)
class AccountEntry:
    """One ledger transfer as the account holder sees it."""

    id: str
    created_at: dt.datetime
    value_date: dt.date
    amount: Money
    is_credit: bool
    status: str
    kind: str
    code: str
    description: str
    counterparty_account: str
    # The purpose of the bank's own account on the other side (``interest_expense``,
    # ``clearing``, ``cash`` …; see ``chart.py``), empty for a customer's account.
    counterparty_bank_account: str = ""


class _Counterparties:
    """Ledger account id → (account number, bank-account purpose), looked up once per id."""

    def __init__(self) -> None:
        self.known: dict[str, tuple[str, str]] = {}

    def describe(self, ledger_account_id: str) -> tuple[str, str]:
        if ledger_account_id not in self.known:
            deposit = DepositAccount.objects.filter(ledger_account_id=ledger_account_id).first()
            if deposit is not None:
                self.known[ledger_account_id] = (deposit.number, "")
            else:
                # The bank's own accounts have no number a customer could use; pages and
                # statements name them by purpose ("Interest from the bank") in the reader's
                # language.
                code = ledger.get_account(ledger_account_id).code
                self.known[ledger_account_id] = ("", bank_purpose(code))
        return self.known[ledger_account_id]


def _entry(
    account: DepositAccount, view: TransferView, counterparties: _Counterparties
) -> AccountEntry:
    is_credit = view.credit_account == account.ledger_account_id
    other = view.debit_account if is_credit else view.credit_account
    metadata = view.metadata
    external = str(metadata.get("counterparty_account", ""))
    number, purpose = ("", "") if external else counterparties.describe(other)
    return AccountEntry(
        id=view.id,
        created_at=view.created_at,
        value_date=view.value_date,
        amount=view.amount,
        is_credit=is_credit,
        status=view.status,
        kind=view.kind,
        code=view.code,
        description=str(metadata.get("description", "")) or view.code,
        counterparty_account=external or number,
        counterparty_bank_account=purpose,
    )


def account_entries(
    account: DepositAccount, *, limit: int = 20, starting_after: str | None = None
) -> Page[AccountEntry]:
    """The account's history, oldest first, cursor-paginated as the ledger pages it."""
    page = ledger.account_history(
        account.ledger_account_id, limit=limit, starting_after=starting_after
    )
    counterparties = _Counterparties()
    return Page(
        data=[_entry(account, view, counterparties) for view in page.data],
        has_more=page.has_more,
        next_cursor=page.next_cursor,
    )


def all_entries(account: DepositAccount) -> Iterator[AccountEntry]:
    """Every entry of the account, oldest first (bounded at 1,000,000)."""
    cursor: str | None = None
    counterparties = _Counterparties()
    for _page in range(HISTORY_PAGES_MAX):
        page = ledger.account_history(account.ledger_account_id, limit=100, starting_after=cursor)
        for view in page.data:
            yield _entry(account, view, counterparties)
        if not page.has_more:
            return
        cursor = page.next_cursor


def recent_entries(account: DepositAccount, *, count: int = 5) -> list[AccountEntry]:
    """The newest ``count`` posted entries, newest first."""
    entries = [entry for entry in all_entries(account) if entry.kind in POSTING_KINDS]
    return list(reversed(entries[-count:]))


def statement_for(
    account: DepositAccount, *, start: dt.date, end: dt.date, owner_name: str
) -> Statement:
    """The statement of ``account`` for ``start``..``end`` (value dates, both included).

    Postings are dated by their value date (the business date they were booked on). The
    opening balance is the sum of every earlier posting, so the totals agree with the ledger's
    posted balance by construction; ``Statement`` re-checks that they add up.
    """
    if start > end:
        message = "The period starts after it ends."
        raise StatementInvalid(message, errors=[FieldError("from", message)])
    opening_minor = 0
    period: list[AccountEntry] = []
    for entry in all_entries(account):
        if entry.kind not in POSTING_KINDS or entry.value_date > end:
            continue
        if entry.value_date < start:
            opening_minor += entry.amount.amount_minor * (1 if entry.is_credit else -1)
        else:
            period.append(entry)
    period.sort(key=lambda entry: entry.value_date)
    closing_minor = opening_minor + sum(
        entry.amount.amount_minor * (1 if entry.is_credit else -1) for entry in period
    )
    return Statement(
        statement_id=new_id("stm"),
        account=StatementAccount(
            number=account.number,
            currency=account.currency,
            owner_name=owner_name,
            name=str(account.get_product_display()),
        ),
        period_start=start,
        period_end=end,
        opening_balance=Money(opening_minor, account.currency),
        closing_balance=Money(closing_minor, account.currency),
        entries=tuple(_statement_entry(entry) for entry in period),
        created_at=timezone.now(),
    )


def _statement_entry(entry: AccountEntry) -> StatementEntry:
    return StatementEntry(
        entry_id=entry.id,
        booking_date=entry.value_date,
        value_date=entry.value_date,
        amount=entry.amount,
        is_credit=entry.is_credit,
        description=entry.description,
        kind=(entry.code.split(".")[0] or "transfer").upper(),
        counterparty_account=entry.counterparty_account,
        counterparty_name=counterparty_label(entry.counterparty_bank_account),
    )


def interbank_payee_problems(number: str, name: str, bank_code: str) -> list[FieldError]:
    """Why a payee at another bank cannot be paid (empty when it can)."""
    problems = []
    if not number.isalnum() or len(number) > EXTERNAL_ACCOUNT_MAX_LENGTH:
        problems.append(FieldError("to_account_number", "Not a valid account number."))
    elif number.startswith(BANK_CODE) and len(number) == ACCOUNT_NUMBER_LENGTH:
        problems.append(
            FieldError("to_account_number", "The account number's check digits do not match.")
        )
    if not name.strip() or len(name) > NAME_MAX_LENGTH:
        problems.append(FieldError("to_name", "The payee's name is required for another bank."))
    is_cnaps = bank_code.isdigit() and len(bank_code) == CNAPS_CODE_LENGTH
    is_bic = bank_code.isalnum() and bank_code.isupper() and len(bank_code) in BIC_LENGTHS
    if not (is_cnaps or is_bic):
        problems.append(
            FieldError("to_bank_code", "The payee's bank: a 12-digit CNAPS code or a BIC.")
        )
    return problems
