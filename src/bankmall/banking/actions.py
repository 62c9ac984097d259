"""Every state change of core banking. Money moves only through ``bankmall.ledger.actions``.

Each public action runs in one transaction, writes its audit record and outbox event there, and
changes nothing when it fails.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, Final

from django.conf import settings
from django.db import transaction
from django.db.models import F, QuerySet, Sum
from django.utils import timezone
from django.utils.translation import gettext, gettext_lazy

from bankmall.banking import chart, queries
from bankmall.banking.errors import (
    AccountNotActive,
    CardNotUsable,
    InsufficientFunds,
    InvalidIdentifier,
    LimitExceeded,
    PayeeAccountInvalid,
)
from bankmall.banking.identifiers import (
    is_account_number,
    make_account_number,
    make_card_number,
    resident_id_birth_date,
    validate_credit_code,
    validate_resident_id,
)
from bankmall.banking.models import (
    AccountLimit,
    AccountProduct,
    ApiIdempotencyRecord,
    Card,
    CardAuthorisation,
    CardAuthorisationStatus,
    CardStatus,
    Channel,
    Customer,
    CustomerKind,
    DepositAccount,
    DepositAccountStatus,
    KycStatus,
    NumberSequence,
    Payee,
    RiskRating,
    StandingOrder,
    Transfer,
    TransferKind,
    TransferStatus,
)
from bankmall.banking.payment_files import IncomingFile
from bankmall.core.actions import open_business_day
from bankmall.core.audit import record_audit
from bankmall.core.errors import (
    BankmallError,
    Conflict,
    FieldError,
    IdempotencyKeyReused,
    InvalidInput,
)
from bankmall.core.money import Money, currency_info
from bankmall.core.outbox import record_event
from bankmall.ledger import actions as ledger
from bankmall.ledger import queries as ledger_queries
from bankmall.ledger.actions import AccountSpec, TransferRequest
from bankmall.ledger.posting import AMOUNT_MAX_MINOR
from bankmall.ledger.values import TransferView
from bankmall.security.vault import vault_card

LEDGER_CLIENT: Final = "banking"
REFERENCE_MAX_LENGTH: Final = 140
KEY_MAX_LENGTH: Final = 128
NAME_MAX_LENGTH: Final = 140
# Per-transaction and daily limits in minor units, per channel, for a new account.
DEFAULT_LIMITS: Final = {
    Channel.NET_BANK: (5_000_000, 20_000_000),
    Channel.API: (5_000_000, 20_000_000),
    Channel.TELLER: (100_000_000, 200_000_000),
    Channel.CARD: (2_000_000, 5_000_000),
    Channel.ALL: (30_000_000, 30_000_000),
}
# The most an account may send in one business date across every channel (transfers and card
# payments; branch cash is governed by maker-checker instead): the ``all`` row, which a new
# account gets; accounts opened before it existed use this default.
DAILY_TOTAL_DEFAULT_MINOR: Final = DEFAULT_LIMITS[Channel.ALL][1]


def business_date() -> dt.date:
    """The bank's open business date (end of day advances it)."""
    return open_business_day().business_date


# What customers and staff read when the ledger refuses a posting: the ledger's own details
# name its internal account ids, which never leave the ledger.
LEDGER_SAFE_DETAILS: Final = {
    "insufficient_funds": gettext_lazy("The account does not hold enough money."),
    "account_frozen": gettext_lazy("The account is frozen and cannot be used."),
    "account_closed": gettext_lazy("The account is closed and cannot be used."),
    "amount_too_large": gettext_lazy("The amount is larger than the bank accepts."),
    "amount_must_be_positive": gettext_lazy("The amount must be positive."),
}


def post_to_ledger(
    requests: list[TransferRequest], *, actor: str, client: str = LEDGER_CLIENT
) -> list[TransferView]:
    """``ledger.create_transfers`` whose errors keep their class and code but carry a detail
    without ledger ids (``LEDGER_SAFE_DETAILS``, else the problem's title)."""
    try:
        return ledger.create_transfers(requests, client=client, actor=actor)
    except BankmallError as error:
        safe = LEDGER_SAFE_DETAILS.get(error.code)
        extra = {name: value for name, value in error.extra.items() if name != "key"}
        raise type(error)(
            str(safe) if safe is not None else error.title, errors=error.errors, extra=extra
        ) from None


# ---------------------------------------------------------------- customers and accounts


@dataclass(frozen=True, slots=True)
class KycData:
    """What the bank knows about a customer. ``national_id`` is a resident ID number for an
    individual and a unified social credit code for a company; ``occupation`` is the
    occupation or the business scope."""

    legal_name: str
    national_id: str
    date_of_birth: dt.date | None = None
    phone: str = ""
    address: str = ""
    occupation: str = ""


def _checked_kyc(kind: CustomerKind, data: KycData) -> KycData:
    problems = []
    if not data.legal_name.strip() or len(data.legal_name) > NAME_MAX_LENGTH:
        problems.append(FieldError("legal_name", "1 to 140 characters."))
    try:
        national_id = (
            validate_resident_id(data.national_id)
            if kind == CustomerKind.INDIVIDUAL
            else validate_credit_code(data.national_id)
        )
    except InvalidIdentifier as error:
        problems.extend(error.errors)
        national_id = ""
    birth = data.date_of_birth
    if kind == CustomerKind.INDIVIDUAL and national_id:
        written = resident_id_birth_date(national_id)
        if birth is not None and birth != written:
            problems.append(FieldError("date_of_birth", "Differs from the ID number."))
        birth = written
    if problems:
        raise InvalidInput(problems[0].message, errors=problems)
    return KycData(
        legal_name=data.legal_name.strip(),
        national_id=national_id,
        date_of_birth=birth,
        phone=data.phone.strip(),
        address=data.address.strip(),
        occupation=data.occupation.strip(),
    )


