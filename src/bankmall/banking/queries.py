"""Reads of core banking: ownership checks, balances, history and statements from the ledger."""

from __future__ import annotations

import datetime as dt
import difflib
import hashlib
import unicodedata
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, Final, TypeVar

from django.db import models
from django.db.models import Q, Sum
from django.utils import timezone
from django.utils.translation import gettext

from bankmall.banking.chart import bank_purpose, counterparty_label
from bankmall.banking.errors import PayeeNameCloseMatch, PayeeNameMismatch, StatementInvalid
from bankmall.banking.identifiers import ACCOUNT_NUMBER_LENGTH, BANK_CODE
from bankmall.banking.models import (
    API_IDEMPOTENT_OPERATIONS,
    ApiIdempotencyRecord,
    Card,
    CardAuthorisation,
    Customer,
    DepositAccount,
    Payee,
    StandingOrder,
    Transfer,
)
from bankmall.banking.payment_files import CNAPS_CODE_LENGTH
from bankmall.banking.statements import Statement, StatementAccount, StatementEntry
from bankmall.core.errors import FieldError, InvalidInput, NotFound
from bankmall.core.ids import is_valid_id, new_id
from bankmall.core.money import Money
from bankmall.core.pagination import Page
from bankmall.ledger import queries as ledger
from bankmall.ledger.values import TransferView
from bankmall.security.masking import mask_text

HISTORY_PAGES_MAX: Final = 10_000
POSTING_KINDS: Final = frozenset({"single", "post"})
EXTERNAL_ACCOUNT_MAX_LENGTH: Final = 34
NAME_MAX_LENGTH: Final = 140
BIC_LENGTHS: Final = (8, 11)
CLOSE_NAME_RATIO: Final = 0.75
# Ledger idempotency keys of postings that belong to a banking object with its own public id:
# ``transfer:<trf_…>`` (a customer's transfer), ``card:<cau_…>:<step>`` (a card payment).
PUBLIC_KEY_PREFIXES: Final = {"transfer": "trf", "card": "cau"}
ENTRY_PREFIX: Final = "ent"
_ID_ALPHABET: Final = "0123456789abcdefghjkmnpqrstvwxyz"
_ID_BODY_LENGTH: Final = 26


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


def access_standing_order(customer: Customer, order_id: str) -> StandingOrder:
    """``customer``'s standing order ``order_id``; anyone else's is ``not_found``."""
    orders = StandingOrder.objects.select_related("from_account").filter(customer=customer)
    return _owned(orders, "sto", order_id, "No such standing order.")


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


def entry_public_id(view: TransferView) -> str:
    """The one id a customer sees for a posting, everywhere (history, statements, API).

    A posting made for a customer's transfer carries that transfer's id (``trf_…``, the id on
    the receipt, for the payer and for a payee of this bank alike); a card payment its
    authorisation's id (``cau_…``). Any other posting (cash, incoming payments, interest) gets
    ``ent_…``, derived one-way from the ledger id: stable, and the ledger id stays internal.
    """
    head, _sep, rest = view.key.partition(":")
    prefix = PUBLIC_KEY_PREFIXES.get(head)
    if view.client == "banking" and prefix is not None:
        candidate = rest.split(":", 1)[0]
        if is_valid_id(prefix, candidate):
            return candidate
    digest = int.from_bytes(hashlib.sha256(f"banking.entry:{view.id}".encode()).digest()[:17])
    body = "".join(
        _ID_ALPHABET[(digest >> (5 * position)) & 31] for position in range(_ID_BODY_LENGTH)
    )
    return f"{ENTRY_PREFIX}_{body}"


def is_entry_id(value: str) -> bool:
    """True when ``value`` is syntactically an id a history entry can have."""
    return any(
        is_valid_id(prefix, value) for prefix in (*PUBLIC_KEY_PREFIXES.values(), ENTRY_PREFIX)
    )


@dataclass(frozen=True, slots=True)
class AccountEntry:
    """One ledger transfer as the account holder sees it; ``id`` is its public id
    (``entry_public_id``), never the ledger's."""

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
        id=entry_public_id(view),
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
    """The account's history, oldest first, cursor-paginated as the ledger pages it.

    ``starting_after`` is the public id of an entry of this account (the previous page's
    ``next_cursor``). Errors: ``validation_error`` for any other id.
    """
    cursor = None if starting_after is None else _ledger_cursor(account, starting_after)
    page = ledger.account_history(account.ledger_account_id, limit=limit, starting_after=cursor)
    counterparties = _Counterparties()
    data = [_entry(account, view, counterparties) for view in page.data]
    return Page(
        data=data, has_more=page.has_more, next_cursor=data[-1].id if page.has_more else None
    )


