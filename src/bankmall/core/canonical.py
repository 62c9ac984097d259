"""Canonical JSON: one byte string per value, so digests and signatures are reproducible."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from collections.abc import Callable, Sequence
from decimal import Decimal
from json import encoder as json_encoder
from typing import Any, Final

from bankmall.core.money import Money

#: Types that are their own JSON value (exact types only: a subclass takes the general path).
_PLAIN: Final = frozenset({str, int, bool, type(None)})


def _one_shot(encoder: json.JSONEncoder) -> Callable[[Any, int], Sequence[str]]:
    """The C encoder that ``encoder.encode`` makes anew on every call (``iterencode`` with
    ``_one_shot``, ~10k instructions with its Python frames), made once: the same code with
    the same options, so the same text. Without circular-reference markers, which a shared
    encoder cannot keep: it is only given what ``to_jsonable`` returns (new containers, no
    cycles)."""
    make = getattr(json_encoder, "c_make_encoder", None)  # Not in typeshed.
    if make is None:  # pragma: no cover (CPython has the accelerator)
        return lambda value, _level: list(encoder.iterencode(value, _one_shot=True))
    strings = (
        json_encoder.encode_basestring_ascii
        if encoder.ensure_ascii
        else json_encoder.encode_basestring
    )
    return make(  # type: ignore[no-any-return]
        None,
        encoder.default,
        strings,
        encoder.indent,
        encoder.key_separator,
        encoder.item_separator,
        encoder.sort_keys,
        encoder.skipkeys,
        encoder.allow_nan,
    )


#: Sorted keys, no spaces, UTF-8 (``canonical_json``).
_CANONICAL: Final = _one_shot(
    json.JSONEncoder(sort_keys=True, separators=(",", ":"), ensure_ascii=False)
)
#: ``json.dumps``'s default options (``stored_json``).
_STORED: Final = _one_shot(json.JSONEncoder())


def to_jsonable(value: Any) -> Any:
    """Turn money, decimals, dates and containers into plain JSON values.

    ``Money`` becomes ``{"amount": int, "currency": str}`` (API.md), ``Decimal`` a string
    (never a float), aware datetimes RFC 3339 UTC strings and dates ``YYYY-MM-DD``.
    """
    kind = type(value)
    # The common shapes first, by exact type: this runs for every audit record and event.
    if kind in _PLAIN:
        return value
    if kind is dict:
        return _dict_to_jsonable(value)
    if kind is list:
        return _list_to_jsonable(value)
    if kind is dt.datetime:  # Every audit record's time.
        return _datetime_to_jsonable(value)
    return _scalar_to_jsonable(value)


def _dict_to_jsonable(value: dict[Any, Any]) -> dict[str, Any]:
    # Plain items are taken as they are, without a call each (``str`` of a ``str`` is itself).
    return {
        (key if type(key) is str else str(key)): (
            item if type(item) in _PLAIN else to_jsonable(item)
        )
        for key, item in value.items()
    }


def _list_to_jsonable(value: list[Any] | tuple[Any, ...]) -> list[Any]:
    return [item if type(item) in _PLAIN else to_jsonable(item) for item in value]


def _scalar_to_jsonable(value: Any) -> Any:
    if isinstance(value, Money):
        return {"amount": value.amount_minor, "currency": value.currency}
    if isinstance(value, bool | int | str):
        return value
    if isinstance(value, float):
        raise TypeError("floats are not allowed in canonical JSON; use int or Decimal")
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, dt.datetime):
        return _datetime_to_jsonable(value)
    if isinstance(value, dt.date):
        return value.isoformat()
    return _container_to_jsonable(value)


def _datetime_to_jsonable(value: dt.datetime) -> str:
    if value.tzinfo is None:
        raise TypeError("naive datetimes are not allowed; store UTC")
    return value.astimezone(dt.UTC).isoformat().replace("+00:00", "Z")


def _container_to_jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        return _dict_to_jsonable(value)
    if isinstance(value, list | tuple):
        return _list_to_jsonable(value)
    raise TypeError(f"{type(value).__name__} is not JSON-serialisable here")


def canonical_json(value: Any) -> bytes:
    """Sorted keys, no spaces, UTF-8: the same value always gives the same bytes."""
    return "".join(_CANONICAL(to_jsonable(value), 0)).encode()


def canonical_text(value: Any, *, jsonable: bool = False) -> str:
    """``canonical_json`` before its UTF-8 encoding. ``jsonable``: ``value`` is already what
    ``to_jsonable`` returns (plain JSON values, as stored details are), so it is encoded
    without converting it again; a value that is not raises ``TypeError``."""
    return "".join(_CANONICAL(value if jsonable else to_jsonable(value), 0))


def datetime_text(value: dt.datetime) -> str:
    """How ``to_jsonable`` writes an aware datetime (RFC 3339, UTC, ``Z``)."""
    return _datetime_to_jsonable(value)


#: How the encoders quote a string (``canonical_json``'s, non-ASCII kept).
quoted: Final = json_encoder.encode_basestring


def stored_json(value: Any) -> str:
    """``json.dumps(value)`` for a ``value`` that ``to_jsonable`` returned: how audit details
    and event payloads are stored (ASCII, ``", "`` and ``": "``, keys in their order)."""
    return "".join(_STORED(value, 0))


def digest(value: Any) -> str:
    """SHA-256 hex digest of the canonical JSON of ``value``; empty string for ``None``."""
    if value is None:
        return ""
    return hashlib.sha256(canonical_json(value)).hexdigest()