def open_customer(
    *,
    kind: CustomerKind,
    kyc: KycData,
    user_id: int | None = None,
    risk_rating: RiskRating = RiskRating.MEDIUM,
    kyc_status: KycStatus = KycStatus.PENDING,
    branch: int = 1,
    actor: str,
) -> Customer:
    """Create a customer with encrypted KYC data (optionally linked to a sign-in user).

    Errors: ``validation_error``/``invalid_identifier`` details for a bad name or a national
    ID that fails its check (resident ID for individuals, credit code for companies).
    Effects: audit ``banking.customer_opened`` (digests only), event ``customer.opened``.
    """
    data = _checked_kyc(kind, kyc)
    with transaction.atomic():
        customer = Customer.objects.create(
            kind=kind,
            user_id=user_id,
            risk_rating=risk_rating,
            kyc_status=kyc_status,
            branch=branch,
            created_at=timezone.now(),
            legal_name=data.legal_name,
            national_id=data.national_id,
            date_of_birth=data.date_of_birth.isoformat() if data.date_of_birth else "",
            phone=data.phone,
            address=data.address,
            occupation=data.occupation,
        )
        record_audit(
            "banking.customer_opened",
            target=customer.public_id,
            after={"kind": str(kind), "national_id": data.national_id},
            actor=actor,
        )
        record_event(
            "customer.opened", aggregate_id=customer.public_id, payload={"kind": str(kind)}
        )
    return customer


def _next_serial(name: str) -> int:
    """Advance the named sequence under a row lock and return the value taken."""
    NumberSequence.objects.get_or_create(name=name)
    sequence = NumberSequence.objects.select_for_update().get(name=name)
    NumberSequence.objects.filter(pk=sequence.pk).update(next_value=F("next_value") + 1)
    return sequence.next_value


def open_account(
    *,
    customer: Customer,
    product: AccountProduct,
    currency: str = "CNY",
    overdraft_limit_minor: int = 0,
    interest_rate_percent: Decimal = Decimal(0),
    actor: str,
) -> DepositAccount:
    """Open a deposit account: a new number, a ledger liability account, default limits.

    Errors: ``validation_error`` (negative overdraft or rate), ``unknown_currency``.
    """
    problems = []
    if overdraft_limit_minor < 0:
        problems.append(FieldError("overdraft_limit_minor", "The overdraft cannot be negative."))
    if interest_rate_percent < 0:
        problems.append(FieldError("interest_rate_percent", "The rate cannot be negative."))
    if problems:
        raise InvalidInput(problems[0].message, errors=problems)
    Money.zero(currency)  # unknown_currency before anything is written
    with transaction.atomic():
        chart.ensure_chart_of_accounts((currency,))
        serial = _next_serial(f"account:{customer.branch:04d}")
        number = make_account_number(branch=customer.branch, serial=serial)
        (ledger_account,) = ledger.create_accounts(
            [
                AccountSpec(
                    code=chart.deposit_account_code(number),
                    currency=currency,
                    kind="liability",
                    debits_must_not_exceed_credits=True,
                    overdraft_limit_minor=overdraft_limit_minor,
                    name=f"{product} {number}",
                )
            ],
            actor=actor,
        )
        now = timezone.now()
        account = DepositAccount.objects.create(
            number=number,
            customer=customer,
            ledger_account_id=ledger_account.id,
            product=product,
            currency=currency,
            overdraft_limit_minor=overdraft_limit_minor,
            interest_rate_percent=interest_rate_percent,
            opened_at=now,
            last_activity_at=now,
        )
        AccountLimit.objects.bulk_create(
            AccountLimit(
                account=account, channel=channel, per_transaction_minor=per, daily_minor=day
            )
            for channel, (per, day) in DEFAULT_LIMITS.items()
        )
        record_audit(
            "banking.account_opened",
            target=account.public_id,
            after={"number": number, "product": str(product), "currency": currency},
            details={"customer": customer.public_id},
            actor=actor,
        )
        record_event(
            "account.opened",
            aggregate_id=account.public_id,
            payload={"customer_id": customer.public_id, "currency": currency},
        )
    return account


# ---------------------------------------------------------------- transfers


@dataclass(frozen=True, slots=True)
class TransferOrder:
    """What a customer asks for. ``to_bank_code`` (CNAPS or BIC) only for other banks."""

    from_account_id: str
    to_account_number: str
    amount: Money
    reference: str = ""
    to_name: str = ""
    to_bank_code: str = ""

    def digest(self) -> str:
        canonical = json.dumps(
            {
                "from": self.from_account_id,
                "to": self.to_account_number,
                "amount": self.amount.amount_minor,
                "currency": self.amount.currency,
                "reference": self.reference,
                "to_name": self.to_name,
                "to_bank_code": self.to_bank_code,
            },
            sort_keys=True,
        )
        return hashlib.sha256(canonical.encode()).hexdigest()


def _order_problems(order: TransferOrder, idempotency_key: str) -> list[FieldError]:
    problems = []
    if not 1 <= len(idempotency_key) <= KEY_MAX_LENGTH:
        problems.append(FieldError("idempotency_key", "1 to 128 characters."))
    if not order.amount.is_positive:
        problems.append(FieldError("amount", "The amount must be positive."))
    if len(order.reference) > REFERENCE_MAX_LENGTH:
        problems.append(FieldError("reference", "At most 140 characters."))
    if not order.to_account_number.strip():
        problems.append(FieldError("to_account_number", "The payee account is missing."))
    return problems


def _replayed(customer: Customer, order: TransferOrder, idempotency_key: str) -> Transfer | None:
    existing = Transfer.objects.filter(customer=customer, idempotency_key=idempotency_key).first()
    if existing is None:
        return None
    if existing.request_digest != order.digest():
        raise IdempotencyKeyReused("This Idempotency-Key was used for another transfer.")
    return existing


def check_per_transaction_limit(
    account: DepositAccount, channel: Channel, amount: Money
) -> AccountLimit:
    """The account's limit for ``channel``; ``limit_exceeded`` when ``amount`` is above its
    per-transaction maximum (or the channel is not allowed)."""
    limit = AccountLimit.objects.filter(account=account, channel=channel).first()
    if limit is None:
        raise LimitExceeded(f"Transfers through {channel} are not allowed on this account.")
    if amount.amount_minor > limit.per_transaction_minor:
        raise LimitExceeded(
            "The amount is above the per-transaction limit of "
            f"{Money(limit.per_transaction_minor, account.currency)}.",
            extra={"limit": limit.per_transaction_minor, "period": "transaction"},
        )
    return limit


def _sum(queryset: QuerySet[Any], column: str) -> int:
    return int(queryset.aggregate(total=Sum(column))["total"] or 0)


