"""The card vault: card numbers go in, only a token and the last four digits come out.

The number is stored encrypted (AES-256-GCM) with a blind index, so the same card always maps
to the same token without the number ever being compared in clear. ``reveal_card_number`` is
for the payment rails only and is audited on every call.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

from django.db import transaction
from django.utils import timezone

from bankmall.core.audit import record_audit
from bankmall.core.errors import FieldError, InvalidInput, NotFound
from bankmall.core.ids import require_id
from bankmall.security.crypto import normalise_digits, search_hash
from bankmall.security.models import VaultedCard

CARD_DIGITS_MIN: Final = 12
CARD_DIGITS_MAX: Final = 19
MONTHS: Final = 12
YEAR_MIN: Final = 2000
YEAR_MAX: Final = 2100


@dataclass(frozen=True, slots=True)
class CardReference:
    """All that leaves the vault: the token and the last four digits."""

    token: str
    last_four: str
    expiry_month: int
    expiry_year: int


def passes_luhn(digits: str) -> bool:
    total = 0
    for position, character in enumerate(reversed(digits)):
        value = int(character)
        if position % 2 == 1:
            value = value * 2 - 9 if value > 4 else value * 2  # noqa: PLR2004
        total += value
    return total % 10 == 0


def _validate(number: str, expiry_month: int, expiry_year: int) -> str:
    digits = normalise_digits(number)
    problems = []
    if not digits.isdigit() or not CARD_DIGITS_MIN <= len(digits) <= CARD_DIGITS_MAX:
        problems.append(FieldError("number", "must be 12 to 19 digits"))
    elif not passes_luhn(digits):
        problems.append(FieldError("number", "is not a valid card number"))
    if not 1 <= expiry_month <= MONTHS:
        problems.append(FieldError("expiry_month", "must be 1 to 12"))
    if not YEAR_MIN <= expiry_year <= YEAR_MAX:
        problems.append(FieldError("expiry_year", "must be a four-digit year"))
    if problems:
        raise InvalidInput("; ".join(f"{p.field} {p.message}" for p in problems), errors=problems)
    return digits


def _reference(card: VaultedCard) -> CardReference:
    return CardReference(
        token=card.token,
        last_four=card.last_four,
        expiry_month=card.expiry_month,
        expiry_year=card.expiry_year,
    )


def vault_card(*, number: str, expiry_month: int, expiry_year: int, actor: str) -> CardReference:
    """Store a card number (or find it) and return its token and last four digits.

    Errors: ``validation_error`` for a malformed number or expiry (nothing is stored).
    Effects: at most one ``VaultedCard`` per number; audit ``security.card_vaulted`` with the
    token only.
    """
    digits = _validate(number, expiry_month, expiry_year)
    index = search_hash(VaultedCard, "number_index", digits)
    with transaction.atomic():
        card = VaultedCard.objects.select_for_update().filter(number_index=index).first()
        if card is None:
            card = VaultedCard.objects.create(
                number=digits,
                last_four=digits[-4:],
                expiry_month=expiry_month,
                expiry_year=expiry_year,
                created_at=timezone.now(),
            )
        elif (card.expiry_month, card.expiry_year) != (expiry_month, expiry_year):
            card.expiry_month, card.expiry_year = expiry_month, expiry_year
            card.save(update_fields=["expiry_month", "expiry_year"])
        record_audit("security.card_vaulted", target=card.token, actor=actor)
    return _reference(card)


def card_reference(token: str) -> CardReference:
    """The token's reference (never the number). Errors: ``not_found``."""
    require_id("card", token)
    card = VaultedCard.objects.filter(token=token).first()
    if card is None:
        raise NotFound("No such card")
    return _reference(card)


def reveal_card_number(token: str, *, purpose: str, actor: str) -> str:
    """The full card number, for sending to a card network. Audited with ``purpose``.

    Errors: ``not_found``.
    """
    require_id("card", token)
    with transaction.atomic():
        card = VaultedCard.objects.filter(token=token).first()
        if card is None:
            raise NotFound("No such card")
        record_audit(
            "security.card_number_revealed",
            target=card.token,
            details={"purpose": purpose},
            actor=actor,
        )
    return str(card.number)
