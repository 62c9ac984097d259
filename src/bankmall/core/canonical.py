"""Canonical JSON: one byte string per value, so digests and signatures are reproducible."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from decimal import Decimal
from typing import Any, Final

from bankmall.core.money import Money

#: Types that are their own JSON value (exact types only: a subclass takes the general path).
_PLAIN: Final = frozenset({str, int, bool, type(None)})
#: ``json.dumps`` builds a new encoder on every call with arguments; one instance gives the
#: same bytes (it keeps no state between calls) without that cost.
_CANONICAL_ENCODER: Final = json.JSONEncoder(
    sort_keys=True, separators=(",", ":"), ensure_ascii=False
)


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
    return _CANONICAL_ENCODER.encode(to_jsonable(value)).encode("utf-8")


def digest(value: Any) -> str:
    """SHA-256 hex digest of the canonical JSON of ``value``; empty string for ``None``."""
    if value is None:
        return ""
    return hashlib.sha256(canonical_json(value)).hexdigest()