def spent_on(account: DepositAccount, day: dt.date, channel: Channel | None = None) -> int:
    """Minor units ``account`` sent on business date ``day`` through ``channel`` (every
    channel when ``None``): transfers, plus card payments held or captured (not voided)."""
    transfers = Transfer.objects.filter(from_account=account, business_date=day)
    if channel is not None:
        transfers = transfers.filter(channel=channel)
    total = _sum(transfers, "amount_minor")
    if channel in {None, Channel.CARD}:
        cards = CardAuthorisation.objects.filter(account=account, business_date=day)
        total += _sum(cards.filter(status=CardAuthorisationStatus.AUTHORISED), "amount_minor")
        total += _sum(cards.filter(status=CardAuthorisationStatus.CAPTURED), "captured_minor")
    return total


def daily_total_limit(account: DepositAccount) -> int:
    """The account's daily total across channels (its ``all`` row, else the default)."""
    row = AccountLimit.objects.filter(account=account, channel=Channel.ALL).first()
    return DAILY_TOTAL_DEFAULT_MINOR if row is None else row.daily_minor


def _check_limits(account: DepositAccount, channel: Channel, amount: Money, day: dt.date) -> None:
    """The channel's per-transaction and daily limits, then the daily total across channels.
    Errors: ``limit_exceeded`` with ``extra`` ``limit``, ``period`` (``transaction``,
    ``day``, ``day_all_channels``) and ``used``."""
    limit = check_per_transaction_limit(account, channel, amount)
    sent_today = spent_on(account, day, channel)
    if sent_today + amount.amount_minor > limit.daily_minor:
        raise LimitExceeded(
            "The amount would exceed the daily limit of "
            f"{Money(limit.daily_minor, account.currency)}.",
            extra={"limit": limit.daily_minor, "period": "day", "used": sent_today},
        )
    total = daily_total_limit(account)
    sent_everywhere = spent_on(account, day)
    if sent_everywhere + amount.amount_minor > total:
        raise LimitExceeded(
            "The amount would exceed the account's daily limit across all channels of "
            f"{Money(total, account.currency)}.",
            extra={"limit": total, "period": "day_all_channels", "used": sent_everywhere},
        )


def require_active(account: DepositAccount, field: str) -> None:
    if account.status != DepositAccountStatus.ACTIVE:
        message = f"The account is {account.status}."
        raise AccountNotActive(message, errors=[FieldError(field, message)])


def destination(
    customer: Customer, source: DepositAccount, order: TransferOrder
) -> tuple[DepositAccount | None, TransferKind, str]:
    """The payee account (None for another bank), the transfer kind and the ledger account."""
    number = "".join(order.to_account_number.split())
    if is_account_number(number):
        target = DepositAccount.objects.filter(number=number).first()
        if target is None or target.pk == source.pk:
            message = (
                "No such account at this bank." if target is None else "Choose another account."
            )
            raise PayeeAccountInvalid(message, errors=[FieldError("to_account_number", message)])
        require_active(target, "to_account_number")
        if target.currency != source.currency:
            message = f"The payee account holds {target.currency}, not {source.currency}."
            raise PayeeAccountInvalid(message, errors=[FieldError("to_account_number", message)])
        kind = TransferKind.OWN if target.customer_id == customer.pk else TransferKind.INTERNAL
        if kind == TransferKind.INTERNAL and order.to_name.strip():
            queries.confirm_payee(target, order.to_name)
        return target, kind, target.ledger_account_id
    problems = queries.interbank_payee_problems(number, order.to_name, order.to_bank_code)
    if problems:
        raise PayeeAccountInvalid(problems[0].message, errors=problems)
    return None, TransferKind.INTERBANK, chart.bank_account_code("clearing", source.currency)


def transfer(
    *,
    customer: Customer,
    order: TransferOrder,
    idempotency_key: str,
    channel: Channel,
    actor: str,
) -> Transfer:
    """Move money out of one of ``customer``'s accounts; idempotent per (customer, key).

    To an account of this bank the payee is credited at once (``completed``); to another bank
    the money goes to the clearing account (``awaiting_clearing``) for the next pain.001 batch.
    The same key with the same order returns the first transfer; with another order it fails.

    Errors (nothing changes): ``validation_error``, ``not_found`` (not the customer's account),
    ``account_not_active``, ``payee_account_invalid``, ``currency_mismatch``,
    ``limit_exceeded``, ``insufficient_funds``, ``idempotency_key_reused``.
    """
    problems = _order_problems(order, idempotency_key)
    if problems:
        raise InvalidInput(problems[0].message, errors=problems)
    with transaction.atomic():
        # One customer's orders are serialised, so a retried key never races its original.
        Customer.objects.select_for_update().filter(pk=customer.pk).first()
        replay = _replayed(customer, order, idempotency_key)
        if replay is not None:
            return replay
        source = queries.lock_account(queries.access_account(customer, order.from_account_id))
        require_active(source, "from_account")
        if order.amount.currency != source.currency:
            message = f"The account holds {source.currency}."
            raise InvalidInput(message, errors=[FieldError("amount.currency", message)])
        target, kind, credit_ledger = destination(customer, source, order)
        day = business_date()
        _check_limits(source, channel, order.amount, day)
        record = Transfer(
            customer=customer,
            from_account=source,
            to_account=target,
            to_account_number="".join(order.to_account_number.split()),
            to_name=order.to_name,
            to_bank_code=order.to_bank_code,
            kind=kind,
            status=(
                TransferStatus.AWAITING_CLEARING
                if kind == TransferKind.INTERBANK
                else TransferStatus.COMPLETED
            ),
            amount_minor=order.amount.amount_minor,
            currency=order.amount.currency,
            reference=order.reference,
            channel=channel,
            idempotency_key=idempotency_key,
            request_digest=order.digest(),
            business_date=day,
            created_at=timezone.now(),
        )
        (posted,) = post_to_ledger(
            [
                TransferRequest(
                    key=f"transfer:{record.public_id}",
                    debit_account=source.ledger_account_id,
                    credit_account=credit_ledger,
                    amount=order.amount,
                    code=f"transfer.{kind}",
                    reference=record.public_id,
                    metadata={"description": order.reference[:REFERENCE_MAX_LENGTH]},
                    value_date=day,
                )
            ],
            client=LEDGER_CLIENT,
            actor=actor,
        )
        # After this point the operation must succeed.
        record.ledger_transfer_id = posted.id
        record.save(force_insert=True)
        touched = [source.pk] + ([target.pk] if target is not None else [])
        DepositAccount.objects.filter(pk__in=touched).update(last_activity_at=record.created_at)
        record_audit(
            "banking.transfer_made",
            target=record.public_id,
            after={"amount": order.amount.amount_minor, "currency": order.amount.currency},
            details={"kind": str(kind), "channel": str(channel)},
            actor=actor,
        )
        record_event(
            "transfer.completed" if kind != TransferKind.INTERBANK else "transfer.submitted",
            aggregate_id=record.public_id,
            payload={
                "from_account_id": source.public_id,
                "to_account_id": target.public_id if target is not None else None,
                "amount": {"amount": order.amount.amount_minor, "currency": order.amount.currency},
                "kind": str(kind),
            },
        )
    return record


