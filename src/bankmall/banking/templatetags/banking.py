"""Template filters for the net bank: money in the reader's language, masked numbers."""

from __future__ import annotations

from django import template
from django.utils.translation import get_language

from bankmall.banking.identifiers import format_account_number, mask_account_number
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
