"""The demo bank's customers, accounts and months of history (called by ``bankmall seed``).

History is written through the ledger's batch path (``create_transfers`` with up to 8,190
transfers per call), in date order, with deterministic keys: a re-run posts nothing twice.
Amounts are simulated per account so no posting ever overdraws.
"""

from __future__ import annotations

import datetime as dt
import random
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Final

from django.utils import timezone
from stdnum.cn import ric, uscc

from bankmall.banking import actions, chart
from bankmall.banking.actions import KycData
from bankmall.banking.models import (
    AccountProduct,
    Customer,
    CustomerKind,
    DepositAccount,
    KycStatus,
    RiskRating,
)
from bankmall.core.money import Money
from bankmall.ledger import queries as ledger_queries
from bankmall.ledger.actions import TransferRequest, create_transfers
from bankmall.ledger.errors import TransferNotFound
from bankmall.ledger.values import BATCH_MAX
from bankmall.security.models import User

Progress = Callable[[str, int, int], None]
SEED_CLIENT: Final = "banking.seed"
MERCHANTS: Final = (
    ("超市购物 Supermarket", 3_000, 60_000),
    ("餐饮 Restaurant", 2_000, 30_000),
    ("网上商城 Online mall", 5_000, 150_000),
    ("交通出行 Transport", 500, 8_000),
    ("水电燃气 Utilities", 8_000, 40_000),
    ("话费充值 Phone top-up", 3_000, 20_000),
)
EXTERNAL_PAYER: Final = "6222020200112233445"


@dataclass
class _Book:
    """Simulated balances and the transfers to write, in date order."""

    balances: dict[str, int] = field(default_factory=dict)
    requests: list[tuple[dt.date, TransferRequest]] = field(default_factory=list)

    def add(
        self,
        key: str,
        day: dt.date,
        *,
        debit: DepositAccount | str,
        credit: DepositAccount | str,
        amount: Money,
        code: str,
        description: str,
        counterparty: str = "",
    ) -> None:
        if isinstance(debit, DepositAccount):
            if self.balances.get(debit.number, 0) < amount.amount_minor:
                return  # The simulated customer does not overdraw; skip the payment.
            self.balances[debit.number] -= amount.amount_minor
        if isinstance(credit, DepositAccount):
            self.balances[credit.number] = self.balances.get(credit.number, 0) + amount.amount_minor
        metadata = {"description": description}
        if counterparty:
            metadata["counterparty_account"] = counterparty
        self.requests.append(
            (
                day,
                TransferRequest(
                    key=key,
                    debit_account=_ledger(debit),
                    credit_account=_ledger(credit),
                    amount=amount,
                    code=code,
                    metadata=metadata,
                    value_date=day,
                ),
            )
        )


def _ledger(side: DepositAccount | str) -> str:
    return side.ledger_account_id if isinstance(side, DepositAccount) else side


SURNAMES: Final = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗"
GIVEN_NAMES: Final = "伟芳娜敏静丽强磊军洋勇艳杰娟涛明超秀英华"
REGIONS: Final = ("110101", "310101", "110105", "310104")
CITIES: Final = ("北京市东城区", "上海市黄浦区", "北京市朝阳区", "上海市徐汇区")
TRADES: Final = ("贸易", "科技", "餐饮", "物流", "服装")
OCCUPATIONS: Final = ("教师", "工程师", "医生", "会计", "销售", "设计师")


def demo_kyc(index: int, kind: CustomerKind, rng: random.Random) -> KycData:
    """Made-up but well-formed KYC data: valid check digits, plausible names and addresses."""
    region = rng.randrange(len(REGIONS))
    address = f"{CITIES[region]}示范路{rng.randrange(1, 999)}号"
    phone = f"13{rng.randrange(100_000_000, 999_999_999)}"
    if kind == CustomerKind.COMPANY:
        body = f"91{REGIONS[region][:2]}0000MA{index:07d}"
        return KycData(
            legal_name=f"{CITIES[region][:2]}示范{rng.choice(TRADES)}有限公司{index}",
            national_id=body + uscc.calc_check_digit(body + "0"),
            phone=phone,
            address=address,
            occupation=f"{rng.choice(TRADES)}经营",
        )
    birth = dt.date(1960, 1, 1) + dt.timedelta(days=rng.randrange(0, 365 * 44))
    body = f"{REGIONS[region]}{birth:%Y%m%d}{index % 1000:03d}"
    return KycData(
        legal_name=rng.choice(SURNAMES) + rng.choice(GIVEN_NAMES) + rng.choice(GIVEN_NAMES),
        national_id=body + ric.calc_check_digit(body + "0"),
        phone=phone,
        address=address,
        occupation=rng.choice(OCCUPATIONS),
    )


def _open_customers(count: int, rng: random.Random, progress: Progress) -> list[Customer]:
    existing = list(Customer.objects.order_by("pk"))
    logins = list(
        User.objects.filter(kind="customer", banking_customer__isnull=True).order_by("pk")
    )
    customers = existing[:]
    for index in range(len(existing), max(count, len(existing) + len(logins))):
        user = logins.pop(0) if logins else None
        kind = CustomerKind.COMPANY if index % 10 == 9 else CustomerKind.INDIVIDUAL  # noqa: PLR2004
        customer = actions.open_customer(
            kind=kind,
            kyc=demo_kyc(index, kind, rng),
            user_id=user.pk if user is not None else None,
            risk_rating=rng.choice(list(RiskRating)),
            kyc_status=KycStatus.VERIFIED if user is not None or index % 7 else KycStatus.PENDING,
            branch=1 + index % 3,
            actor="seed",
        )
        customers.append(customer)
        progress("customers", index + 1, count)
    return customers