# ---------------------------------------------------------------- incoming payments


@dataclass(frozen=True, slots=True)
class IncomingResult:
    """What ``book_incoming`` did: credits booked to accounts, and to suspense."""

    booked: int
    to_suspense: int
    ledger_transfer_ids: tuple[str, ...]


def book_incoming(incoming: IncomingFile, *, actor: str) -> IncomingResult:
    """Book a parsed incoming file: clearing account → each payee's deposit account.

    A credit for a well-formed number that is no account of the bank, or an account that is not
    active, goes to the suspense account for staff to resolve. Booking the same file again
    books nothing new (ledger keys are ``incoming:<message id>:<n>``). All in one batch.
    """
    numbers = {item.creditor_account for item in incoming.instructions}
    accounts = {
        account.number: account for account in DepositAccount.objects.filter(number__in=numbers)
    }
    requests = []
    suspense = 0
    for index, item in enumerate(incoming.instructions):
        account = accounts.get(item.creditor_account)
        usable = (
            account is not None
            and account.status == DepositAccountStatus.ACTIVE
            and account.currency == item.amount.currency
        )
        suspense += 0 if usable else 1
        requests.append(
            TransferRequest(
                key=f"incoming:{incoming.message_id}:{index}",
                debit_account=chart.bank_account_code("clearing", item.amount.currency),
                credit_account=(
                    account.ledger_account_id
                    if usable and account is not None
                    else chart.bank_account_code("suspense", item.amount.currency)
                ),
                amount=item.amount,
                code="transfer.incoming",
                reference=item.reference[:KEY_MAX_LENGTH],
                metadata={
                    "description": item.remittance[:REFERENCE_MAX_LENGTH] or "Incoming payment",
                    "counterparty_account": item.debtor_account[:34],
                    "creditor_account": item.creditor_account,
                },
                value_date=item.value_date or business_date(),
            )
        )
    with transaction.atomic():
        chart.ensure_chart_of_accounts(tuple(sorted(incoming.total_by_currency)))
        posted = ledger.create_transfers(requests, client=LEDGER_CLIENT, actor=actor)
        credited = [account.pk for account in accounts.values()]
        DepositAccount.objects.filter(pk__in=credited, status=DepositAccountStatus.ACTIVE).update(
            last_activity_at=timezone.now()
        )
        record_audit(
            "banking.incoming_booked",
            target=incoming.message_id[:64],
            details={"count": len(requests), "suspense": suspense, "type": incoming.message_type},
            actor=actor,
        )
    return IncomingResult(
        booked=len(requests) - suspense,
        to_suspense=suspense,
        ledger_transfer_ids=tuple(view.id for view in posted),
    )


# ---------------------------------------------------------------- bank staff


KYC_NOTE_LENGTH_MIN: Final = 5
KYC_NOTE_LENGTH_MAX: Final = 500


def review_kyc(*, customer: Customer, approve: bool, actor: str, note: str = "") -> Customer:
    """Decide a pending KYC review: ``verified`` or ``rejected``.

    A rejection needs a reason (``note``, 5-500 characters) that the customer can be told; a
    verification may carry an optional note. Both are stored with the reviewer on the customer.
    Errors: ``validation_error`` (no or overlong reason), ``conflict`` when the customer is not
    pending review. Audit ``banking.kyc_reviewed`` (the note as a digest), event
    ``customer.kyc_reviewed``.
    """
    status = KycStatus.VERIFIED if approve else KycStatus.REJECTED
    note = note.strip()
    if len(note) > KYC_NOTE_LENGTH_MAX or (not approve and len(note) < KYC_NOTE_LENGTH_MIN):
        message = "A rejection needs a reason of 5 to 500 characters."
        raise InvalidInput(message, errors=[FieldError("note", message)])
    with transaction.atomic():
        locked = Customer.objects.select_for_update().get(pk=customer.pk)
        if locked.kyc_status != KycStatus.PENDING:
            raise Conflict(f"The customer's KYC is {locked.kyc_status}, not pending.")
        # After this point the operation must succeed.
        now = timezone.now()
        Customer.objects.filter(pk=locked.pk).update(
            kyc_status=status, kyc_reviewed_at=now, kyc_reviewed_by=actor, kyc_review_note=note
        )
        record_audit(
            "banking.kyc_reviewed",
            target=locked.public_id,
            before={"kyc_status": locked.kyc_status},
            after={"kyc_status": str(status), "note": note},
            actor=actor,
        )
        record_event(
            "customer.kyc_reviewed",
            aggregate_id=locked.public_id,
            payload={"kyc_status": str(status)},
        )
    locked.kyc_status = status
    locked.kyc_reviewed_at = now
    locked.kyc_reviewed_by = actor
    locked.kyc_review_note = note
    return locked


def set_account_status(
    *, account: DepositAccount, status: DepositAccountStatus, reason: str, actor: str
) -> DepositAccount:
    """Freeze (``frozen``) or reactivate (``active``) an account, in banking and the ledger.

    A frozen account can neither send nor receive. Errors: ``validation_error`` (another
    target status), ``conflict`` (closed, or already in that status).
    """
    if status not in {DepositAccountStatus.ACTIVE, DepositAccountStatus.FROZEN}:
        message = "An account can be frozen or made active here."
        raise InvalidInput(message, errors=[FieldError("status", message)])
    with transaction.atomic():
        locked = queries.lock_account(account)
        if locked.status in {status, DepositAccountStatus.CLOSED}:
            raise Conflict(f"The account is already {locked.status}.")
        ledger_view = ledger_queries.get_account(locked.ledger_account_id)
        if status == DepositAccountStatus.FROZEN and ledger_view.status == "active":
            ledger.freeze_account(locked.ledger_account_id, reason=reason, actor=actor)
        if status == DepositAccountStatus.ACTIVE and ledger_view.status == "frozen":
            ledger.unfreeze_account(locked.ledger_account_id, reason=reason, actor=actor)
        DepositAccount.objects.filter(pk=locked.pk).update(
            status=status, last_activity_at=timezone.now()
        )
        record_audit(
            "banking.account_status_changed",
            target=locked.public_id,
            before={"status": locked.status},
            after={"status": str(status)},
            details={"reason": reason[:200]},
            actor=actor,
        )
        record_event(
            "account.status_changed",
            aggregate_id=locked.public_id,
            payload={"status": str(status), "previous_status": locked.status},
        )
    locked.status = status
    return locked


