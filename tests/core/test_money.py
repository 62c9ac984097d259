"""Money holds integer minor units of one ISO 4217 currency and rounds only where asked."""

from __future__ import annotations

import copy
import dataclasses
import decimal
import pickle
from decimal import Decimal

import pytest
from django.utils import translation
from hypothesis import given
from hypothesis import strategies as st

from bankmall.core.money import (
    CurrencyMismatch,
    InexactAmount,
    Money,
    UnknownCurrency,
    currency_info,
)


def test_money_keeps_integer_minor_units_and_code() -> None:
    money = Money(12345, "CNY")

    assert money.amount_minor == 12345
    assert money.currency == "CNY"
    assert money.to_decimal() == Decimal("123.45")
    assert str(money) == "123.45 CNY"


@pytest.mark.parametrize("amount", [12.5, 12.0, Decimal("12"), "12", True, None])
def test_money_refuses_anything_but_int_amounts(amount: object) -> None:
    with pytest.raises(TypeError, match="int of minor units"):
        Money(amount, "CNY")  # type: ignore[arg-type]


@pytest.mark.parametrize("code", ["cny", "XXX", "XAU", "ABC", "CN", "CNYY", "", "元"])
def test_money_refuses_codes_that_cannot_hold_money(code: str) -> None:
    with pytest.raises(UnknownCurrency):
        Money(1, code)


def test_money_is_a_frozen_value_that_copies_and_pickles_as_itself() -> None:
    money = Money(12345, "CNY")

    assert money == Money(12345, "CNY") != Money(12345, "USD")
    assert hash(money) == hash(Money(12345, "CNY"))
    assert repr(money) == "Money(amount_minor=12345, currency='CNY')"
    assert pickle.loads(pickle.dumps(money)) == copy.deepcopy(money) == money  # noqa: S301
    assert dataclasses.replace(money, amount_minor=1) == Money(1, "CNY")
    with pytest.raises(dataclasses.FrozenInstanceError):
        money.currency = "USD"  # type: ignore[misc]
    with pytest.raises(TypeError, match="int of minor units"):
        dataclasses.replace(money, amount_minor=1.5)
    with pytest.raises(UnknownCurrency):  # Checked again: only accepted codes are remembered.
        Money(1, "cny")


def test_an_unknown_currency_is_named_in_the_active_language() -> None:
    with pytest.raises(UnknownCurrency) as in_english:
        currency_info("ABC")
    with translation.override("zh-hans"), pytest.raises(UnknownCurrency) as in_chinese:
        currency_info("ABC")
    with translation.override("zh-hans"), pytest.raises(UnknownCurrency) as no_minor_unit:
        currency_info("XAU")
    assert in_english.value.detail == "'ABC' is not an ISO 4217 currency code"
    assert in_chinese.value.detail == "'ABC' 不是 ISO 4217 货币代码"
    assert no_minor_unit.value.detail == "XAU 没有辅币单位，不能在此用于金额"
    assert in_chinese.value.title == "Unknown currency"  # problem+json stays English


def test_currency_exponents_come_from_the_iso_table() -> None:
    assert currency_info("CNY").exponent == 2
    assert currency_info("CNY").numeric == 156
    assert currency_info("JPY").exponent == 0
    assert currency_info("KWD").exponent == 3
    assert currency_info("CLF").exponent == 4


def test_adding_or_comparing_different_currencies_is_refused() -> None:
    yuan = Money(100, "CNY")
    dollars = Money(100, "USD")

    with pytest.raises(CurrencyMismatch):
        _ = yuan + dollars
    with pytest.raises(CurrencyMismatch):
        _ = yuan - dollars
    with pytest.raises(CurrencyMismatch):
        _ = yuan < dollars


def test_money_refuses_float_arithmetic() -> None:
    with pytest.raises(TypeError):
        _ = Money(100, "CNY") * 1.5  # type: ignore[operator]
    with pytest.raises(TypeError):
        Money.from_decimal(1.1, "CNY")  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        Money(100, "CNY").percentage(0.1, rounding=decimal.ROUND_HALF_UP)  # type: ignore[arg-type]


