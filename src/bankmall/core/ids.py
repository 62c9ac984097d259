"""Opaque, prefixed public identifiers (``cus_01jd…``).

An id is a type prefix, an underscore and 26 Crockford base32 characters encoding 128 bits: a
48-bit millisecond timestamp followed by 80 random bits (the ULID layout). Ids are therefore
unguessable, sort by creation time (which keeps B-tree inserts local and makes cursor
pagination by id stable), and reveal no counts. Sequential database keys never leave the
process.
"""

from __future__ import annotations

import re
import secrets
import time
from typing import Final

from bankmall.core.errors import NotFound

_ALPHABET: Final = "0123456789abcdefghjkmnpqrstvwxyz"
_BODY_LENGTH: Final = 26
_PREFIX_PATTERN: Final = re.compile(r"^[a-z]{2,5}$")
_BODY_PATTERN: Final = re.compile(rf"^[{_ALPHABET}]{{{_BODY_LENGTH}}}$")
ID_MAX_LENGTH: Final = 5 + 1 + _BODY_LENGTH


#: Every 10-bit value as its two characters, most significant first.
_PAIRS: Final = tuple(high + low for high in _ALPHABET for low in _ALPHABET)
_PAIR_SHIFTS: Final = tuple(range(120, -1, -10))  # 13 pairs = 26 characters = 130 bits
_CHECKED_PREFIXES: set[str] = set()


def _encode(value: int) -> str:
    return "".join([_PAIRS[(value >> shift) & 1023] for shift in _PAIR_SHIFTS])


def new_id(prefix: str, *, now_ms: int | None = None) -> str:
    """Return a new public id with ``prefix`` (2-5 lower-case letters, e.g. ``"cus"``)."""
    if prefix not in _CHECKED_PREFIXES:
        if not _PREFIX_PATTERN.match(prefix):
            raise ValueError(f"id prefix must be 2-5 lower-case letters, not {prefix!r}")
        _CHECKED_PREFIXES.add(prefix)  # A ledger batch makes a thousand ids: check once.
    timestamp_ms = time.time_ns() // 1_000_000 if now_ms is None else now_ms
    value = ((timestamp_ms & ((1 << 48) - 1)) << 80) | secrets.randbits(80)
    return f"{prefix}_{_encode(value)}"


def is_valid_id(prefix: str, value: object) -> bool:
    """True when ``value`` is syntactically an id of type ``prefix``."""
    if not isinstance(value, str) or not value.startswith(prefix + "_"):
        return False
    return bool(_BODY_PATTERN.match(value[len(prefix) + 1 :]))


def require_id(prefix: str, value: object) -> str:
    """Return ``value`` if it is an id of type ``prefix``; otherwise raise ``NotFound``.

    A malformed id is answered exactly like an unknown one, so ids cannot be probed.
    """
    if not is_valid_id(prefix, value):
        raise NotFound(f"No such {prefix} object")
    assert isinstance(value, str)
    return value