def set_account_limit(
    *,
    account: DepositAccount,
    channel: Channel,
    per_transaction_minor: int,
    daily_minor: int,
    actor: str,
) -> AccountLimit:
    """Set the account's limits for one channel. Errors: ``validation_error`` (negative, or
    a per-transaction limit above the daily one)."""
    problems = []
    if channel not in Channel.values:
        problems.append(FieldError("channel", f"One of {', '.join(Channel.values)}."))
    if per_transaction_minor < 0 or daily_minor < 0:
        problems.append(FieldError("daily_minor", "Limits cannot be negative."))
    elif per_transaction_minor > daily_minor:
        problems.append(FieldError("per_transaction_minor", "Above the daily limit."))
    if problems:
        raise InvalidInput(problems[0].message, errors=problems)
    with transaction.atomic():
        limit, _created = AccountLimit.objects.update_or_create(
            account=account,
            channel=channel,
            defaults={"per_transaction_minor": per_transaction_minor, "daily_minor": daily_minor},
        )
        record_audit(
            "banking.limit_changed",
            target=account.public_id,
            after={"channel": str(channel), "per": per_transaction_minor, "daily": daily_minor},
            actor=actor,
        )
    return limit


CASH_DESCRIPTIONS: Final = {True: "现金存入 Cash deposit", False: "现金支取 Cash withdrawal"}
CASH_MAX_MINOR: Final = AMOUNT_MAX_MINOR


def cash_amount(account: DepositAccount, value: Decimal) -> Money:
    """A teller's amount in major units as money of ``account``'s currency.

    Errors: ``validation_error`` (translated) when it is not positive, has more decimal places
    than the currency (CNY 2, JPY 0), or is above the ledger's maximum.
    """
    places = currency_info(account.currency).exponent
    message = ""
    if not value.is_finite() or value <= 0:
        message = gettext("The amount must be positive.")
    elif -int(value.normalize().as_tuple().exponent) > places:
        message = gettext("%(currency)s amounts have at most %(places)d decimal places.") % {
            "currency": account.currency,
            "places": places,
        }
    else:
        amount = Money.from_decimal(value, account.currency)
        if amount.amount_minor > CASH_MAX_MINOR:
            message = gettext("The amount is above the maximum of %(maximum)s.") % {
                "maximum": Money(CASH_MAX_MINOR, account.currency)
            }
        else:
            return amount
    raise InvalidInput(message, errors=[FieldError("amount", message)])


def cash_problems(account: DepositAccount, amount: Money, *, is_deposit: bool) -> None:
    """Why cash of ``amount`` cannot go in or out of ``account`` now (checked when a teller
    proposes it and again when it is booked). Errors, translated: ``validation_error``,
    ``account_not_active``, ``insufficient_funds`` (a withdrawal above the available balance).
    """
    if amount.currency != account.currency:
        message = gettext("The account holds %(currency)s.") % {"currency": account.currency}
        raise InvalidInput(message, errors=[FieldError("amount.currency", message)])
    if not amount.is_positive or amount.amount_minor > CASH_MAX_MINOR:
        cash_amount(account, amount.to_decimal())
    if account.status != DepositAccountStatus.ACTIVE:
        message = gettext("The account is %(status)s and cannot be used.") % {
            "status": account.get_status_display()
        }
        raise AccountNotActive(message, errors=[FieldError("account", message)])
    if not is_deposit:
        available = queries.account_balance(account).available
        overdraft = Money(account.overdraft_limit_minor, account.currency)
        if amount > available + overdraft:
            message = gettext(
                "Insufficient funds: %(available)s is available, %(amount)s was asked for."
            ) % {"available": available, "amount": amount}
            raise InsufficientFunds(message, errors=[FieldError("amount", message)])


def teller_cash(
    *, account: DepositAccount, amount: Money, is_deposit: bool, reference: str, actor: str
) -> str:
    """Cash paid in or out at a branch counter: vault cash ↔ the customer's account.

    Returns the entry's public id (``queries.entry_public_id``). ``reference`` (the teller's
    slip number) is the ledger idempotency key, so a slip is booked once. Errors (translated,
    never naming ledger ids): ``validation_error``, ``account_not_active``,
    ``insufficient_funds`` (withdrawal).
    """
    if not 1 <= len(reference) <= KEY_MAX_LENGTH - 16:
        message = gettext("The slip number is required.")
        raise InvalidInput(message, errors=[FieldError("reference", message)])
    cash = chart.bank_account_code("cash", account.currency)
    with transaction.atomic():
        locked = queries.lock_account(account)
        if not ledger_queries.transfers_by_keys(LEDGER_CLIENT, [f"teller:{reference}"]):
            cash_problems(locked, amount, is_deposit=is_deposit)  # a booked slip replays
        chart.ensure_chart_of_accounts((account.currency,))
        (posted,) = post_to_ledger(
            [
                TransferRequest(
                    key=f"teller:{reference}",
                    debit_account=cash if is_deposit else account.ledger_account_id,
                    credit_account=account.ledger_account_id if is_deposit else cash,
                    amount=amount,
                    code="cash.deposit" if is_deposit else "cash.withdrawal",
                    metadata={"description": CASH_DESCRIPTIONS[is_deposit]},
                    value_date=business_date(),
                )
            ],
            actor=actor,
        )
        entry_id = queries.entry_public_id(posted)
        DepositAccount.objects.filter(pk=account.pk).update(last_activity_at=timezone.now())
        record_audit(
            "banking.teller_cash",
            target=account.public_id,
            after={"amount": amount.amount_minor, "deposit": is_deposit},
            details={"reference": reference[:64], "entry": entry_id},
            actor=actor,
        )
    return entry_id


