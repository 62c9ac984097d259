"""Money: an integer amount in a currency's minor units plus its ISO 4217 code.

Guarantees:
- ``amount_minor`` is always a Python ``int`` (never ``bool``, ``float`` or ``Decimal``).
- ``currency`` is always an active ISO 4217 alphabetic code that has minor units (funds, metals
  and "no currency" codes such as ``XAU`` or ``XXX`` are refused).
- Arithmetic between two amounts refuses different currencies with ``CurrencyMismatch``.
- Nothing rounds unless the caller names a rounding mode (``from_decimal``, ``percentage``).

The currency table is the ISO 4217 "list one" shipped by the ``iso4217`` package.
"""

from __future__ import annotations

import decimal
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from functools import cache
from typing import Final, Self

from babel import Locale
from babel.numbers import parse_pattern
from django.utils.translation import gettext
from iso4217 import Currency

from bankmall.core.errors import BankmallError

CODE_LENGTH: Final = 3
ROUNDING_MODES: Final = frozenset(
    {
        decimal.ROUND_HALF_UP,
        decimal.ROUND_HALF_EVEN,
        decimal.ROUND_DOWN,
        decimal.ROUND_UP,
        decimal.ROUND_FLOOR,
        decimal.ROUND_CEILING,
        decimal.ROUND_HALF_DOWN,
    }
)


class CurrencyMismatch(BankmallError):
    code = "currency_mismatch"
    status = 422
    title = "Currencies differ"


class UnknownCurrency(BankmallError):
    code = "unknown_currency"
    status = 422
    title = "Unknown currency"


class InexactAmount(BankmallError):
    code = "inexact_amount"
    status = 422
    title = "Amount has more decimal places than the currency allows"


@dataclass(frozen=True, slots=True)
class CurrencyInfo:
    """One row of ISO 4217 list one."""

    code: str
    numeric: int
    exponent: int
    name: str


def _not_a_currency(code: object) -> str:
    """Translated when raised: a form or page shows it in the reader's language."""
    return gettext("%(code)s is not an ISO 4217 currency code") % {"code": repr(code)}


@cache
def currency_info(code: str) -> CurrencyInfo:
    """Return the ISO 4217 row for ``code``; raise ``UnknownCurrency`` for anything else.

    Codes are case-sensitive upper-case, as ISO 4217 writes them.
    """
    if (
        not isinstance(code, str)
        or len(code) != CODE_LENGTH
        or not code.isascii()
        or not code.isupper()
    ):
        raise UnknownCurrency(_not_a_currency(code))
    try:
        row = Currency(code)
    except ValueError:
        raise UnknownCurrency(_not_a_currency(code)) from None
    if row.exponent is None or row.number is None:
        message = gettext("%(code)s has no minor unit and cannot hold money here")
        raise UnknownCurrency(message % {"code": code})
    return CurrencyInfo(
        code=code, numeric=row.number, exponent=row.exponent, name=row.currency_name
    )