def _ledger_cursor(account: DepositAccount, public_id: str) -> str:
    """The ledger id of ``account``'s entry with public id ``public_id``."""
    if is_valid_id("trf", public_id):
        found = (
            Transfer.objects.filter(public_id=public_id)
            .filter(Q(from_account=account) | Q(to_account=account))
            .values_list("ledger_transfer_id", flat=True)
            .first()
        )
        if found is not None:
            return found
    if is_entry_id(public_id):
        cursor: str | None = None
        for _page in range(HISTORY_PAGES_MAX):
            page = ledger.account_history(
                account.ledger_account_id, limit=100, starting_after=cursor
            )
            for view in page.data:
                if entry_public_id(view) == public_id:
                    return view.id
            if not page.has_more:
                break
            cursor = page.next_cursor
    message = "Not an entry of this account."
    raise InvalidInput(message, errors=[FieldError("starting_after", message)])


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


# ---------------------------------------------------------------- confirmation of payee


def normalised_name(name: str) -> str:
    """A name for comparison: Unicode NFKC (full-width → half-width), case-folded, letters and
    digits only (spaces, dots, middle dots and hyphens dropped)."""
    folded = unicodedata.normalize("NFKC", name).casefold()
    return "".join(character for character in folded if character.isalnum())


def _edit_distance_at_most_one(first: str, second: str) -> bool:
    if abs(len(first) - len(second)) > 1:
        return False
    if len(first) == len(second):
        return sum(a != b for a, b in zip(first, second, strict=True)) <= 1
    shorter, longer = sorted((first, second), key=len)
    return any(longer[:index] + longer[index + 1 :] == shorter for index in range(len(longer)))


def name_match(entered: str, holder: str) -> str:
    """``match``, ``close`` or ``mismatch`` between a name a customer typed and the holder's.

    Equal after ``normalised_name`` is a match. Close: one letter added, dropped or changed in
    a name of at least three letters, or a ``difflib`` ratio of at least 0.75 (``Zhang Wie``
    for ``Zhang Wei``). Anything else is a mismatch.
    """
    typed, actual = normalised_name(entered), normalised_name(holder)
    if typed and typed == actual:
        return "match"
    if not typed or not actual:
        return "mismatch"
    one_off = min(len(typed), len(actual)) >= 3 and _edit_distance_at_most_one(typed, actual)  # noqa: PLR2004
    if one_off or difflib.SequenceMatcher(None, typed, actual).ratio() >= CLOSE_NAME_RATIO:
        return "close"
    return "mismatch"


def confirm_payee(account: DepositAccount, entered_name: str, *, field: str = "to_name") -> None:
    """Confirmation of payee for an account of this bank: ``entered_name`` must be its holder's.

    Errors (translated): ``payee_name_close_match`` with the holder's name masked in the detail
    and in ``extra["account_name"]``; ``payee_name_mismatch``.
    """
    holder = account.customer.legal_name
    outcome = name_match(entered_name, holder)
    if outcome == "match":
        return
    masked = mask_text(holder)
    if outcome == "close":
        message = gettext(
            "The name is close but not the same: the account is held by %(name)s. "
            "Enter the name exactly as on the account."
        ) % {"name": masked}
        raise PayeeNameCloseMatch(
            message, errors=[FieldError(field, message)], extra={"account_name": masked}
        )
    message = gettext("The name does not match the holder of this account.")
    raise PayeeNameMismatch(message, errors=[FieldError(field, message)])


# ---------------------------------------------------------------- data-subject export