# ---------------------------------------------------------------- cards

CARD_YEARS_VALID: Final = 5
CARD_LIMIT_MAX_MINOR: Final = 100_000_000


def issue_card(*, account: DepositAccount, actor: str) -> Card:
    """Issue a debit card for ``account``: a new number in the bank's BIN (Luhn), vaulted.

    Only the vault token and the last four digits are kept here. Errors:
    ``account_not_active``.
    """
    require_active(account, "account")
    today = business_date()
    with transaction.atomic():
        number = make_card_number(serial=_next_serial("card"))
        reference = vault_card(
            number=number,
            expiry_month=today.month,
            expiry_year=today.year + CARD_YEARS_VALID,
            actor=actor,
        )
        card = Card.objects.create(
            account=account,
            vault_token=reference.token,
            last_four=reference.last_four,
            expiry_month=reference.expiry_month,
            expiry_year=reference.expiry_year,
            issued_at=timezone.now(),
        )
        record_audit(
            "banking.card_issued",
            target=card.public_id,
            details={"account": account.public_id, "vault_token": reference.token},
            actor=actor,
        )
        record_event(
            "card.issued", aggregate_id=card.public_id, payload={"account_id": account.public_id}
        )
    return card


def set_card_frozen(*, card: Card, frozen: bool, actor: str) -> Card:
    """The holder freezes or unfreezes their card. A card blocked by the bank stays blocked.

    Errors: ``conflict`` (blocked by the bank, or already in that state).
    """
    target = CardStatus.FROZEN if frozen else CardStatus.ACTIVE
    with transaction.atomic():
        locked = Card.objects.select_for_update().get(pk=card.pk)
        if locked.status == CardStatus.BLOCKED:
            raise Conflict("The bank has blocked this card; call the bank.")
        if locked.status == target:
            raise Conflict(f"The card is already {target}.")
        Card.objects.filter(pk=locked.pk).update(status=target)
        record_audit(
            "banking.card_status_changed",
            target=locked.public_id,
            before={"status": locked.status},
            after={"status": str(target)},
            actor=actor,
        )
        record_event(
            "card.status_changed", aggregate_id=locked.public_id, payload={"status": str(target)}
        )
    locked.status = target
    return locked


def set_card_limits(
    *, card: Card, per_transaction_minor: int, daily_minor: int, actor: str
) -> Card:
    """The holder sets the card's spending limits (at most 1,000,000.00 a day).

    Effects: the card's limits; audit ``banking.card_limits_changed`` (before and after).
    Callers ask for a one-time code first (purpose ``banking.card_limits``).
    Errors: ``validation_error`` (negative, per transaction above daily, above the maximum).
    """
    problems = []
    if per_transaction_minor < 0 or daily_minor < 0:
        problems.append(FieldError("daily_limit", "Limits cannot be negative."))
    elif per_transaction_minor > daily_minor:
        problems.append(FieldError("per_transaction_limit", "Above the daily limit."))
    elif daily_minor > CARD_LIMIT_MAX_MINOR:
        problems.append(FieldError("daily_limit", "Above the bank's maximum."))
    if problems:
        raise InvalidInput(problems[0].message, errors=problems)
    with transaction.atomic():
        Card.objects.filter(pk=card.pk).update(
            per_transaction_limit_minor=per_transaction_minor, daily_limit_minor=daily_minor
        )
        record_audit(
            "banking.card_limits_changed",
            target=card.public_id,
            before={"per": card.per_transaction_limit_minor, "daily": card.daily_limit_minor},
            after={"per": per_transaction_minor, "daily": daily_minor},
            actor=actor,
        )
    card.per_transaction_limit_minor = per_transaction_minor
    card.daily_limit_minor = daily_minor
    return card


# ---------------------------------------------------------------- card payments

CARD_HOLD_SECONDS: Final = 7 * 24 * 3600


@dataclass(frozen=True, slots=True)
class CardPayment:
    """What a card scheme asks the bank to approve: an amount at a merchant."""

    amount: Money
    merchant: str

    def digest(self, card_id: str) -> str:
        canonical = json.dumps(
            {
                "card": card_id,
                "amount": self.amount.amount_minor,
                "currency": self.amount.currency,
                "merchant": self.merchant,
            },
            sort_keys=True,
        )
        return hashlib.sha256(canonical.encode()).hexdigest()


def _card_problems(card: Card, account: DepositAccount, payment: CardPayment, day: dt.date) -> None:
    """Card checks in decline order: status, expiry, account, currency, card limits."""
    if card.status != CardStatus.ACTIVE:
        message = f"The card is {card.status}."
        raise CardNotUsable(message, extra={"reason": f"card_{card.status}"})
    if (card.expiry_year, card.expiry_month) < (day.year, day.month):
        raise CardNotUsable("The card has expired.", extra={"reason": "card_expired"})
    require_active(account, "card")
    if payment.amount.currency != account.currency:
        message = f"The card's account holds {account.currency}."
        raise InvalidInput(message, errors=[FieldError("amount.currency", message)])
    if payment.amount.amount_minor > card.per_transaction_limit_minor:
        raise LimitExceeded(
            "The amount is above the card's per-purchase limit of "
            f"{Money(card.per_transaction_limit_minor, account.currency)}.",
            extra={"limit": card.per_transaction_limit_minor, "period": "card_transaction"},
        )
    today = CardAuthorisation.objects.filter(card=card, business_date=day)
    used = _sum(today.filter(status=CardAuthorisationStatus.AUTHORISED), "amount_minor") + _sum(
        today.filter(status=CardAuthorisationStatus.CAPTURED), "captured_minor"
    )
    if used + payment.amount.amount_minor > card.daily_limit_minor:
        raise LimitExceeded(
            "The amount would exceed the card's daily limit of "
            f"{Money(card.daily_limit_minor, account.currency)}.",
            extra={"limit": card.daily_limit_minor, "period": "card_day", "used": used},
        )


