"""Masked forms of personal data for templates, logs, the admin and the API.

Each function returns a string that never contains the full value: at most the few characters
people use to recognise their own data (the last four digits of a card, the first three and
last four of a mobile number). Unknown or short input masks completely.
"""

from __future__ import annotations

from typing import Final

MASK: Final = "•"
CARD_VISIBLE: Final = 4
SHORTEST_CARD: Final = 12
PHONE_HEAD: Final = 3
PHONE_TAIL: Final = 4
SHORTEST_PHONE: Final = 8
ID_HEAD: Final = 1
ID_TAIL: Final = 1
SHORTEST_ID: Final = 6


def _digits(value: str) -> str:
    return "".join(character for character in value if character.isdigit())


def mask_card_number(value: str) -> str:
    """``•••• •••• •••• 1234``; a value too short to be a card number masks completely."""
    digits = _digits(value)
    if len(digits) < SHORTEST_CARD:
        return MASK * 4
    return f"{MASK * 4} {MASK * 4} {MASK * 4} {digits[-CARD_VISIBLE:]}"


def mask_phone(value: str) -> str:
    """``138••••5678`` for an 11-digit mobile number; short values mask completely."""
    digits = _digits(value)
    if len(digits) < SHORTEST_PHONE:
        return MASK * 4
    hidden = len(digits) - PHONE_HEAD - PHONE_TAIL
    return digits[:PHONE_HEAD] + MASK * hidden + digits[-PHONE_TAIL:]


def mask_email(value: str) -> str:
    """``z•••@example.com``: the first character of the local part and the domain."""
    local, at, domain = value.strip().partition("@")
    if not at or not local or not domain:
        return MASK * 4
    return f"{local[0]}{MASK * 3}@{domain}"


def mask_national_id(value: str) -> str:
    """``1••••••••••••••••X``: first and last character of an identity document number."""
    text = value.strip()
    if len(text) < SHORTEST_ID:
        return MASK * 4
    return text[:ID_HEAD] + MASK * (len(text) - ID_HEAD - ID_TAIL) + text[-ID_TAIL:]


def mask_text(value: str) -> str:
    """Names and addresses: the first character, the rest hidden."""
    text = value.strip()
    if len(text) < 2:  # noqa: PLR2004
        return MASK * 2
    return text[0] + MASK * min(len(text) - 1, 8)
