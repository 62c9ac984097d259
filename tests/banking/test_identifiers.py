"""Identifiers: national ids, credit codes, account and card numbers, masking."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable

import pytest
from django.utils import translation
from stdnum import luhn
from stdnum.iso7064 import mod_97_10

from bankmall.banking import identifiers
from bankmall.banking.errors import InvalidIdentifier


def test_resident_id_with_a_valid_check_character_is_returned_compact() -> None:
    assert identifiers.validate_resident_id(" 11010519491231002x ") == "11010519491231002X"


def test_resident_id_gives_its_birth_date() -> None:
    assert identifiers.resident_id_birth_date("360426199101010071") == dt.date(1991, 1, 1)


@pytest.mark.parametrize(
    "number",
    [
        "360426199101010072",  # wrong check character
        "360426199113010071",  # month 13
        "36042619910101007",  # too short
        "",
        None,
        12345,
    ],
)
def test_resident_id_that_fails_its_checks_is_refused(number: object) -> None:
    with pytest.raises(InvalidIdentifier) as raised:
        identifiers.validate_resident_id(number)
    assert raised.value.code == "invalid_identifier"
    assert raised.value.errors[0].field == "national_id"


def test_unified_social_credit_code_is_checked() -> None:
    assert identifiers.validate_credit_code("91110000600037341L") == "91110000600037341L"
    with pytest.raises(InvalidIdentifier):
        identifiers.validate_credit_code("91110000600037341M")


def test_account_number_has_bank_code_branch_serial_and_mod97_check_digits() -> None:
    number = identifiers.make_account_number(branch=12, serial=345)
    assert number == "8801" + "0012" + "0000000345" + number[-2:]
    assert len(number) == identifiers.ACCOUNT_NUMBER_LENGTH
    assert mod_97_10.is_valid(number)
    assert identifiers.validate_account_number(identifiers.format_account_number(number)) == number


def test_every_single_digit_error_in_an_account_number_is_detected() -> None:
    number = identifiers.make_account_number(branch=1, serial=987654321)
    for position in range(len(number)):
        for digit in "0123456789":
            if digit == number[position]:
                continue
            typo = number[:position] + digit + number[position + 1 :]
            assert not identifiers.is_account_number(typo), typo


def test_account_number_of_another_bank_is_refused() -> None:
    body = "6222" + "0001" + "0000000001"
    other_bank = body + mod_97_10.calc_check_digits(body)
    with pytest.raises(InvalidIdentifier, match="Not an account number of this bank"):
        identifiers.validate_account_number(other_bank)


def test_card_number_is_in_the_bank_bin_with_a_luhn_check_digit() -> None:
    number = identifiers.make_card_number(serial=123)
    assert number.startswith(identifiers.CARD_BIN)
    assert len(number) == identifiers.CARD_NUMBER_LENGTH
    assert luhn.is_valid(number)
    assert identifiers.card_last_four(number) == number[-4:]


def test_card_number_with_a_wrong_check_digit_or_foreign_bin_is_refused() -> None:
    number = identifiers.make_card_number(serial=123)
    wrong = number[:-1] + str((int(number[-1]) + 1) % 10)
    with pytest.raises(InvalidIdentifier, match="check digit"):
        identifiers.validate_card_number(wrong)
    foreign = "411111111111111" + luhn.calc_check_digit("411111111111111")
    with pytest.raises(InvalidIdentifier, match="issued by this bank"):
        identifiers.validate_card_number(foreign)


def test_generators_refuse_numbers_that_do_not_fit() -> None:
    with pytest.raises(ValueError, match="serial"):
        identifiers.make_account_number(branch=1, serial=10**10)
    with pytest.raises(ValueError, match="branch"):
        identifiers.make_account_number(branch=10_000, serial=1)
    with pytest.raises(ValueError, match="serial"):
        identifiers.make_card_number(serial=-1)


def test_masks_never_show_the_full_number() -> None:
    account = identifiers.make_account_number(branch=1, serial=42)
    card = identifiers.make_card_number(serial=42)
    assert identifiers.mask_account_number(account) == "•••• " + account[-4:]
    assert identifiers.mask_card_number(card) == f"629988•• •••• {card[-4:]}"
    assert identifiers.mask_account_number("123") == "••••"
    assert identifiers.mask_card_number("1234") == "••••"


@pytest.mark.parametrize(
    ("validate", "value", "english", "chinese"),
    [
        (
            identifiers.validate_resident_id,
            "360426199101010072",
            "Not a valid mainland resident ID number.",
            "不是有效的中国大陆居民身份证号码。",
        ),
        (
            identifiers.validate_credit_code,
            "91110000600037341M",
            "Not a valid unified social credit code.",
            "不是有效的统一社会信用代码。",
        ),
        (
            identifiers.validate_account_number,
            "8801",
            "An account number has 20 digits.",
            "账号为 20 位数字。",
        ),
        (
            identifiers.validate_account_number,
            "88010001000000009999",
            "The account number's check digits do not match.",
            "账号的校验位不符。",
        ),
        (
            identifiers.validate_card_number,
            "6299",
            "A card number of this bank has 16 digits.",
            "本行卡号为 16 位数字。",
        ),
        (
            identifiers.validate_card_number,
            "4111111111111111",
            "Not a card number issued by this bank.",
            "不是本行发行的卡号。",
        ),
        (
            identifiers.validate_card_number,
            identifiers.make_card_number(serial=123)[:-1] + "0",
            "The card number's check digit does not match.",
            "卡号的校验位不符。",
        ),
    ],
)
def test_identifier_messages_are_written_in_the_active_language(
    validate: Callable[[object], str], value: str, english: str, chinese: str
) -> None:
    with pytest.raises(InvalidIdentifier) as in_english:
        validate(value)
    with translation.override("zh-hans"), pytest.raises(InvalidIdentifier) as in_chinese:
        validate(value)
    assert (in_english.value.detail, in_english.value.errors[0].message) == (english, english)
    assert (in_chinese.value.detail, in_chinese.value.errors[0].message) == (chinese, chinese)
    assert in_chinese.value.title == "The number is not valid"  # problem+json stays English