def authorise_card_payment(
    *, card: Card, payment: CardPayment, idempotency_key: str, actor: str
) -> CardAuthorisation:
    """Approve a card payment: check the card and every limit, then hold the money.

    Checks, in order: the card is active (not frozen by the holder, not blocked by the bank)
    and not expired (valid through its expiry month); the account is active and in the
    payment's currency; the card's per-purchase and daily limits; the account's ``card``
    channel limits and its daily total across channels; then a pending ledger transfer (key
    ``card:<cau_…>:hold``, expiring after ``CARD_HOLD_SECONDS``) from the account to
    ``bank:card_settlement`` — the ledger refuses it when the available balance (plus
    overdraft) is too small. Idempotent per (card, key).
    Errors (nothing is held): ``validation_error``, ``card_not_usable`` (``extra.reason``
    ``card_frozen``, ``card_blocked``, ``card_expired``), ``account_not_active``,
    ``limit_exceeded``, ``insufficient_funds``, ``idempotency_key_reused``.
    Effects: audit ``banking.card_authorised``, event ``card.authorised``.
    """
    problems = []
    if not 1 <= len(idempotency_key) <= KEY_MAX_LENGTH:
        problems.append(FieldError("idempotency_key", "1 to 128 characters."))
    if not payment.amount.is_positive:
        problems.append(FieldError("amount", "The amount must be positive."))
    if not 1 <= len(payment.merchant.strip()) <= NAME_MAX_LENGTH:
        problems.append(FieldError("merchant", "1 to 140 characters."))
    if problems:
        raise InvalidInput(problems[0].message, errors=problems)
    with transaction.atomic():
        locked_card = Card.objects.select_for_update().select_related("account").get(pk=card.pk)
        existing = CardAuthorisation.objects.filter(
            card=locked_card, idempotency_key=idempotency_key
        ).first()
        if existing is not None:
            if existing.request_digest != payment.digest(locked_card.public_id):
                raise IdempotencyKeyReused("This key was used for another card payment.")
            return existing
        account = queries.lock_account(locked_card.account)
        day = business_date()
        _card_problems(locked_card, account, payment, day)
        _check_limits(account, Channel.CARD, payment.amount, day)
        chart.ensure_chart_of_accounts((account.currency,))
        record = CardAuthorisation(
            card=locked_card,
            account=account,
            amount_minor=payment.amount.amount_minor,
            currency=payment.amount.currency,
            merchant=payment.merchant.strip(),
            idempotency_key=idempotency_key,
            request_digest=payment.digest(locked_card.public_id),
            business_date=day,
            created_at=timezone.now(),
        )
        (hold,) = post_to_ledger(
            [
                TransferRequest(
                    key=f"card:{record.public_id}:hold",
                    debit_account=account.ledger_account_id,
                    credit_account=chart.bank_account_code("card_settlement", account.currency),
                    amount=payment.amount,
                    pending=True,
                    timeout_seconds=CARD_HOLD_SECONDS,
                    code="card.authorisation",
                    reference=record.public_id,
                    metadata={"description": f"银行卡消费 Card payment {record.merchant}"[:140]},
                    value_date=day,
                )
            ],
            actor=actor,
        )
        # After this point the operation must succeed.
        record.ledger_hold_id = hold.id
        record.save(force_insert=True)
        DepositAccount.objects.filter(pk=account.pk).update(last_activity_at=record.created_at)
        record_audit(
            "banking.card_authorised",
            target=record.public_id,
            after={"amount": payment.amount.amount_minor, "currency": payment.amount.currency},
            details={"card": locked_card.public_id},
            actor=actor,
        )
        record_event(
            "card.authorised",
            aggregate_id=record.public_id,
            payload={
                "card_id": locked_card.public_id,
                "account_id": account.public_id,
                "amount": {
                    "amount": payment.amount.amount_minor,
                    "currency": payment.amount.currency,
                },
            },
        )
    return record


def _locked_authorisation(authorisation: CardAuthorisation) -> CardAuthorisation:
    locked = CardAuthorisation.objects.select_for_update().get(pk=authorisation.pk)
    if locked.status != CardAuthorisationStatus.AUTHORISED:
        raise Conflict(f"The card payment is already {locked.status}.")
    return locked


def capture_card_payment(
    *, authorisation: CardAuthorisation, amount: Money | None = None, actor: str
) -> CardAuthorisation:
    """Post a held card payment: the whole amount, or less (the rest is released).

    Errors (nothing changes): ``validation_error`` (not positive, above the authorised amount,
    another currency), ``conflict`` (already captured or voided; the hold expired).
    Effects: audit ``banking.card_captured``, event ``card.captured``.
    """
    with transaction.atomic():
        locked = _locked_authorisation(authorisation)
        captured = locked.amount if amount is None else amount
        if (
            captured.currency != locked.currency
            or not captured.is_positive
            or captured.amount_minor > locked.amount_minor
        ):
            message = f"Between 0 and {locked.amount} may be captured."
            raise InvalidInput(message, errors=[FieldError("amount", message)])
        if ledger_queries.get_transfer(locked.ledger_hold_id).status != "pending":
            raise Conflict("The card payment's hold has expired.")
        post_to_ledger(
            [
                TransferRequest(
                    key=f"card:{locked.public_id}:capture",
                    post_pending=locked.ledger_hold_id,
                    amount=captured,
                    value_date=business_date(),
                )
            ],
            actor=actor,
        )
        now = timezone.now()
        CardAuthorisation.objects.filter(pk=locked.pk).update(
            status=CardAuthorisationStatus.CAPTURED,
            captured_minor=captured.amount_minor,
            decided_at=now,
        )
        record_audit(
            "banking.card_captured",
            target=locked.public_id,
            after={"captured": captured.amount_minor},
            actor=actor,
        )
        record_event(
            "card.captured",
            aggregate_id=locked.public_id,
            payload={"amount": {"amount": captured.amount_minor, "currency": captured.currency}},
        )
    locked.status = CardAuthorisationStatus.CAPTURED
    locked.captured_minor = captured.amount_minor
    locked.decided_at = now
    return locked


def void_card_payment(*, authorisation: CardAuthorisation, actor: str) -> CardAuthorisation:
    """Release a held card payment (the merchant cancelled). Errors: ``conflict`` (already
    captured or voided). Effects: audit ``banking.card_voided``, event ``card.voided``."""
    with transaction.atomic():
        locked = _locked_authorisation(authorisation)
        if ledger_queries.get_transfer(locked.ledger_hold_id).status == "pending":
            post_to_ledger(
                [
                    TransferRequest(
                        key=f"card:{locked.public_id}:void", void_pending=locked.ledger_hold_id
                    )
                ],
                actor=actor,
            )
        now = timezone.now()
        CardAuthorisation.objects.filter(pk=locked.pk).update(
            status=CardAuthorisationStatus.VOIDED, decided_at=now
        )
        record_audit("banking.card_voided", target=locked.public_id, actor=actor)
        record_event("card.voided", aggregate_id=locked.public_id, payload={})
    locked.status = CardAuthorisationStatus.VOIDED
    locked.decided_at = now
    return locked


