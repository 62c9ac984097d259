"""Opaque, prefixed public identifiers (``cus_01jd…``).

An id is a type prefix, an underscore and 26 Crockford base32 characters encoding 128 bits: a
48-bit millisecond timestamp followed by 80 random bits (the ULID layout). Ids are therefore
unguessable, sort by creation time (which keeps B-tree inserts local and makes cursor
pagination by id stable), and reveal no counts. Sequential database keys never leave the
process.
"""

from __future__ import annotations

import os
import re
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
#: The timestamp's 50 bits (two leading zeros and 48 bits) as 5 pairs = the first 10 characters:
#: the first four pairs from its bits above the lowest ten (``_high_characters``), then those ten.
_HIGH_SHIFTS: Final = (30, 20, 10, 0)
#: The random part, 16 characters of 5 random bits each (80 bits): a random byte's low five
#: bits name the character (256 is a multiple of 32, so each character is equally likely), so
#: a chunk of random bytes becomes characters in one ``bytes.translate``.
_RANDOM_CHARACTERS: Final = bytes(_ALPHABET.encode()[byte & 31] for byte in range(256))
_RANDOM_LENGTH: Final = 16
#: Random bytes read from the operating system at once: one system call per 256 ids.
_RANDOM_CHUNK: Final = 4096
#: Prefixes known to be valid, so ``new_id`` runs its pattern once per prefix (bounded: the
#: prefixes are the code's constants).
_CHECKED_PREFIXES: Final[set[str]] = set()
_CHECKED_PREFIXES_MAX: Final = 64


#: Unused random parts (16 characters each) cut from one chunk of ``os.urandom`` bytes. Each
#: is taken by one ``list.pop`` (atomic), so no two ids, in any threads, share one; a thread
#: that finds the list empty cuts a new chunk of its own. A forked child starts with none (see
#: ``os.register_at_fork`` below), so processes forked from one parent never share them.
_random_parts: list[str] = []
os.register_at_fork(after_in_child=_random_parts.clear)


def _new_random_parts() -> str:
    """Cut a new chunk into random parts: keep all but one, return that one."""
    text = os.urandom(_RANDOM_CHUNK).translate(_RANDOM_CHARACTERS).decode("ascii")
    parts = list(map(text.__getitem__, _RANDOM_SLICES))
    part = parts.pop()
    _random_parts.extend(parts)
    return part


_RANDOM_SLICES: Final = tuple(
    slice(start, start + _RANDOM_LENGTH) for start in range(0, _RANDOM_CHUNK, _RANDOM_LENGTH)
)


#: The timestamp's first eight characters (its bits above the lowest ten, which change about
#: once a second) and their value: ids made in the same second share them.
_last_high: tuple[int, str] = (-1, "")


def _high_characters(high: int) -> tuple[int, str]:
    """``high`` (a timestamp shifted right by ten bits) as its eight characters, remembered."""
    global _last_high  # noqa: PLW0603 (a one-entry cache; a tuple is replaced atomically)
    value = high & ((1 << 38) - 1)
    _last_high = (high, "".join([_PAIRS[(value >> shift) & 1023] for shift in _HIGH_SHIFTS]))
    return _last_high


def new_id(prefix: str, *, now_ms: int | None = None) -> str:
    """Return a new public id with ``prefix`` (2-5 lower-case letters, e.g. ``"cus"``)."""
    if prefix not in _CHECKED_PREFIXES:
        if not _PREFIX_PATTERN.match(prefix):
            raise ValueError(f"id prefix must be 2-5 lower-case letters, not {prefix!r}")
        if len(_CHECKED_PREFIXES) < _CHECKED_PREFIXES_MAX:
            _CHECKED_PREFIXES.add(prefix)
    timestamp_ms = time.time_ns() // 1_000_000 if now_ms is None else now_ms
    high = timestamp_ms >> 10
    last = _last_high
    if last[0] != high:
        last = _high_characters(high)
    try:
        random_part = _random_parts.pop()
    except IndexError:
        random_part = _new_random_parts()
    return f"{prefix}_{last[1]}{_PAIRS[timestamp_ms & 1023]}{random_part}"


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
