"""The bank's own ledger accounts (its chart of accounts), one set per currency.

| purpose | ledger kind | what it holds |
|---|---|---|
| ``cash`` | asset | notes and coins in the branches' vaults (teller deposits and withdrawals) |
| ``clearing`` | asset | the bank's position at the clearing house (other banks' payments) |
| ``interest_expense`` | expense | interest paid to depositors |
| ``fee_income`` | income | fees charged to customers |
| ``suspense`` | liability | money received that cannot be booked yet (unknown beneficiary) |
| ``escrow`` | liability | money held for a third party until a condition is met (mall orders) |
| ``card_settlement`` | liability | card payments captured and owed to the card scheme / acquirers |
| ``capital`` | equity | the owners' funds (the demo bank's opening vault cash comes from here) |

Customer deposit accounts are liability accounts coded ``deposit:<account number>``.
"""

from __future__ import annotations

from typing import Final

from bankmall.ledger.actions import AccountSpec, create_accounts

CHART: Final = {
    "cash": ("asset", "Vault cash"),
    "clearing": ("asset", "Clearing house position"),
    "interest_expense": ("expense", "Interest paid on deposits"),
    "fee_income": ("income", "Fee income"),
    "suspense": ("liability", "Suspense"),
    "escrow": ("liability", "Escrow"),
    "card_settlement": ("liability", "Card payments owed to acquirers"),
    "capital": ("equity", "Capital"),
}
CURRENCIES: Final = ("CNY", "USD", "EUR", "HKD")


def bank_account_code(purpose: str, currency: str) -> str:
    """The ledger code of the bank's ``purpose`` account in ``currency`` (``bank:cash:CNY``)."""
    if purpose not in CHART:
        raise ValueError(f"no bank account for {purpose!r}")
    return f"bank:{purpose}:{currency}"


def deposit_account_code(number: str) -> str:
    return f"deposit:{number}"


def ensure_chart_of_accounts(currencies: tuple[str, ...] = CURRENCIES) -> dict[str, str]:
    """Create the bank's accounts for ``currencies`` where missing; return code → ledger id.

    Idempotent: the ledger returns existing accounts with the same attributes.
    """
    specs = [
        AccountSpec(
            code=bank_account_code(purpose, currency),
            currency=currency,
            kind=kind,
            name=f"{name} ({currency})",
        )
        for currency in currencies
        for purpose, (kind, name) in CHART.items()
    ]
    return {view.code: view.id for view in create_accounts(specs, actor="banking")}


def bank_account_names() -> dict[str, str]:
    """``bank:<purpose>:<currency>`` → the English name shown as a counterparty."""
    return {
        bank_account_code(purpose, currency): name
        for currency in CURRENCIES
        for purpose, (_kind, name) in CHART.items()
    }