def test_same_currency_arithmetic_is_exact() -> None:
    assert Money(150, "CNY") + Money(50, "CNY") == Money(200, "CNY")
    assert Money(150, "CNY") - Money(200, "CNY") == Money(-50, "CNY")
    assert Money(150, "CNY") * 3 == Money(450, "CNY")
    assert -Money(150, "CNY") == Money(-150, "CNY")
    assert Money(1, "CNY") < Money(2, "CNY")


def test_from_decimal_is_exact_unless_a_rounding_mode_is_named() -> None:
    assert Money.from_decimal("12.34", "CNY") == Money(1234, "CNY")
    assert Money.from_decimal(Decimal("7"), "JPY") == Money(7, "JPY")
    with pytest.raises(InexactAmount):
        Money.from_decimal("12.345", "CNY")
    with pytest.raises(InexactAmount):
        Money.from_decimal("1.5", "JPY")
    with pytest.raises(InexactAmount):
        Money.from_decimal("NaN", "CNY")
    with pytest.raises(InexactAmount):
        Money.from_decimal("twelve", "CNY")


def test_from_decimal_rounds_with_the_named_mode() -> None:
    assert Money.from_decimal("12.345", "CNY", rounding=decimal.ROUND_HALF_UP) == Money(1235, "CNY")
    assert Money.from_decimal("12.345", "CNY", rounding=decimal.ROUND_HALF_EVEN) == Money(
        1234, "CNY"
    )
    assert Money.from_decimal("12.345", "CNY", rounding=decimal.ROUND_DOWN) == Money(1234, "CNY")
    with pytest.raises(ValueError, match="rounding"):
        Money.from_decimal("12.345", "CNY", rounding="ROUND_SOMETIMES")


def test_percentage_needs_an_explicit_rounding_mode() -> None:
    fee = Money(10_005, "CNY").percentage(Decimal("0.006"), rounding=decimal.ROUND_HALF_UP)
    fee_even = Money(250, "CNY").percentage(Decimal("0.01"), rounding=decimal.ROUND_HALF_EVEN)

    assert fee == Money(60, "CNY")
    assert fee_even == Money(2, "CNY")


@given(
    amount=st.integers(min_value=-(10**15), max_value=10**15),
    weights=st.lists(st.integers(min_value=0, max_value=1000), min_size=1, max_size=12).filter(
        lambda ws: sum(ws) > 0
    ),
)
def test_allocate_never_creates_or_loses_a_minor_unit(amount: int, weights: list[int]) -> None:
    parts = Money(amount, "CNY").allocate(weights)

    assert sum(part.amount_minor for part in parts) == amount
    assert len(parts) == len(weights)
    for part, weight in zip(parts, weights, strict=True):
        exact = Decimal(abs(amount)) * weight / sum(weights)
        assert abs(abs(part.amount_minor) - exact) < 1 + len(weights)


def test_allocate_refuses_bad_weights() -> None:
    with pytest.raises(ValueError, match="weights"):
        Money(100, "CNY").allocate([])
    with pytest.raises(ValueError, match="weights"):
        Money(100, "CNY").allocate([0, 0])
    with pytest.raises(ValueError, match="weights"):
        Money(100, "CNY").allocate([1, -1])


@pytest.mark.parametrize(
    ("money", "locale", "expected"),
    [
        (Money(123456789, "CNY"), "en", "CN¥1,234,567.89"),
        (Money(123456789, "CNY"), "zh-hans", "¥1,234,567.89"),
        (Money(-5, "CNY"), "zh-hans", "-¥0.05"),
        (Money(1234, "JPY"), "en", "¥1,234"),
        (Money(1234, "KWD"), "en", "KWD1.234"),
        (Money(100, "USD"), "zh-hans", "US$1.00"),
    ],
)
def test_format_is_locale_aware_with_iso_decimal_places(
    money: Money, locale: str, expected: str
) -> None:
    assert money.format(locale).replace("\xa0", " ") == expected
