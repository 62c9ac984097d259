"""Template filters for the net bank: money in the reader's language, masked numbers."""

from __future__ import annotations

from django import template
from django.utils.translation import get_language

from bankmall.banking.chart import counterparty_label
from bankmall.banking.identifiers import format_account_number, mask_account_number
from bankmall.banking.queries import AccountEntry
from bankmall.core.money import Money

register = template.Library()


@register.filter
def money(value: Money) -> str:
    """``¥1,234.50`` / ``CN¥1,234.50`` in the active language."""
    return value.format(get_language() or "en")


@register.filter
def account_number(value: str) -> str:
    """The customer's own account number in groups of four."""
    return format_account_number(value)


@register.filter
def masked_account(value: str) -> str:
    return mask_account_number(value)


@register.filter
def minor_money(amount_minor: int, currency: str) -> str:
    """An amount stored in minor units, formatted: ``{{ limit.daily_minor|minor_money:"CNY" }}``."""
    return money(Money(int(amount_minor), currency))


@register.filter
def counterparty(entry: AccountEntry) -> str:
    """The other side of a history entry: an account number in groups of four, or the
    bank's own account by purpose in the reader's language ("Interest from the bank")."""
    if entry.counterparty_account:
        number = entry.counterparty_account
        return format_account_number(number) if number.isdigit() else number
    return counterparty_label(entry.counterparty_bank_account)