# ---------------------------------------------------------------- payees


def add_payee(
    *, customer: Customer, name: str, account_number: str, bank_code: str, actor: str
) -> Payee:
    """Save a payee. An account of this bank needs no bank code; another bank's does.

    For an account of this bank the name must be its holder's (``queries.confirm_payee``,
    confirmation of payee). Errors: ``validation_error`` (name), ``payee_account_invalid``
    (number or bank code), ``payee_name_close_match`` (with the holder's name masked),
    ``payee_name_mismatch``, ``conflict`` (this account number is already a payee).
    """
    number = "".join(account_number.split())
    code = bank_code.strip().upper()
    if not name.strip() or len(name) > NAME_MAX_LENGTH:
        raise InvalidInput(errors=[FieldError("name", "1 to 140 characters.")])
    if is_account_number(number):
        code = ""
        target = DepositAccount.objects.select_related("customer").filter(number=number).first()
        if target is None or target.status == DepositAccountStatus.CLOSED:
            message = "No such account at this bank."
            raise PayeeAccountInvalid(message, errors=[FieldError("account_number", message)])
        queries.confirm_payee(target, name, field="name")
    else:
        problems = queries.interbank_payee_problems(number, name, code)
        if problems:
            raise PayeeAccountInvalid(problems[0].message, errors=problems)
    with transaction.atomic():
        if Payee.objects.filter(customer=customer, account_number=number).exists():
            raise Conflict("This account is already one of your payees.")
        payee = Payee.objects.create(
            customer=customer,
            name=name.strip(),
            account_number=number,
            bank_code=code,
            created_at=timezone.now(),
        )
        record_audit(
            "banking.payee_added",
            target=payee.public_id,
            after={"account_number": number, "bank_code": code},
            actor=actor,
        )
    return payee


def remove_payee(*, payee: Payee, actor: str) -> None:
    """Delete a saved payee (past transfers keep their own copy of the details)."""
    with transaction.atomic():
        record_audit("banking.payee_removed", target=payee.public_id, actor=actor)
        payee.delete()


# ---------------------------------------------------------------- erasure

ERASED_NAME: Final = "erased"


def erase_customer_data(*, user_id: int, actor: str) -> None:
    """Anonymise what core banking holds about the customer of user ``user_id`` (called by
    ``security.privacy.erase_personal_data`` inside its transaction).

    Kept, as the law requires of a bank: accounts, their numbers and the ledger; transfers
    with their amounts, dates and account numbers; card payments' amounts. Anonymised: the
    KYC data (legal name → ``erased``; national ID, date of birth, phone, address, occupation
    emptied, so the blind indexes no longer find the person) and the payee names and free-text
    references of the customer's transfers and standing orders. Card payments' merchants stay
    (they name businesses). Saved payees are deleted, standing orders cancelled and cards
    blocked (nobody may act for an erased person). The customer's replayable API responses
    (``ApiIdempotencyRecord``, which can hold payee names) are deleted. Audit
    ``banking.customer_erased`` with ``api_idempotency_records_deleted`` (their count).
    """
    customer = Customer.objects.select_for_update().filter(user_id=user_id).first()
    if customer is None:
        return
    customer.legal_name = ERASED_NAME
    customer.national_id = customer.date_of_birth = customer.phone = ""
    customer.address = customer.occupation = ""
    customer.save()
    for record in Transfer.objects.filter(customer=customer).exclude(to_name="", reference=""):
        Transfer.objects.filter(pk=record.pk).update(to_name="", reference="")
    Payee.objects.filter(customer=customer).delete()
    StandingOrder.objects.filter(customer=customer).update(
        is_active=False, next_date=None, to_name="", reference=""
    )
    Card.objects.filter(account__customer=customer).update(status=CardStatus.BLOCKED)
    responses_deleted, _ = ApiIdempotencyRecord.objects.filter(customer=customer).delete()
    record_audit(
        "banking.customer_erased",
        target=customer.public_id,
        details={"api_idempotency_records_deleted": responses_deleted},
        actor=actor,
    )


# ---------------------------------------------------------------- API idempotency retention

IDEMPOTENCY_PURGE_BATCH: Final = 1000
IDEMPOTENCY_PURGE_BATCHES_MAX: Final = 1000


def purge_api_idempotency_records(*, actor: str, now: dt.datetime | None = None) -> int:
    """Delete the replayable API responses (``ApiIdempotencyRecord``) created more than
    ``API_IDEMPOTENCY_RETENTION_DAYS`` before ``now``; return how many went.

    A key used again after its record went is a new request. Transfers keep their own
    idempotency key for good (on ``Transfer`` and in the ledger); nothing here touches them.
    Effects: deletes in batches of ``IDEMPOTENCY_PURGE_BATCH`` rows, each batch in its own
    transaction with audit ``banking.api_idempotency_purged`` (its count), at most
    ``IDEMPOTENCY_PURGE_BATCHES_MAX`` batches a call (the next call goes on). Never fails on
    valid settings; a repeat deletes nothing more.
    """
    cutoff = (now or timezone.now()) - dt.timedelta(days=settings.API_IDEMPOTENCY_RETENTION_DAYS)
    expired = ApiIdempotencyRecord.objects.filter(created_at__lt=cutoff).order_by("pk")
    purged = 0
    for _batch in range(IDEMPOTENCY_PURGE_BATCHES_MAX):
        with transaction.atomic():
            ids = list(expired.values_list("pk", flat=True)[:IDEMPOTENCY_PURGE_BATCH])
            if not ids:
                break
            deleted, _by_model = ApiIdempotencyRecord.objects.filter(pk__in=ids).delete()
            record_audit(
                "banking.api_idempotency_purged",
                details={"count": deleted, "before": cutoff.isoformat()},
                actor=actor,
            )
        purged += deleted
        if len(ids) < IDEMPOTENCY_PURGE_BATCH:
            break
    return purged