@dataclass(frozen=True, slots=True, order=False, init=False)
class Money:
    """An amount of money: integer minor units and an ISO 4217 currency code."""

    amount_minor: int
    currency: str

    def __init__(self, amount_minor: int, currency: str) -> None:
        # The dataclass's own __init__, with its checks, cheaper: dataclasses would look
        # ``object.__setattr__`` up for each field and call a ``__post_init__``, and the
        # currency's row is only read once per code.
        if type(amount_minor) is not int:
            raise TypeError(
                f"Money amount must be an int of minor units, not {type(amount_minor).__name__}"
            )
        if currency not in _CHECKED_CODES:
            currency_info(currency)
            _CHECKED_CODES.add(currency)
        _set_amount_minor(self, amount_minor)
        _set_currency(self, currency)

    # ------------------------------------------------------------ construction

    @classmethod
    def zero(cls, currency: str) -> Self:
        return cls(0, currency)

    @classmethod
    def from_decimal(
        cls, value: Decimal | str, currency: str, *, rounding: str | None = None
    ) -> Self:
        """Convert a major-unit decimal (``"12.34"``) to minor units.

        Without ``rounding`` a value with more decimal places than the currency has raises
        ``InexactAmount``; with it, the value is quantised using that ``decimal`` mode.
        Floats are refused: they cannot represent most decimal amounts exactly.
        """
        if not isinstance(value, Decimal | str):
            raise TypeError("Money.from_decimal takes a Decimal or a str, never a float")
        try:
            number = Decimal(value)
        except decimal.InvalidOperation:
            raise InexactAmount(f"{value!r} is not a decimal number") from None
        if not number.is_finite():
            raise InexactAmount(f"{value!r} is not a finite amount")
        exponent = currency_info(currency).exponent
        scaled = number.scaleb(exponent)
        if scaled != scaled.to_integral_value():
            if rounding is None:
                raise InexactAmount(
                    f"{value} {currency} has more than {exponent} decimal places",
                )
            _check_rounding(rounding)
            scaled = scaled.to_integral_value(rounding=rounding)
        return cls(int(scaled), currency)

    # ------------------------------------------------------------ conversion

    @property
    def exponent(self) -> int:
        return currency_info(self.currency).exponent

    def to_decimal(self) -> Decimal:
        """The amount in major units, exactly: ``Money(1234, "CNY")`` gives ``Decimal("12.34")``."""
        return Decimal(self.amount_minor).scaleb(-self.exponent)

    def format(self, locale: str = "en") -> str:
        """Format for people in ``locale`` (``en``, ``zh-hans``, ``zh_Hans_CN`` …).

        Always shows exactly the currency's ISO decimal places.
        """
        return _format(self.to_decimal(), self.currency, self.exponent, _babel_locale(locale))

    def __str__(self) -> str:
        return f"{self.to_decimal():f} {self.currency}"

    # ------------------------------------------------------------ arithmetic

    def _same_currency(self, other: object) -> Money:
        if not isinstance(other, Money):
            raise TypeError(f"cannot combine Money with {type(other).__name__}")
        if other.currency != self.currency:
            raise CurrencyMismatch(f"{self.currency} and {other.currency} cannot be combined")
        return other

    def __add__(self, other: Money) -> Money:
        return Money(self.amount_minor + self._same_currency(other).amount_minor, self.currency)

    def __sub__(self, other: Money) -> Money:
        return Money(self.amount_minor - self._same_currency(other).amount_minor, self.currency)

    def __neg__(self) -> Money:
        return Money(-self.amount_minor, self.currency)

    def __abs__(self) -> Money:
        return Money(abs(self.amount_minor), self.currency)

    def __mul__(self, factor: int) -> Money:
        if type(factor) is not int:
            raise TypeError("Money can only be multiplied by an int; use percentage() for rates")
        return Money(self.amount_minor * factor, self.currency)

    __rmul__ = __mul__

    def __lt__(self, other: Money) -> bool:
        return self.amount_minor < self._same_currency(other).amount_minor

    def __le__(self, other: Money) -> bool:
        return self.amount_minor <= self._same_currency(other).amount_minor

    def __gt__(self, other: Money) -> bool:
        return self.amount_minor > self._same_currency(other).amount_minor

    def __ge__(self, other: Money) -> bool:
        return self.amount_minor >= self._same_currency(other).amount_minor

    @property
    def is_zero(self) -> bool:
        return self.amount_minor == 0

    @property
    def is_positive(self) -> bool:
        return self.amount_minor > 0

    def percentage(self, rate: Decimal, *, rounding: str) -> Money:
        """``self * rate`` in minor units, rounded with the named ``decimal`` mode.

        ``rate`` is a fraction (``Decimal("0.006")`` is 0.6 %). A rate must be a ``Decimal``.
        """
        if not isinstance(rate, Decimal):
            raise TypeError("rate must be a Decimal")
        _check_rounding(rounding)
        product = (Decimal(self.amount_minor) * rate).to_integral_value(rounding=rounding)
        return Money(int(product), self.currency)

    def allocate(self, weights: Sequence[int]) -> list[Money]:
        """Split into parts proportional to ``weights`` without creating or losing a minor unit.

        Remainders go one unit at a time to the earliest parts, so the parts always sum to
        ``self``. Weights are non-negative ints with a positive sum.
        """
        if not weights or any(type(w) is not int or w < 0 for w in weights) or sum(weights) <= 0:
            raise ValueError("weights must be non-negative ints with a positive sum")
        total_weight = sum(weights)
        sign = -1 if self.amount_minor < 0 else 1
        magnitude = abs(self.amount_minor)
        shares = [magnitude * weight // total_weight for weight in weights]
        remainder = magnitude - sum(shares)
        for index in range(remainder):
            shares[index % len(shares)] += 1
        return [Money(sign * share, self.currency) for share in shares]


#: The slots' own setters (what ``object.__setattr__`` finds by name, without the search).
_set_amount_minor: Final = Money.__dict__["amount_minor"].__set__
_set_currency: Final = Money.__dict__["currency"].__set__
#: Currency codes ``currency_info`` accepted (at most the ISO 4217 list's).
_CHECKED_CODES: Final[set[str]] = set()


def _check_rounding(rounding: str) -> None:
    if rounding not in ROUNDING_MODES:
        raise ValueError(f"unknown rounding mode {rounding!r}")


def _babel_locale(locale: str) -> str:
    normalized = locale.replace("-", "_").lower()
    if normalized.startswith("zh"):
        return "zh_Hans_CN"
    return "en_US" if normalized in {"en", "en_us"} else locale.replace("-", "_")


def _format(amount: Decimal, currency: str, exponent: int, babel_locale: str) -> str:
    # The locale's pattern decides symbol placement and grouping; ISO 4217 decides the number
    # of decimal places (CLDR's own "digits" differ from ISO for some currencies).
    locale = Locale.parse(babel_locale)
    pattern = parse_pattern(locale.currency_formats["standard"])
    pattern.frac_prec = (exponent, exponent)
    return str(pattern.apply(amount, locale, currency=currency, currency_digits=False))