def _open_accounts(customers: list[Customer], rng: random.Random) -> list[DepositAccount]:
    accounts: list[DepositAccount] = []
    for customer in customers:
        if customer.accounts.exists():
            accounts.extend(customer.accounts.order_by("pk"))
            continue
        accounts.append(
            actions.open_account(customer=customer, product=AccountProduct.CURRENT, actor="seed")
        )
        if rng.random() < 0.4:  # noqa: PLR2004
            accounts.append(
                actions.open_account(
                    customer=customer,
                    product=AccountProduct.SAVINGS,
                    interest_rate_percent=Decimal("1.2500"),
                    actor="seed",
                )
            )
    return accounts


def _issue_cards(accounts: list[DepositAccount]) -> None:
    """A debit card on every customer login's current account and on every fifth other one."""
    for index, account in enumerate(accounts):
        wanted = account.customer.user_id is not None or index % 5 == 0
        if account.product == AccountProduct.CURRENT and wanted and not account.cards.exists():
            actions.issue_card(account=account, actor="seed")


def _days(start: dt.date, end: dt.date) -> Iterator[dt.date]:
    day = start
    while day <= end:
        yield day
        day += dt.timedelta(days=1)


def _history(accounts: list[DepositAccount], months: int, rng: random.Random) -> _Book:
    today = timezone.localdate()
    start = (today.replace(day=1) - dt.timedelta(days=30 * (months - 1))).replace(day=1)
    book = _Book()
    current = [a for a in accounts if a.product == AccountProduct.CURRENT]
    clearing = chart.bank_account_code("clearing", "CNY")
    for day in _days(start, today):
        for account in current:
            if day.day == 1 or (day == start):
                salary = Money(rng.randrange(600_000, 3_000_000, 100), "CNY")
                book.add(
                    f"seed:salary:{account.number}:{day}",
                    day,
                    debit=clearing,
                    credit=account,
                    amount=salary,
                    code="transfer.incoming",
                    description="工资 Salary",
                    counterparty=EXTERNAL_PAYER,
                )
            if rng.random() < 0.25:  # noqa: PLR2004
                name, low, high = rng.choice(MERCHANTS)
                book.add(
                    f"seed:pay:{account.number}:{day}",
                    day,
                    debit=account,
                    credit=clearing,
                    amount=Money(rng.randrange(low, high), "CNY"),
                    code="card.payment",
                    description=name,
                )
            if rng.random() < 0.03:  # noqa: PLR2004
                payee = rng.choice(current)
                if payee is not account:
                    book.add(
                        f"seed:p2p:{account.number}:{day}",
                        day,
                        debit=account,
                        credit=payee,
                        amount=Money(rng.randrange(5_000, 200_000, 100), "CNY"),
                        code="transfer.internal",
                        description="转账 Transfer",
                    )
        if day == start:
            _savings_top_ups(book, accounts, rng, day)
        if day.day == 21:  # noqa: PLR2004 - interest is posted monthly on the 21st
            _interest(book, accounts, day)
    return book


def _interest(book: _Book, accounts: list[DepositAccount], day: dt.date) -> None:
    expense = chart.bank_account_code("interest_expense", "CNY")
    for account in accounts:
        if account.product != AccountProduct.SAVINGS:
            continue
        balance = book.balances.get(account.number, 0)
        interest = Money(balance, "CNY").percentage(
            account.interest_rate_percent / Decimal(1200), rounding="ROUND_HALF_EVEN"
        )
        if interest.is_positive:
            book.add(
                f"seed:interest:{account.number}:{day}",
                day,
                debit=expense,
                credit=account,
                amount=interest,
                code="interest.credit",
                description="利息 Interest",
            )


def _savings_top_ups(
    book: _Book, accounts: list[DepositAccount], rng: random.Random, day: dt.date
) -> None:
    by_customer: dict[int, list[DepositAccount]] = {}
    for account in accounts:
        by_customer.setdefault(account.customer_id, []).append(account)
    for owned in by_customer.values():
        current = next((a for a in owned if a.product == AccountProduct.CURRENT), None)
        savings = next((a for a in owned if a.product == AccountProduct.SAVINGS), None)
        if current is None or savings is None:
            continue
        book.add(
            f"seed:save:{savings.number}",
            day,
            debit=current,
            credit=savings,
            amount=Money(rng.randrange(100_000, 500_000, 100), "CNY"),
            code="transfer.own",
            description="存入储蓄 To savings",
        )


def _already_posted(key: str) -> bool:
    try:
        ledger_queries.transfer_by_key(SEED_CLIENT, key)
    except TransferNotFound:
        return False
    return True


def seed_bank(*, customers: int, months: int, progress: Progress) -> str:
    """Create ``customers`` customers with accounts and ``months`` months of history."""
    rng = random.Random(20261127)  # noqa: S311 - demo data, not security
    chart.ensure_chart_of_accounts()
    opened = _open_customers(customers, rng, progress)
    accounts = _open_accounts(opened, rng)
    progress("accounts", len(accounts), len(accounts))
    _issue_cards(accounts)
    book = _history(accounts, months, random.Random(months))  # noqa: S311
    ordered = [request for _day, request in sorted(book.requests, key=lambda item: item[0])]
    if ordered and _already_posted(ordered[0].key):
        return f"{len(opened)} customers, {len(accounts)} accounts, history already seeded"
    for start in range(0, len(ordered), BATCH_MAX):
        create_transfers(ordered[start : start + BATCH_MAX], client=SEED_CLIENT, actor="seed")
        progress("history", min(start + BATCH_MAX, len(ordered)), len(ordered))
    return f"{len(opened)} customers, {len(accounts)} accounts, {len(ordered)} postings"