def subject_data(user_id: int) -> dict[str, Any] | None:
    """Everything core banking holds about the customer signed in as user ``user_id``, for
    their data-subject export (``security.privacy``): KYC data in full (the export is for the
    person it describes), accounts with balances, cards (last four only — the number stays in
    the vault), payees, standing orders, transfers they made and received, card payments, and
    the API answers kept for their ``Idempotency-Key``s (the body as stored: it can hold payee
    names). ``None`` when the user is no customer of the bank."""
    customer = Customer.objects.filter(user_id=user_id).first()
    if customer is None:
        return None
    accounts = customer_accounts(customer)
    received = (
        Transfer.objects.filter(to_account__customer=customer)
        .exclude(customer=customer)
        .select_related("to_account")
        .order_by("created_at")
    )
    return {
        "customer": {
            "id": customer.public_id,
            "kind": customer.kind,
            "legal_name": customer.legal_name,
            "national_id": customer.national_id,
            "date_of_birth": customer.date_of_birth,
            "phone": customer.phone,
            "address": customer.address,
            "occupation_or_business_scope": customer.occupation,
            "kyc_status": customer.kyc_status,
            "kyc_reviewed_at": customer.kyc_reviewed_at,
            "risk_rating": customer.risk_rating,
            "created_at": customer.created_at,
        },
        "accounts": [
            {
                "id": account.public_id,
                "number": account.number,
                "product": account.product,
                "currency": account.currency,
                "status": account.status,
                "balance": account_balance(account).balance,
                "opened_at": account.opened_at,
            }
            for account in accounts
        ],
        "cards": [
            {
                "id": card.public_id,
                "account": card.account.public_id,
                "last_four": card.last_four,
                "expiry": f"{card.expiry_year:04d}-{card.expiry_month:02d}",
                "status": card.status,
                "issued_at": card.issued_at,
            }
            for card in Card.objects.filter(account__customer=customer)
            .select_related("account")
            .order_by("public_id")
        ],
        "payees": [
            {
                "id": payee.public_id,
                "name": payee.name,
                "account_number": payee.account_number,
                "bank_code": payee.bank_code,
                "created_at": payee.created_at,
            }
            for payee in customer.payees.order_by("public_id")
        ],
        "standing_orders": [
            {
                "id": order.public_id,
                "from_account": order.from_account.public_id,
                "to_account_number": order.to_account_number,
                "to_name": order.to_name,
                "to_bank_code": order.to_bank_code,
                "amount": order.amount,
                "reference": order.reference,
                "frequency": order.frequency,
                "next_date": order.next_date,
                "is_active": order.is_active,
                "created_at": order.created_at,
            }
            for order in customer.standing.select_related("from_account").order_by("public_id")
        ],
        "transfers_made": [
            {
                "id": transfer.public_id,
                "from_account": transfer.from_account.number,
                "to_account_number": transfer.to_account_number,
                "to_name": transfer.to_name,
                "to_bank_code": transfer.to_bank_code,
                "amount": Money(transfer.amount_minor, transfer.currency),
                "reference": transfer.reference,
                "kind": transfer.kind,
                "status": transfer.status,
                "channel": transfer.channel,
                "business_date": transfer.business_date,
                "created_at": transfer.created_at,
            }
            for transfer in customer.transfers.select_related("from_account").order_by("created_at")
        ],
        "transfers_received": [
            {
                "id": transfer.public_id,
                "to_account": transfer.to_account.number if transfer.to_account else "",
                "amount": Money(transfer.amount_minor, transfer.currency),
                "reference": transfer.reference,
                "business_date": transfer.business_date,
            }
            for transfer in received
        ],
        "card_payments": [
            {
                "id": payment.public_id,
                "card": payment.card.public_id,
                "merchant": payment.merchant,
                "amount": payment.amount,
                "captured": Money(payment.captured_minor, payment.currency),
                "status": payment.status,
                "business_date": payment.business_date,
            }
            for payment in CardAuthorisation.objects.filter(account__customer=customer)
            .select_related("card")
            .order_by("created_at")
        ],
        "api_idempotency_responses": [
            _stored_api_response(record)
            for record in customer.api_idempotency_records.order_by("created_at", "pk")
        ],
    }


def _stored_api_response(record: ApiIdempotencyRecord) -> dict[str, Any]:
    """One kept API answer as the customer sees it in their export: when, which call, the key
    and status, the body exactly as stored (method and endpoint are empty on rows stored before
    the operation was recorded)."""
    method, endpoint = API_IDEMPOTENT_OPERATIONS.get(record.operation, ("", ""))
    return {
        "created_at": record.created_at,
        "method": method,
        "endpoint": endpoint,
        "idempotency_key": record.key,
        "status_code": record.status_code,
        "response": record.response,
    }


def clearing_batch_totals(batch_ids: list[str]) -> dict[str, list[Money]]:
    """Each clearing batch's amount per currency, from the transfers it sent (by batch id).

    A batch's pain.001 control sum adds every amount whatever its currency; people read the
    same total as money, one amount per currency (one, unless the day had several).
    """
    totals: dict[str, list[Money]] = {batch_id: [] for batch_id in batch_ids}
    rows = (
        Transfer.objects.filter(clearing_batch__in=batch_ids)
        .values("clearing_batch", "currency")
        .annotate(total_minor=Sum("amount_minor"))
        .order_by("clearing_batch", "currency")
    )
    for row in rows:
        totals[row["clearing_batch"]].append(Money(row["total_minor"], row["currency"]))
    return totals
