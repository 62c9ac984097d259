"""Field encryption, blind indexes, masking, the card vault and key rotation."""

from __future__ import annotations

import pytest
from django.db import connection
from hypothesis import given
from hypothesis import strategies as st

from bankmall.core.errors import InvalidInput, NotFound
from bankmall.core.models import AuditRecord
from bankmall.security import crypto
from bankmall.security.crypto import DecryptionFailed, decrypt, encrypt, key_id_of
from bankmall.security.masking import (
    mask_card_number,
    mask_email,
    mask_national_id,
    mask_phone,
    mask_text,
)
from bankmall.security.models import VaultedCard
from bankmall.security.rotation import rotate_keys
from bankmall.security.vault import card_reference, reveal_card_number, vault_card

CARD = "4111111111111111"


def test_a_value_round_trips_and_names_its_key() -> None:
    stored = encrypt("110101199003074578", context="test.person.national_id")

    assert decrypt(stored, context="test.person.national_id") == "110101199003074578"
    assert key_id_of(stored) == crypto.key_ring().active_key_id
    assert "110101199003074578" not in stored


def test_a_value_moved_to_another_column_does_not_decrypt() -> None:
    stored = encrypt("13812345678", context="test.person.phone")

    with pytest.raises(DecryptionFailed):
        decrypt(stored, context="test.person.email")


def test_a_tampered_value_does_not_decrypt() -> None:
    stored = encrypt("13812345678", context="test.person.phone")
    flipped = stored[:-2] + ("A" if stored[-2] != "A" else "B") + stored[-1]

    with pytest.raises(DecryptionFailed):
        decrypt(flipped, context="test.person.phone")


@pytest.mark.django_db
def test_the_database_column_holds_no_plaintext() -> None:
    reference = vault_card(number=CARD, expiry_month=12, expiry_year=2030, actor="test")

    with connection.cursor() as cursor:
        cursor.execute("SELECT number FROM security_vaultedcard")
        (raw,) = cursor.fetchone()

    assert CARD not in raw
    assert raw.startswith("v1:")
    assert VaultedCard.objects.get(token=reference.token).number == CARD


@pytest.mark.django_db
def test_the_vault_gives_out_only_token_and_last_four_and_dedupes() -> None:
    first = vault_card(number="4111 1111 1111 1111", expiry_month=1, expiry_year=2031, actor="t")
    second = vault_card(number=CARD, expiry_month=1, expiry_year=2031, actor="t")

    assert first == second
    assert first.last_four == "1111"
    assert CARD not in repr(first)
    assert VaultedCard.objects.count() == 1
    assert card_reference(first.token) == first


@pytest.mark.django_db
def test_the_vault_refuses_invalid_numbers_and_stores_nothing() -> None:
    with pytest.raises(InvalidInput) as caught:
        vault_card(number="4111111111111112", expiry_month=13, expiry_year=2031, actor="t")

    assert {error.field for error in caught.value.errors} == {"number", "expiry_month"}
    assert not VaultedCard.objects.exists()


@pytest.mark.django_db
def test_revealing_a_number_is_audited_and_unknown_tokens_are_not_found() -> None:
    reference = vault_card(number=CARD, expiry_month=1, expiry_year=2031, actor="t")

    number = reveal_card_number(reference.token, purpose="card network", actor="payments")

    assert number == CARD
    assert AuditRecord.objects.filter(action="security.card_number_revealed").count() == 1
    with pytest.raises(NotFound):
        reveal_card_number("card_00000000000000000000000000", purpose="x", actor="t")
    with pytest.raises(NotFound):
        card_reference("../../etc/passwd")


@pytest.mark.django_db
def test_key_rotation_re_encrypts_everything_and_values_round_trip(settings: object) -> None:
    reference = vault_card(number=CARD, expiry_month=1, expiry_year=2031, actor="t")
    old_key = crypto.key_ring().active_key_id
    seen: list[tuple[int, int]] = []

    report = rotate_keys(
        new_key=True, batch_size=1, progress=lambda done, total: seen.append((done, total))
    )

    with connection.cursor() as cursor:
        cursor.execute("SELECT number FROM security_vaultedcard")
        (raw,) = cursor.fetchone()
    assert report.new_key_id != old_key
    assert key_id_of(raw) == report.new_key_id
    assert report.rewritten == 1
    assert seen[-1] == (1, 1)
    assert reveal_card_number(reference.token, purpose="t", actor="t") == CARD
    assert (
        rotate_keys(new_key=False, batch_size=10, progress=lambda done, total: None).rewritten == 0
    )


@given(st.text(alphabet="0123456789", min_size=12, max_size=19))
def test_a_masked_card_number_never_contains_the_full_number(number: str) -> None:
    masked = mask_card_number(number)

    assert number not in masked.replace(" ", "")
    assert masked.endswith(number[-4:])


@given(st.text(alphabet="0123456789", min_size=0, max_size=20))
def test_a_masked_phone_number_never_contains_the_full_number(number: str) -> None:
    assert number == "" or number not in mask_phone(number)


def test_masks_keep_only_what_people_recognise() -> None:
    assert mask_card_number(CARD) == "•••• •••• •••• 1111"
    assert mask_phone("13812345678") == "138••••5678"
    assert mask_email("zhang.san@example.com") == "z•••@example.com"
    assert mask_national_id("11010119900307457X") == "1••••••••••••••••X"
    assert mask_text("张三") == "张•"
    assert mask_text("张") == "••"


@pytest.mark.django_db
def test_the_integrity_check_reports_values_that_no_longer_decrypt() -> None:
    from bankmall.security.rotation import field_encryption_problems

    vault_card(number=CARD, expiry_month=1, expiry_year=2031, actor="t")
    assert field_encryption_problems() == []
    with connection.cursor() as cursor:
        cursor.execute("UPDATE security_vaultedcard SET number = 'v1:k99:AAAA'")

    problems = field_encryption_problems()

    assert len(problems) == 1
    assert "no key 'k99'" in problems[0]
