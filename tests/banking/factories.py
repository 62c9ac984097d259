"""Plain statement data for the format tests (no database needed)."""

from __future__ import annotations

import datetime as dt

from bankmall.banking.identifiers import make_account_number
from bankmall.banking.statements import Statement, StatementAccount, StatementEntry
from bankmall.core.money import Money

ACCOUNT_NUMBER = make_account_number(branch=1, serial=42)
COUNTERPARTY_NUMBER = make_account_number(branch=2, serial=7)
CREATED_AT = dt.datetime(2026, 11, 1, 2, 0, tzinfo=dt.UTC)


def cny(amount_minor: int) -> Money:
    return Money(amount_minor, "CNY")


def entry(
    entry_id: str, day: int, amount_minor: int, *, is_credit: bool, description: str
) -> StatementEntry:
    return StatementEntry(
        entry_id=entry_id,
        booking_date=dt.date(2026, 10, day),
        value_date=dt.date(2026, 10, day),
        amount=cny(amount_minor),
        is_credit=is_credit,
        description=description,
        counterparty_name="上海示例贸易有限公司",
        counterparty_account=COUNTERPARTY_NUMBER,
        reference=f"E2E-{entry_id}",
    )


def october_statement(**overrides: object) -> Statement:
    """October 2026 for 张伟: opening 1,000.00, +2,500.50 salary, -320.25 rent, -=1.00 fee."""
    values: dict[str, object] = {
        "statement_id": "stm_01jd0000000000000000000000",
        "account": StatementAccount(
            number=ACCOUNT_NUMBER, currency="CNY", owner_name="张伟", name="活期账户 Current"
        ),
        "period_start": dt.date(2026, 10, 1),
        "period_end": dt.date(2026, 10, 31),
        "opening_balance": cny(100_000),
        "closing_balance": cny(100_000 + 250_050 - 32_025 - 100),
        "entries": (
            entry("trf_a1", 5, 250_050, is_credit=True, description="十月工资 salary"),
            entry("trf_a2", 10, 32_025, is_credit=False, description="房租 rent"),
            entry("trf_a3", 31, 100, is_credit=False, description="=HYPERLINK(fee)"),
        ),
        "created_at": CREATED_AT,
    }
    values.update(overrides)
    return Statement(**values)  # type: ignore[arg-type]
