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
import threading
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
#: The timestamp's 50 bits (two leading zeros and 48 bits) as 5 pairs = the first 10 characters.
_TIMESTAMP_SHIFTS: Final = (40, 30, 20, 10, 0)
#: The random part, 16 characters of 5 random bits each (80 bits): a random byte's low five
#: bits name the character (256 is a multiple of 32, so each character is equally likely), so
#: 16 random bytes become the characters in one ``bytes.translate``.
_RANDOM_CHARACTERS: Final = bytes(_ALPHABET.encode()[byte & 31] for byte in range(256))
_RANDOM_LENGTH: Final = 16
#: Random bytes read from the operating system at once: one system call per 256 ids.
_RANDOM_CHUNK: Final = 4096


class _Randomness(threading.local):
    """This thread's unread bytes from ``os.urandom``. A forked child starts without any (see
    ``os.register_at_fork`` below), so processes forked from one parent never share them."""

    def __init__(self) -> None:
        self.buffer = b""
        self.position = 0
        self.generation = _forks[0]

    def characters(self) -> str:
        if self.generation != _forks[0]:
            self.buffer, self.position, self.generation = b"", 0, _forks[0]
        start, end = self.position, self.position + _RANDOM_LENGTH
        if end > len(self.buffer):
            self.buffer, start, end = os.urandom(_RANDOM_CHUNK), 0, _RANDOM_LENGTH
        self.position = end
        return self.buffer[start:end].translate(_RANDOM_CHARACTERS).decode("ascii")


_forks = [0]


def _count_fork() -> None:
    _forks[0] += 1


os.register_at_fork(after_in_child=_count_fork)
_randomness = _Randomness()
#: The last timestamp encoded and its characters: ids made in the same millisecond share them.
_last_timestamp: tuple[int, str] = (-1, "")


def _timestamp_characters(timestamp_ms: int) -> str:
    global _last_timestamp  # noqa: PLW0603 (a one-entry cache; a tuple is replaced atomically)
    last = _last_timestamp
    if last[0] == timestamp_ms:
        return last[1]
    value = timestamp_ms & ((1 << 48) - 1)
    characters = "".join([_PAIRS[(value >> shift) & 1023] for shift in _TIMESTAMP_SHIFTS])
    _last_timestamp = (timestamp_ms, characters)
    return characters


def new_id(prefix: str, *, now_ms: int | None = None) -> str:
    """Return a new public id with ``prefix`` (2-5 lower-case letters, e.g. ``"cus"``)."""
    if not _PREFIX_PATTERN.match(prefix):
        raise ValueError(f"id prefix must be 2-5 lower-case letters, not {prefix!r}")
    timestamp_ms = time.time_ns() // 1_000_000 if now_ms is None else now_ms
    return f"{prefix}_{_timestamp_characters(timestamp_ms)}{_randomness.characters()}"


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
