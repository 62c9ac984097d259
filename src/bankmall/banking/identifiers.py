"""Identifiers the bank issues or checks, with their check digits.

- Mainland resident identity card numbers (GB 11643-1999, 18 characters, ISO 7064 MOD 11-2
  check character) and unified social credit codes (GB 32100-2015, 18 characters) are checked
  with python-stdnum (``stdnum.cn.ric``, ``stdnum.cn.uscc``).
- Deposit account numbers are 20 digits: the bank code ``8801``, a 4-digit branch, a 10-digit
  serial and two ISO 7064 MOD 97-10 check digits (the IBAN algorithm), so any single wrong
  digit and almost every swap of two digits is detected.
- Debit card numbers are 16 digits in the demo bank's issuer range (BIN ``629988``), a 9-digit
  serial and a Luhn check digit (ISO/IEC 7812).

Every ``validate_*`` function returns the compact form (spaces and dashes removed, letters
upper-cased) or raises ``InvalidIdentifier``. Masking helpers never return the full number.
"""

from __future__ import annotations

import datetime as dt
from typing import Final

from django.utils.translation import gettext
from stdnum import luhn
from stdnum.cn import ric, uscc
from stdnum.exceptions import ValidationError
from stdnum.iso7064 import mod_97_10

from bankmall.banking.errors import InvalidIdentifier
from bankmall.core.errors import FieldError

BANK_CODE: Final = "8801"
BRANCH_DIGITS: Final = 4
ACCOUNT_SERIAL_DIGITS: Final = 10
ACCOUNT_NUMBER_LENGTH: Final = len(BANK_CODE) + BRANCH_DIGITS + ACCOUNT_SERIAL_DIGITS + 2

CARD_BIN: Final = "629988"
CARD_SERIAL_DIGITS: Final = 9
CARD_NUMBER_LENGTH: Final = len(CARD_BIN) + CARD_SERIAL_DIGITS + 1

MASK: Final = "•"
VISIBLE_DIGITS: Final = 4


def _compact(value: object) -> str:
    if not isinstance(value, str):
        return ""
    return "".join(value.split()).replace("-", "").upper()


def _invalid(field: str, message: str) -> InvalidIdentifier:
    return InvalidIdentifier(message, errors=[FieldError(field=field, message=message)])


# ---------------------------------------------------------------- people and companies


def validate_resident_id(value: object, *, field: str = "national_id") -> str:
    """Return the 18-character mainland resident ID number, or raise ``InvalidIdentifier``.

    Checks the length, the characters, the birth date and the check character.
    """
    number = _compact(value)
    try:
        return str(ric.validate(number))
    except ValidationError:
        raise _invalid(field, gettext("Not a valid mainland resident ID number.")) from None


def resident_id_birth_date(number: str) -> dt.date:
    """The date of birth written into a valid resident ID number."""
    return ric.get_birth_date(validate_resident_id(number))


def validate_credit_code(value: object, *, field: str = "national_id") -> str:
    """Return the 18-character unified social credit code, or raise ``InvalidIdentifier``."""
    number = _compact(value)
    try:
        return str(uscc.validate(number))
    except ValidationError:
        raise _invalid(field, gettext("Not a valid unified social credit code.")) from None


# ---------------------------------------------------------------- deposit accounts


def make_account_number(*, branch: int, serial: int) -> str:
    """Build the account number for ``serial`` at ``branch`` with its MOD 97-10 check digits."""
    if not 0 <= branch < 10**BRANCH_DIGITS:
        raise ValueError(f"branch must have at most {BRANCH_DIGITS} digits, not {branch}")
    if not 0 <= serial < 10**ACCOUNT_SERIAL_DIGITS:
        raise ValueError(f"serial must have at most {ACCOUNT_SERIAL_DIGITS} digits, not {serial}")
    body = f"{BANK_CODE}{branch:0{BRANCH_DIGITS}d}{serial:0{ACCOUNT_SERIAL_DIGITS}d}"
    return body + mod_97_10.calc_check_digits(body)


def validate_account_number(value: object, *, field: str = "account_number") -> str:
    """Return the 20-digit account number of this bank, or raise ``InvalidIdentifier``."""
    number = _compact(value)
    if len(number) != ACCOUNT_NUMBER_LENGTH or not number.isdigit():
        message = gettext("An account number has %(count)d digits.")
        raise _invalid(field, message % {"count": ACCOUNT_NUMBER_LENGTH})
    if not number.startswith(BANK_CODE):
        raise _invalid(field, gettext("Not an account number of this bank."))
    if not mod_97_10.is_valid(number):
        raise _invalid(field, gettext("The account number's check digits do not match."))
    return number


def is_account_number(value: object) -> bool:
    """True when ``value`` is a well-formed account number of this bank."""
    try:
        validate_account_number(value)
    except InvalidIdentifier:
        return False
    return True


def format_account_number(number: str) -> str:
    """Groups of four digits, as printed on statements: ``8801 0001 0000 0000 1234``."""
    return " ".join(number[index : index + 4] for index in range(0, len(number), 4))


def mask_account_number(value: str) -> str:
    """``•••• 1234``: the last four digits only; anything shorter masks completely."""
    digits = "".join(character for character in value if character.isdigit())
    if len(digits) <= VISIBLE_DIGITS:
        return MASK * VISIBLE_DIGITS
    return f"{MASK * 4} {digits[-VISIBLE_DIGITS:]}"


# ---------------------------------------------------------------- debit cards


def make_card_number(*, serial: int) -> str:
    """Build the card number for ``serial`` in the bank's BIN with its Luhn check digit."""
    if not 0 <= serial < 10**CARD_SERIAL_DIGITS:
        raise ValueError(f"serial must have at most {CARD_SERIAL_DIGITS} digits, not {serial}")
    body = f"{CARD_BIN}{serial:0{CARD_SERIAL_DIGITS}d}"
    return body + luhn.calc_check_digit(body)


def validate_card_number(value: object, *, field: str = "card_number") -> str:
    """Return the 16-digit card number issued by this bank, or raise ``InvalidIdentifier``."""
    number = _compact(value)
    if len(number) != CARD_NUMBER_LENGTH or not number.isdigit():
        message = gettext("A card number of this bank has %(count)d digits.")
        raise _invalid(field, message % {"count": CARD_NUMBER_LENGTH})
    if not number.startswith(CARD_BIN):
        raise _invalid(field, gettext("Not a card number issued by this bank."))
    if not luhn.is_valid(number):
        raise _invalid(field, gettext("The card number's check digit does not match."))
    return number


def card_last_four(number: str) -> str:
    """The last four digits, the only part of a card number kept outside the vault."""
    return validate_card_number(number)[-VISIBLE_DIGITS:]


def mask_card_number(value: str) -> str:
    """``629988•• •••• 1234``: issuer BIN and last four, as ISO/IEC 7812 and PCI DSS allow."""
    digits = "".join(character for character in value if character.isdigit())
    if len(digits) != CARD_NUMBER_LENGTH:
        return MASK * VISIBLE_DIGITS
    return f"{digits[:6]}{MASK * 2} {MASK * 4} {digits[-VISIBLE_DIGITS:]}"
